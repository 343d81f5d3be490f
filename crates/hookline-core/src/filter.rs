//! Routing filters: JSON rules matched against what a request carried, in
//! the syntax Hookdeck documents (hookdeck.com/docs/filters), so that users
//! can bring their Hookdeck rules along.
//!
//! A rule is a JSON object over the document [`input`] builds:
//! `{"body": …, "headers": {…}, "query": {…}, "path": "…", "event": …}`.
//! It is parsed once ([`parse`]: operators checked, regexes compiled) and
//! then matched against many requests ([`Filter::matches`]).
//!
//! # Semantics
//! - A plain value (string, number, bool, null) matches an equal value.
//!   Numbers compare by value (`1` equals `1.0`).
//! - An object matches field by field: every key must match the input's
//!   field of that name. A missing field (or a field of something that is
//!   not an object) matches only rules that tolerate absence:
//!   `{"$exist": false}`, `$not` of a rule that needs the field, or an
//!   `$or` with such a branch. `{}` matches any value that is present.
//! - Against an input *array*, a rule that is not an array matches when the
//!   array itself or any one element matches ("array contains", in
//!   Hookdeck's words). An object of fields must match one element as a
//!   whole. In an object of operators each operator is checked on its own:
//!   `{"$gte": 1, "$lt": 10}` matches `[0, 20]` (as in MongoDB).
//! - An *array rule* `[a, b]` matches an input array that contains, for
//!   each of `a` and `b`, an element matching it, in any order: Hookdeck's
//!   "array must contain all the specified values". It never matches a value
//!   that is not an array; exact array equality is `{"$eq": [a, b]}`.
//! - Operators, combinable in one object (all must hold):
//!   `$eq`/`$neq` (deep equality with a literal), `$gt $gte $lt $lte`
//!   (numbers with numbers, strings with strings by code point, which
//!   orders ISO-8601 dates; other pairs never match), `$in`/`$nin` (an
//!   array of literals), `$startsWith`, `$endsWith`, `$contains` (substring,
//!   or an array holding an equal element), `$regex` (the `regex` crate's
//!   syntax, linear time, size-limited), `$exist` (`true`: the field is
//!   present, even as `null`, Hookdeck's "not undefined"), `$or`/`$and` (a
//!   non-empty array of rules) and `$not` (a rule).
//! - Negations are of the whole test, arrays included: `{"$neq": "spam"}`
//!   and `{"$nin": ["spam"]}` reject `["spam", "ok"]`. They still need the
//!   field present; `{"$not": {"$eq": "spam"}}` also matches a missing one.
//! - Keys starting with `$` are operators; an unknown one is an error, so
//!   input fields whose names start with `$` cannot be matched.
//! - The rule's top level names only `body`, `headers`, `query`, `path` and
//!   `event` (a typo is an error rather than a rule that never matches).
//!   Header names in a rule are lower-cased, as in the input.
//!
//! Hookdeck's `$ref` (compare with another field) is not supported, and its
//! `$in` with a string operand (substring test) is written `$contains` here.
//!
//! # Bounds
//! A rule nests at most [`MAX_DEPTH`] levels (literal operands included),
//! checked at parse, so evaluation's recursion is bounded by the rule, never
//! by the input; matching costs at most the rule's size times the input's.
//! Regexes are at most [`MAX_REGEX_LEN`] bytes and compile within
//! [`REGEX_SIZE_LIMIT`].
//!
//! # Error paths
//! [`FilterError::path`] is dotted from the top level, array indices in
//! brackets: `body.amount.$gt`, `$or[1].body.type`; `""` is the rule itself.

use crate::event::{HeaderBytes, Payload};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt;

/// Levels a rule may nest, its top-level object being level 1.
pub const MAX_DEPTH: usize = 32;
/// Longest `$regex` pattern, in bytes.
pub const MAX_REGEX_LEN: usize = 1024;
/// Most memory a compiled `$regex` may take (`RegexBuilder::size_limit`).
/// Unicode classes are what fill it: `\w` takes about 50 KB, so `\w{5}`
/// fits and `\w{6}` does not, while ASCII `(?-u:\w)` takes about 100 bytes.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// What a rule's top level may name: the fields of [`input`]'s document.
pub const FIELDS: [&str; 5] = ["body", "headers", "query", "path", "event"];

/// A parsed rule. Keeps the user's JSON so the API can echo it as written;
/// it serializes back to exactly that JSON.
#[derive(Debug, Clone)]
pub struct Filter {
    raw: Value,
    root: Node,
}

/// A rule that does not parse: where (see the module docs for the path
/// format) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter rule {}: {kind}", Where(.path))]
pub struct FilterError {
    path: String,
    kind: FilterErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterErrorKind {
    #[error("unknown operator `{0}`")]
    UnknownOperator(String),
    #[error("unknown field `{0}`: the top level names body, headers, query, path or event")]
    UnknownField(String),
    /// The operand (or the rule) has the wrong type; says what it expects.
    #[error("expects {0}")]
    Expects(&'static str),
    #[error("regex is longer than {MAX_REGEX_LEN} bytes")]
    RegexTooLong,
    /// The regex crate's message (a syntax error, or too big compiled).
    #[error("invalid regex: {0}")]
    Regex(String),
    #[error("nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl FilterError {
    fn new(path: &str, kind: FilterErrorKind) -> Self {
        FilterError {
            path: path.to_owned(),
            kind,
        }
    }

    /// Where in the rule: `body.amount.$gt`; `""` for the rule itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn kind(&self) -> &FilterErrorKind {
        &self.kind
    }
}

struct Where<'a>(&'a str);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(top level)")
        } else {
            write!(f, "at `{}`", self.0)
        }
    }
}

/// Parses a rule (see the module docs); regexes are compiled here, once.
pub fn parse(rule: &Value) -> Result<Filter, FilterError> {
    let root = parse_node(rule, "", Scope::Root, 1)?;
    Ok(Filter {
        raw: rule.clone(),
        root,
    })
}

impl Filter {
    /// Whether `input` (the document [`input`] builds) passes the rule.
    pub fn matches(&self, input: &Value) -> bool {
        self.root.eval(Some(input))
    }

    /// The rule as the user wrote it.
    pub fn as_json(&self) -> &Value {
        &self.raw
    }
}

/// Two filters are the same rule when they were written the same.
impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// Reading a stored or posted rule parses it, so a `Filter` is always valid.
impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The document a rule is matched against, from a request as received.
///
/// The body is its JSON when it parses as JSON, else its text (invalid
/// UTF-8 replaced). Header names are lower-cased; query parameters are
/// percent-decoded. A name that repeats gets an array of its values, in
/// order, so that a rule's plain value matches any of them. `event` is the
/// classified event tag, `null` when there is none: present either way, so
/// test it with `"event": null` rather than `$exist`.
pub fn input(payload: &Payload, path: &str, event: Option<&str>) -> Value {
    let mut doc = Map::new();
    doc.insert("body".into(), body_value(&payload.body));
    doc.insert("headers".into(), headers_value(&payload.headers));
    doc.insert(
        "query".into(),
        query_value(payload.query.as_deref().unwrap_or("")),
    );
    doc.insert("path".into(), Value::from(path));
    doc.insert("event".into(), event.map_or(Value::Null, Value::from));
    Value::Object(doc)
}

fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn headers_value(headers: &[(String, HeaderBytes)]) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        push_repeated(
            &mut map,
            name.to_ascii_lowercase(),
            Value::String(value.to_text_lossy()),
        );
    }
    Value::Object(map)
}

fn query_value(query: &str) -> Value {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut map = Map::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        push_repeated(
            &mut map,
            name.into_owned(),
            Value::String(value.into_owned()),
        );
    }
    Value::Object(map)
}

fn push_repeated(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(values)) => values.push(value),
        Some(first) => {
            let first = first.take();
            map.insert(name, Value::Array(vec![first, value]));
        }
    }
}

// ---- The compiled rule ----

#[derive(Debug, Clone)]
enum Node {
    /// A string, number, bool or null.
    Literal(Value),
    /// An array rule: the input array holds a match for each.
    List(Vec<Node>),
    /// Fields to match and operators to hold, all of them.
    Object {
        fields: Vec<(String, Node)>,
        ops: Vec<Op>,
    },
}

#[derive(Debug, Clone)]
enum Op {
    /// Operators that see whether the field is there at all.
    Logic(Logic),
    /// Operators that test a present value (a missing one fails).
    Test(Test),
}

#[derive(Debug, Clone)]
enum Logic {
    Exist(bool),
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Value),
    Neq(Value),
    Cmp(Cmp, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    StartsWith(String),
    EndsWith(String),
    Contains(Value),
    Regex(Regex),
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Node {
    /// `None` is a missing field.
    fn eval(&self, v: Option<&Value>) -> bool {
        match self {
            Node::Literal(x) => v.is_some_and(|v| here_or_any(v, |e| json_eq(x, e))),
            Node::List(rules) => match v {
                Some(Value::Array(items)) => rules
                    .iter()
                    .all(|rule| items.iter().any(|item| rule.eval(Some(item)))),
                _ => false,
            },
            Node::Object { fields, ops } if fields.is_empty() && ops.is_empty() => v.is_some(),
            Node::Object { fields, ops } => {
                fields_match(fields, v) && ops.iter().all(|op| op.eval(v))
            }
        }
    }
}

fn fields_match(fields: &[(String, Node)], v: Option<&Value>) -> bool {
    let of = |v: Option<&Value>| {
        let map = v.and_then(Value::as_object);
        fields
            .iter()
            .all(|(name, rule)| rule.eval(map.and_then(|m| m.get(name))))
    };
    match v {
        _ if fields.is_empty() => true,
        // An array has no fields of its own: one element must have them all.
        Some(Value::Array(items)) => items.iter().any(|e| e.is_object() && of(Some(e))),
        _ => of(v),
    }
}

impl Op {
    fn eval(&self, v: Option<&Value>) -> bool {
        match self {
            Op::Logic(Logic::Exist(want)) => v.is_some() == *want,
            Op::Logic(Logic::Or(rules)) => rules.iter().any(|r| r.eval(v)),
            Op::Logic(Logic::And(rules)) => rules.iter().all(|r| r.eval(v)),
            Op::Logic(Logic::Not(rule)) => !rule.eval(v),
            Op::Test(test) => v.is_some_and(|v| test.holds(v)),
        }
    }
}

impl Test {
    fn holds(&self, v: &Value) -> bool {
        let is_in = |xs: &[Value]| here_or_any(v, |e| xs.iter().any(|x| json_eq(x, e)));
        let text = |p: &dyn Fn(&str) -> bool| here_or_any(v, |e| e.as_str().is_some_and(p));
        match self {
            Test::Eq(x) => here_or_any(v, |e| json_eq(x, e)),
            Test::Neq(x) => !here_or_any(v, |e| json_eq(x, e)),
            Test::Cmp(cmp, x) => here_or_any(v, |e| cmp.holds(compare(e, x))),
            Test::In(xs) => is_in(xs),
            Test::Nin(xs) => !is_in(xs),
            Test::StartsWith(s) => text(&|t| t.starts_with(s.as_str())),
            Test::EndsWith(s) => text(&|t| t.ends_with(s.as_str())),
            Test::Regex(re) => text(&|t| re.is_match(t)),
            Test::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                (Value::Array(items), _) => items.iter().any(|e| json_eq(x, e)),
                _ => false,
            },
        }
    }
}

impl Cmp {
    fn holds(self, o: Option<Ordering>) -> bool {
        match (self, o) {
            (_, None) => false,
            (Cmp::Gt, Some(o)) => o.is_gt(),
            (Cmp::Gte, Some(o)) => o.is_ge(),
            (Cmp::Lt, Some(o)) => o.is_lt(),
            (Cmp::Lte, Some(o)) => o.is_le(),
        }
    }
}

/// `p` of the value, or of any element when it is an array (one level).
fn here_or_any(v: &Value, p: impl Fn(&Value) -> bool) -> bool {
    p(v) || matches!(v, Value::Array(items) if items.iter().any(&p))
}

/// Only numbers with numbers and strings with strings are ordered.
fn compare(v: &Value, x: &Value) -> Option<Ordering> {
    match (v, x) {
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Integers exactly (u64 and i64 alike), anything else as f64.
fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Deep equality where numbers compare by value. `x` is the rule's operand,
/// whose depth parse bounds; recursion stops at the shallower side.
fn json_eq(x: &Value, v: &Value) -> bool {
    match (x, v) {
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, a)| b.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => x == v,
    }
}

// ---- Parsing ----

/// Where a rule sits: the top level names [`FIELDS`]; under `headers`,
/// names are lower-cased. Logical operators keep their parent's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Root,
    Headers,
    Value,
}

fn key_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

const TOP_LEVEL: &str = "an object naming body, headers, query, path or event";

fn parse_node(v: &Value, path: &str, scope: Scope, depth: usize) -> Result<Node, FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::new(path, FilterErrorKind::TooDeep));
    }
    match v {
        Value::Object(map) => {
            let mut fields = Vec::new();
            let mut ops = Vec::new();
            for (key, sub) in map {
                let sub_path = key_path(path, key);
                if key.starts_with('$') {
                    ops.push(parse_op(key, sub, &sub_path, scope, depth + 1)?);
                    continue;
                }
                let (name, sub_scope) = match scope {
                    Scope::Root if !FIELDS.contains(&key.as_str()) => {
                        return Err(FilterError::new(
                            &sub_path,
                            FilterErrorKind::UnknownField(key.clone()),
                        ));
                    }
                    Scope::Root if key == "headers" => (key.clone(), Scope::Headers),
                    Scope::Headers => (key.to_ascii_lowercase(), Scope::Value),
                    Scope::Root | Scope::Value => (key.clone(), Scope::Value),
                };
                fields.push((name, parse_node(sub, &sub_path, sub_scope, depth + 1)?));
            }
            Ok(Node::Object { fields, ops })
        }
        _ if scope == Scope::Root => {
            Err(FilterError::new(path, FilterErrorKind::Expects(TOP_LEVEL)))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_node(item, &index_path(path, i), Scope::Value, depth + 1))
            .collect::<Result<_, _>>()
            .map(Node::List),
        scalar => Ok(Node::Literal(scalar.clone())),
    }
}

/// `operand` sits at `depth`; `path` ends with the operator.
fn parse_op(
    name: &str,
    operand: &Value,
    path: &str,
    scope: Scope,
    depth: usize,
) -> Result<Op, FilterError> {
    let expects = |what| Err(FilterError::new(path, FilterErrorKind::Expects(what)));
    let literal = |v: &Value| check_depth(v, path, depth).map(|()| v.clone());
    let test = match name {
        "$eq" => Test::Eq(literal(operand)?),
        "$neq" => Test::Neq(literal(operand)?),
        "$gt" | "$gte" | "$lt" | "$lte" => {
            let cmp = match name {
                "$gt" => Cmp::Gt,
                "$gte" => Cmp::Gte,
                "$lt" => Cmp::Lt,
                _ => Cmp::Lte,
            };
            match operand {
                Value::Number(_) | Value::String(_) => Test::Cmp(cmp, operand.clone()),
                _ => return expects("a number or a string"),
            }
        }
        "$in" | "$nin" => match literal(operand)? {
            Value::Array(values) if name == "$in" => Test::In(values),
            Value::Array(values) => Test::Nin(values),
            _ => return expects("an array of values (for a substring test, use $contains)"),
        },
        "$startsWith" | "$endsWith" => match operand {
            Value::String(s) if name == "$startsWith" => Test::StartsWith(s.clone()),
            Value::String(s) => Test::EndsWith(s.clone()),
            _ => return expects("a string"),
        },
        "$contains" => Test::Contains(literal(operand)?),
        "$regex" => {
            let Value::String(pattern) = operand else {
                return expects("a string (a regular expression)");
            };
            if pattern.len() > MAX_REGEX_LEN {
                return Err(FilterError::new(path, FilterErrorKind::RegexTooLong));
            }
            let re = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| FilterError::new(path, FilterErrorKind::Regex(e.to_string())))?;
            Test::Regex(re)
        }
        "$exist" => match operand {
            Value::Bool(b) => return Ok(Op::Logic(Logic::Exist(*b))),
            _ => return expects("true or false"),
        },
        "$or" | "$and" => {
            let rules = match operand {
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_node(item, &index_path(path, i), scope, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return expects("a non-empty array of rules"),
            };
            return Ok(Op::Logic(if name == "$or" {
                Logic::Or(rules)
            } else {
                Logic::And(rules)
            }));
        }
        "$not" => {
            let rule = parse_node(operand, path, scope, depth)?;
            return Ok(Op::Logic(Logic::Not(Box::new(rule))));
        }
        _ => {
            return Err(FilterError::new(
                path,
                FilterErrorKind::UnknownOperator(name.to_owned()),
            ));
        }
    };
    Ok(Op::Test(test))
}

/// A literal operand, compared as a whole, must nest within the limit too.
fn check_depth(v: &Value, path: &str, depth: usize) -> Result<(), FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::new(path, FilterErrorKind::TooDeep));
    }
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_depth(item, &index_path(path, i), depth + 1)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, item)| check_depth(item, &key_path(path, k), depth + 1)),
        _ => Ok(()),
    }
}

