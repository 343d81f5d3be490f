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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn filter(rule: Value) -> Filter {
        parse(&rule).unwrap_or_else(|e| panic!("{rule} should parse: {e}"))
    }

    fn doc(body: Value) -> Value {
        json!({"body": body, "headers": {}, "query": {}, "path": "/hooks/x", "event": null})
    }

    /// Whether `{"body": rule}` matches a request whose body is `body`.
    fn body_matches(rule: Value, body: Value) -> bool {
        filter(json!({ "body": rule })).matches(&doc(body))
    }

    fn error(rule: Value) -> FilterError {
        match parse(&rule) {
            Ok(f) => panic!("{rule} should not parse, got {f:?}"),
            Err(e) => e,
        }
    }

    fn expects(what: &'static str) -> FilterErrorKind {
        FilterErrorKind::Expects(what)
    }

    #[test]
    fn plain_values_match_by_equality() {
        assert!(body_matches(json!({"type": "a"}), json!({"type": "a"})));
        assert!(!body_matches(json!({"type": "a"}), json!({"type": "b"})));
        assert!(body_matches(json!({"n": 1}), json!({"n": 1.0})));
        assert!(body_matches(json!({"n": 2.5}), json!({"n": 2.5})));
        assert!(!body_matches(json!({"n": 1}), json!({"n": "1"})));
        assert!(body_matches(json!({"ok": true}), json!({"ok": true})));
        assert!(!body_matches(json!({"ok": true}), json!({"ok": 1})));
        assert!(body_matches(json!({"gone": null}), json!({"gone": null})));
        assert!(!body_matches(json!({"gone": null}), json!({"gone": false})));
        assert!(!body_matches(json!({"gone": null}), json!({})));
        // A non-JSON body is its text.
        assert!(body_matches(json!("ping"), json!("ping")));
        assert!(!body_matches(json!("ping"), json!("pong")));
    }

    #[test]
    fn nested_objects_match_field_by_field() {
        let rule = json!({"data": {"object": {"status": "paid"}}});
        assert!(body_matches(
            rule.clone(),
            json!({"data": {"object": {"status": "paid", "amount": 5}}, "id": 1})
        ));
        assert!(!body_matches(
            rule.clone(),
            json!({"data": {"object": {"status": "open"}}})
        ));
        assert!(!body_matches(rule.clone(), json!({"data": {}})));
        assert!(!body_matches(rule.clone(), json!({"data": "paid"})));
        assert!(!body_matches(rule, json!("not json")));
        // Every key must match.
        let two = json!({"a": 1, "b": 2});
        assert!(body_matches(two.clone(), json!({"a": 1, "b": 2, "c": 3})));
        assert!(!body_matches(two, json!({"a": 1, "b": 3})));
        // `{}` needs the field, nothing more.
        assert!(body_matches(json!({"a": {}}), json!({"a": 7})));
        assert!(!body_matches(json!({"a": {}}), json!({"b": 7})));
    }

    #[test]
    fn the_top_level_reaches_every_part_of_the_request() {
        let input = json!({
            "body": {"type": "invoice.paid"},
            "headers": {"x-env": "prod"},
            "query": {"tenant": "acme"},
            "path": "/hooks/stripe",
            "event": "invoice.paid",
        });
        let rule = json!({
            "body": {"type": {"$startsWith": "invoice."}},
            "headers": {"x-env": "prod"},
            "query": {"tenant": "acme"},
            "path": {"$endsWith": "/stripe"},
            "event": "invoice.paid",
        });
        assert!(filter(rule).matches(&input));
        assert!(!filter(json!({"headers": {"x-env": "staging"}})).matches(&input));
        assert!(!filter(json!({"event": null})).matches(&input));
        assert!(filter(json!({})).matches(&input));
    }

    #[test]
    fn header_names_in_a_rule_are_case_insensitive() {
        let input = json!({"body": {}, "headers": {"x-github-event": "push"}});
        assert!(filter(json!({"headers": {"X-GitHub-Event": "push"}})).matches(&input));
        assert!(filter(json!({"$or": [{"headers": {"X-GITHUB-EVENT": "push"}}]})).matches(&input));
        // Only header names: values, and names elsewhere, keep their case.
        assert!(!filter(json!({"headers": {"x-github-event": "PUSH"}})).matches(&input));
        assert!(!body_matches(json!({"Type": 1}), json!({"type": 1})));
    }

    #[test]
    fn an_input_array_matches_when_any_element_does() {
        let tags = json!({"tags": ["gift", "something"], "n": [1, 5, 9]});
        assert!(body_matches(json!({"tags": "gift"}), tags.clone()));
        assert!(!body_matches(json!({"tags": "card"}), tags.clone()));
        assert!(body_matches(json!({"n": {"$gt": 8}}), tags.clone()));
        assert!(!body_matches(json!({"n": {"$gt": 9}}), tags.clone()));
        assert!(!body_matches(json!({"tags": "gift"}), json!({"tags": []})));
        // An object of fields must match one element as a whole.
        let items = json!({"items": [{"id": 1, "sku": "a"}, {"id": 2, "sku": "b"}]});
        assert!(body_matches(
            json!({"items": {"id": 2, "sku": "b"}}),
            items.clone()
        ));
        assert!(!body_matches(
            json!({"items": {"id": 1, "sku": "b"}}),
            items.clone()
        ));
        assert!(!body_matches(
            json!({"items": {"sku": {"$exist": false}}}),
            items.clone()
        ));
        // Each operator of an operator object is checked on its own.
        assert!(body_matches(json!({"n": {"$gt": 6, "$lt": 2}}), tags));
    }

    #[test]
    fn an_array_rule_needs_every_value_in_the_input_array() {
        let tags = json!({"tags": ["gift", "something", "another"]});
        assert!(body_matches(
            json!({"tags": ["gift", "something"]}),
            tags.clone()
        ));
        assert!(body_matches(
            json!({"tags": ["another", "gift"]}),
            tags.clone()
        ));
        assert!(!body_matches(
            json!({"tags": ["gift", "card"]}),
            tags.clone()
        ));
        assert!(body_matches(json!({"tags": []}), tags.clone()));
        assert!(!body_matches(
            json!({"tags": ["gift"]}),
            json!({"tags": "gift"})
        ));
        assert!(!body_matches(json!({"tags": []}), json!({"tags": "gift"})));
        // Elements of an array rule are rules themselves.
        assert!(body_matches(
            json!({"tags": [{"$startsWith": "gi"}, {"$regex": "^an"}]}),
            tags.clone()
        ));
        // Exact equality, order included, is `$eq`.
        assert!(!body_matches(
            json!({"tags": {"$eq": ["gift", "something"]}}),
            tags
        ));
        assert!(body_matches(
            json!({"tags": {"$eq": ["gift", "x"]}}),
            json!({"tags": ["gift", "x"]})
        ));
        assert!(!body_matches(
            json!({"tags": {"$eq": ["gift", "x"]}}),
            json!({"tags": ["x", "gift"]})
        ));
    }

    #[test]
    fn eq_and_neq() {
        assert!(body_matches(json!({"a": {"$eq": "x"}}), json!({"a": "x"})));
        assert!(!body_matches(json!({"a": {"$eq": "x"}}), json!({"a": "y"})));
        assert!(body_matches(
            json!({"a": {"$eq": "x"}}),
            json!({"a": ["y", "x"]})
        ));
        // Deep: the operand is a literal, compared whole.
        let obj = json!({"a": {"$eq": {"k": 1, "$gt": 2}}});
        assert!(body_matches(
            obj.clone(),
            json!({"a": {"k": 1.0, "$gt": 2}})
        ));
        assert!(!body_matches(
            obj.clone(),
            json!({"a": {"k": 1, "$gt": 2, "z": 0}})
        ));
        assert!(!body_matches(obj, json!({"a": {"k": 1}})));
        assert!(body_matches(
            json!({"a": {"$eq": null}}),
            json!({"a": null})
        ));

        assert!(body_matches(json!({"a": {"$neq": "x"}}), json!({"a": "y"})));
        assert!(body_matches(
            json!({"a": {"$neq": "x"}}),
            json!({"a": null})
        ));
        assert!(!body_matches(
            json!({"a": {"$neq": "x"}}),
            json!({"a": "x"})
        ));
        assert!(!body_matches(json!({"a": {"$neq": 1}}), json!({"a": 1.0})));
        // Negations are of the whole array, and need the field.
        assert!(!body_matches(
            json!({"a": {"$neq": "x"}}),
            json!({"a": ["x", "y"]})
        ));
        assert!(body_matches(
            json!({"a": {"$neq": "x"}}),
            json!({"a": ["y", "z"]})
        ));
        assert!(!body_matches(json!({"a": {"$neq": "x"}}), json!({})));
    }

    #[test]
    fn ordering_compares_numbers_with_numbers_and_strings_with_strings() {
        let cases = [
            ("$gt", 10, [(11, true), (10, false), (9, false)]),
            ("$gte", 10, [(11, true), (10, true), (9, false)]),
            ("$lt", 10, [(11, false), (10, false), (9, true)]),
            ("$lte", 10, [(11, false), (10, true), (9, true)]),
        ];
        for (op, bound, inputs) in cases {
            for (n, want) in inputs {
                assert_eq!(
                    body_matches(json!({"n": {op: bound}}), json!({"n": n})),
                    want,
                    "{n} {op} {bound}"
                );
            }
        }
        assert!(body_matches(json!({"n": {"$gt": 9.5}}), json!({"n": 10})));
        assert!(!body_matches(json!({"n": {"$gt": 10.5}}), json!({"n": 10})));
        assert!(body_matches(json!({"n": {"$lt": 0}}), json!({"n": -1})));
        // Integers compare exactly, past f64's precision, u64 with i64.
        assert!(body_matches(
            json!({"n": {"$gt": 9_007_199_254_740_992_u64}}),
            json!({"n": 9_007_199_254_740_993_u64})
        ));
        assert!(body_matches(
            json!({"n": {"$gt": -1}}),
            json!({"n": u64::MAX})
        ));
        // ISO dates order as strings (the time-window example of Hookdeck
        // Outpost's filter docs).
        let range = json!({"at": {"$gte": "2025-01-01T00:00:00Z", "$lt": "2025-02-01T00:00:00Z"}});
        assert!(body_matches(
            range.clone(),
            json!({"at": "2025-01-31T23:59:59Z"})
        ));
        assert!(!body_matches(
            range.clone(),
            json!({"at": "2025-02-01T00:00:00Z"})
        ));
        assert!(!body_matches(range, json!({"at": "2024-12-31T23:59:59Z"})));
        assert!(body_matches(
            json!({"s": {"$gt": "abc"}}),
            json!({"s": "abd"})
        ));
        // Mismatched types never match, either way round.
        assert!(!body_matches(json!({"n": {"$gt": 5}}), json!({"n": "10"})));
        assert!(!body_matches(json!({"n": {"$lt": "5"}}), json!({"n": 1})));
        assert!(!body_matches(json!({"n": {"$gte": 0}}), json!({"n": null})));
        assert!(!body_matches(json!({"n": {"$lte": 1}}), json!({"n": true})));
        assert!(!body_matches(json!({"n": {"$gte": 0}}), json!({})));
    }

    #[test]
    fn in_and_nin() {
        let rule = json!({"status": {"$in": ["paid", "shipped", 3]}});
        assert!(body_matches(rule.clone(), json!({"status": "paid"})));
        assert!(body_matches(rule.clone(), json!({"status": 3.0})));
        assert!(body_matches(
            rule.clone(),
            json!({"status": ["open", "shipped"]})
        ));
        assert!(!body_matches(rule.clone(), json!({"status": "open"})));
        assert!(!body_matches(rule.clone(), json!({"status": "Paid"})));
        assert!(!body_matches(rule, json!({})));
        assert!(!body_matches(json!({"s": {"$in": []}}), json!({"s": "x"})));

        let rule = json!({"status": {"$nin": ["cancelled", "refunded"]}});
        assert!(body_matches(rule.clone(), json!({"status": "paid"})));
        assert!(!body_matches(rule.clone(), json!({"status": "refunded"})));
        assert!(!body_matches(
            rule.clone(),
            json!({"status": ["paid", "refunded"]})
        ));
        assert!(!body_matches(rule, json!({})));
    }

    #[test]
    fn starts_with_and_ends_with() {
        let starts = json!({"type": {"$startsWith": "invoice."}});
        assert!(body_matches(
            starts.clone(),
            json!({"type": "invoice.paid"})
        ));
        assert!(!body_matches(
            starts.clone(),
            json!({"type": "charge.invoice."})
        ));
        assert!(!body_matches(starts.clone(), json!({"type": 5})));
        assert!(body_matches(
            starts,
            json!({"type": ["x", "invoice.created"]})
        ));
        let ends = json!({"email": {"$endsWith": "@example.com"}});
        assert!(body_matches(
            ends.clone(),
            json!({"email": "a@example.com"})
        ));
        assert!(!body_matches(
            ends.clone(),
            json!({"email": "a@example.com.evil"})
        ));
        assert!(!body_matches(ends, json!({"email": null})));
    }

    #[test]
    fn contains_tests_substrings_and_array_elements() {
        let sub = json!({"title": {"$contains": "Gift"}});
        assert!(body_matches(sub.clone(), json!({"title": "A Gift Card"})));
        assert!(!body_matches(sub.clone(), json!({"title": "a gift card"})));
        assert!(!body_matches(sub.clone(), json!({"title": 7})));
        // In an array it is an element, not a substring of one.
        assert!(body_matches(sub.clone(), json!({"title": ["Gift"]})));
        assert!(!body_matches(sub, json!({"title": ["Gift Card"]})));
        assert!(body_matches(
            json!({"ids": {"$contains": 2}}),
            json!({"ids": [1, 2.0]})
        ));
        assert!(!body_matches(
            json!({"ids": {"$contains": 3}}),
            json!({"ids": [1, 2]})
        ));
        assert!(!body_matches(
            json!({"ids": {"$contains": 3}}),
            json!({"ids": 3})
        ));
    }

    #[test]
    fn regex_matches_strings() {
        let rule = json!({"ref": {"$regex": "^refs/heads/(main|release-\\d+)$"}});
        assert!(body_matches(
            rule.clone(),
            json!({"ref": "refs/heads/main"})
        ));
        assert!(body_matches(
            rule.clone(),
            json!({"ref": "refs/heads/release-12"})
        ));
        assert!(!body_matches(
            rule.clone(),
            json!({"ref": "refs/heads/mainline"})
        ));
        assert!(!body_matches(rule.clone(), json!({"ref": 12})));
        assert!(body_matches(rule, json!({"ref": ["x", "refs/heads/main"]})));
        // Unanchored finds anywhere; flags go inline.
        assert!(body_matches(
            json!({"t": {"$regex": "(?i)urgent"}}),
            json!({"t": "Not URGENT"})
        ));
        assert!(!body_matches(
            json!({"t": {"$regex": "urgent"}}),
            json!({"t": "URGENT"})
        ));
    }

    #[test]
    fn exist_tells_present_from_absent_and_null_is_present() {
        let yes = json!({"code": {"$exist": true}});
        let no = json!({"code": {"$exist": false}});
        assert!(body_matches(yes.clone(), json!({"code": "X1"})));
        assert!(body_matches(yes.clone(), json!({"code": null})));
        assert!(!body_matches(yes.clone(), json!({})));
        assert!(!body_matches(no.clone(), json!({"code": "X1"})));
        assert!(!body_matches(no.clone(), json!({"code": null})));
        assert!(body_matches(no.clone(), json!({})));
        // A field of something that is not an object is absent too.
        assert!(body_matches(no.clone(), json!("text body")));
        assert!(!body_matches(yes, json!("text body")));
        assert!(body_matches(
            json!({"a": {"b": {"$exist": false}}}),
            json!({})
        ));
        assert!(body_matches(
            json!({"a": {"b": {"$exist": false}}}),
            json!({"a": 1})
        ));
        // Combined: present and not null.
        let set = json!({"code": {"$exist": true, "$neq": null}});
        assert!(body_matches(set.clone(), json!({"code": "X1"})));
        assert!(!body_matches(set.clone(), json!({"code": null})));
        assert!(!body_matches(set, json!({})));
    }

    #[test]
    fn not_negates_its_rule() {
        let rule = json!({"status": {"$not": {"$in": ["cancelled", "refunded"]}}});
        assert!(body_matches(rule.clone(), json!({"status": "paid"})));
        assert!(!body_matches(rule.clone(), json!({"status": "cancelled"})));
        // Unlike $nin, a missing field passes.
        assert!(body_matches(rule, json!({})));
        assert!(body_matches(
            json!({"$not": {"type": "ping"}}),
            json!({"type": "push"})
        ));
        assert!(!body_matches(
            json!({"$not": {"type": "ping"}}),
            json!({"type": "ping"})
        ));
        assert!(body_matches(
            json!({"t": {"$not": "a"}}),
            json!({"t": ["b"]})
        ));
        assert!(!body_matches(
            json!({"t": {"$not": "a"}}),
            json!({"t": ["b", "a"]})
        ));
        let twice = json!({"t": {"$not": {"$not": {"$startsWith": "a"}}}});
        assert!(body_matches(twice.clone(), json!({"t": "ab"})));
        assert!(!body_matches(twice, json!({"t": "ba"})));
    }

    #[test]
    fn or_and_and_combine_rules() {
        let input = json!({"body": {"type": "push"}, "headers": {"x-env": "prod"}});
        let either = json!({"$or": [{"body": {"type": "ping"}}, {"headers": {"x-env": "prod"}}]});
        assert!(filter(either).matches(&input));
        let neither = json!({"$or": [{"body": {"type": "ping"}}, {"headers": {"x-env": "dev"}}]});
        assert!(!filter(neither).matches(&input));
        let both = json!({"$and": [{"body": {"type": "push"}}, {"headers": {"x-env": "prod"}}]});
        assert!(filter(both).matches(&input));
        let one = json!({"$and": [{"body": {"type": "push"}}, {"headers": {"x-env": "dev"}}]});
        assert!(!filter(one).matches(&input));
        // Beside fields, an $or must hold too.
        let mixed = json!({"body": {"type": "push"}, "$or": [{"path": "/a"}, {"path": "/b"}]});
        assert!(!filter(mixed).matches(&input));
        // On a field, with absence as one branch.
        let optional = json!({"n": {"$or": [{"$exist": false}, {"$gte": 3}]}});
        assert!(body_matches(optional.clone(), json!({})));
        assert!(body_matches(optional.clone(), json!({"n": 4})));
        assert!(!body_matches(optional, json!({"n": 2})));
    }

    #[test]
    fn operators_in_one_object_must_all_hold() {
        let rule = json!({"n": {"$gte": 1, "$lt": 10}});
        assert!(body_matches(rule.clone(), json!({"n": 1})));
        assert!(body_matches(rule.clone(), json!({"n": 9.99})));
        assert!(!body_matches(rule.clone(), json!({"n": 10})));
        assert!(!body_matches(rule, json!({"n": 0})));
        let rule = json!({"t": {"$startsWith": "inv", "$endsWith": ".paid", "$neq": "inv.paid"}});
        assert!(body_matches(rule.clone(), json!({"t": "invoice.paid"})));
        assert!(!body_matches(rule.clone(), json!({"t": "inv.paid"})));
        assert!(!body_matches(rule, json!({"t": "invoice.open"})));
    }

    /// The examples of hookdeck.com/docs/filters ("Filters syntax": simple,
    /// nested, array contains, array contains multiple, operators) and the
    /// two `$or` ones of the README of Hookdeck's simple-json-match, each
    /// under `body` since a Hookline rule spans the whole request.
    #[test]
    fn hookdeck_documentation_examples() {
        assert!(body_matches(json!(false), json!(false)));
        assert!(body_matches(
            json!({"type": "order/created"}),
            json!({"type": "order/created", "order": {"id": 123}})
        ));
        assert!(body_matches(
            json!({"product": {"inventory": 0}}),
            json!({"product": {"title": "A product", "inventory": 0}})
        ));
        assert!(body_matches(
            json!({"order": {"items": {"id": 456}}}),
            json!({"order": {"id": 123, "items": [{"id": 456, "title": "My product"}]}})
        ));
        assert!(body_matches(
            json!({"product": {"tags": "gift"}}),
            json!({"product": {"title": "Gift Card", "tags": ["gift", "something"]}})
        ));
        assert!(body_matches(
            json!({"product": {"tags": ["gift", "something"]}}),
            json!({"product": {"title": "Gift Card", "tags": ["gift", "something", "another"]}})
        ));
        assert!(body_matches(
            json!({"product": {"inventory": {"$lte": 10}}}),
            json!({"product": {"title": "A product", "inventory": 5}})
        ));
        assert!(body_matches(
            json!({"product": {"inventory": {"$or": [1, 5]}}}),
            json!({"product": {"title": "A product", "inventory": 5}})
        ));
        assert!(!body_matches(
            json!({"$or": [{"hello": "johny"}, {"hello": "mark"}]}),
            json!({"hello": "world"})
        ));
    }

    #[test]
    fn parse_errors_name_the_path() {
        let cases = [
            (
                json!({"body": {"x": {"$foo": 1}}}),
                "body.x.$foo",
                FilterErrorKind::UnknownOperator("$foo".into()),
            ),
            (
                json!({"$ref": "body.a"}),
                "$ref",
                FilterErrorKind::UnknownOperator("$ref".into()),
            ),
            (
                json!({"bdy": {"type": "a"}}),
                "bdy",
                FilterErrorKind::UnknownField("bdy".into()),
            ),
            (
                json!({"$or": [{"body": 1}, {"Headers": {}}]}),
                "$or[1].Headers",
                FilterErrorKind::UnknownField("Headers".into()),
            ),
            (
                json!({"body": {"amount": {"$gt": true}}}),
                "body.amount.$gt",
                expects("a number or a string"),
            ),
            (
                json!({"body": {"amount": {"$lte": [1]}}}),
                "body.amount.$lte",
                expects("a number or a string"),
            ),
            (
                json!({"body": {"status": {"$in": "paid"}}}),
                "body.status.$in",
                expects("an array of values (for a substring test, use $contains)"),
            ),
            (
                json!({"body": {"status": {"$nin": {"a": 1}}}}),
                "body.status.$nin",
                expects("an array of values (for a substring test, use $contains)"),
            ),
            (
                json!({"path": {"$startsWith": 1}}),
                "path.$startsWith",
                expects("a string"),
            ),
            (
                json!({"path": {"$endsWith": null}}),
                "path.$endsWith",
                expects("a string"),
            ),
            (
                json!({"path": {"$regex": 1}}),
                "path.$regex",
                expects("a string (a regular expression)"),
            ),
            (
                json!({"event": {"$exist": "yes"}}),
                "event.$exist",
                expects("true or false"),
            ),
            (
                json!({"$or": {"body": 1}}),
                "$or",
                expects("a non-empty array of rules"),
            ),
            (
                json!({"body": {"a": {"$and": []}}}),
                "body.a.$and",
                expects("a non-empty array of rules"),
            ),
            (
                json!({"body": {"list": [1, {"$nope": 2}]}}),
                "body.list[1].$nope",
                FilterErrorKind::UnknownOperator("$nope".into()),
            ),
            (json!({"$not": "x"}), "$not", expects(TOP_LEVEL)),
            (json!("x"), "", expects(TOP_LEVEL)),
            (json!([{"body": 1}]), "", expects(TOP_LEVEL)),
            (
                json!({"query": {"q": {"$regex": "a{2,1}"}}}),
                "query.q.$regex",
                FilterErrorKind::Regex(
                    // The crate's own message (built at run time: clippy
                    // rightly refuses a bad regex literal).
                    Regex::new(&String::from("a{2,1}"))
                        .expect_err("regex crate rejects it")
                        .to_string(),
                ),
            ),
            (
                json!({"body": {"r": {"$regex": "a".repeat(MAX_REGEX_LEN + 1)}}}),
                "body.r.$regex",
                FilterErrorKind::RegexTooLong,
            ),
        ];
        for (rule, path, kind) in cases {
            let e = error(rule.clone());
            assert_eq!((e.path(), e.kind()), (path, &kind), "{rule}");
            assert!(
                e.to_string().contains(&format!("`{path}`")) || path.is_empty(),
                "{e}"
            );
        }
        assert_eq!(
            error(json!({"body": {"amount": {"$gt": true}}})).to_string(),
            "filter rule at `body.amount.$gt`: expects a number or a string"
        );
        assert_eq!(
            error(json!(1)).to_string(),
            format!("filter rule (top level): expects {TOP_LEVEL}")
        );
        // The longest pattern allowed is fine.
        filter(json!({"body": {"r": {"$regex": "a".repeat(MAX_REGEX_LEN)}}}));
    }

    #[test]
    fn a_regex_that_compiles_too_big_is_rejected_at_parse() {
        // Short to write, but ten copies of Unicode \w (~50 KB each).
        let e = error(json!({"body": {"t": {"$regex": "\\w{10}"}}}));
        assert_eq!(e.path(), "body.t.$regex");
        let FilterErrorKind::Regex(msg) = e.kind() else {
            panic!("{e:?}");
        };
        assert!(msg.contains("size limit"), "{msg}");
        filter(json!({"body": {"t": {"$regex": "\\w{3}"}}}));
        filter(json!({"body": {"t": {"$regex": "(?-u:\\w){1000}"}}}));
    }

    /// A rule whose innermost value sits at `levels` (the top level is 1).
    fn nested(levels: usize) -> Value {
        let mut v = json!("x");
        for _ in 2..levels {
            v = json!({ "a": v });
        }
        json!({ "body": v })
    }

    #[test]
    fn nesting_is_limited_at_parse() {
        let ok = filter(nested(MAX_DEPTH));
        let mut input = json!("x");
        for _ in 2..MAX_DEPTH {
            input = json!({ "a": input });
        }
        assert!(ok.matches(&json!({ "body": input })));

        let e = error(nested(MAX_DEPTH + 1));
        assert_eq!(e.kind(), &FilterErrorKind::TooDeep);
        let deepest = format!("body{}", ".a".repeat(MAX_DEPTH - 1));
        assert_eq!(e.path(), deepest);
        // Far deeper is refused the same way, without exhausting the stack.
        assert_eq!(error(nested(2_000)).kind(), &FilterErrorKind::TooDeep);

        // Literal operands count too, and so do logical operators.
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        let e = error(json!({"body": {"$eq": deep}}));
        assert_eq!(e.kind(), &FilterErrorKind::TooDeep);
        assert!(e.path().starts_with("body.$eq[0][0]"), "{}", e.path());
        let mut nots = json!({"body": 1});
        for _ in 0..MAX_DEPTH {
            nots = json!({ "$not": nots });
        }
        assert_eq!(error(nots).kind(), &FilterErrorKind::TooDeep);
    }

    #[test]
    fn a_filter_serializes_back_to_the_rule_as_written() {
        let rule = json!({"headers": {"X-Env": "prod"}, "body": {"n": {"$gte": 1, "$lt": 10}}});
        let f = filter(rule.clone());
        assert_eq!(f.as_json(), &rule);
        assert_eq!(serde_json::to_value(&f).unwrap(), rule);
        let back: Filter = serde_json::from_value(rule.clone()).unwrap();
        assert_eq!(back, f);
        assert!(back.matches(&json!({"headers": {"x-env": "prod"}, "body": {"n": 3}})));
        let bad = serde_json::from_value::<Filter>(json!({"body": {"$gt": {}}})).unwrap_err();
        assert!(bad.to_string().contains("body.$gt"), "{bad}");
    }

    #[test]
    fn input_builds_the_document_from_a_request() {
        let payload = Payload {
            method: "POST".into(),
            query: Some("tenant=acme&tag=a&tag=b%20c&plus=x+y".into()),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Env".into(), "prod".into()),
                ("x-multi".into(), "1".into()),
                ("X-Multi".into(), "2".into()),
                ("X-Bytes".into(), HeaderBytes(vec![b'a', 0xff])),
            ],
            body: br#"{"type": "invoice.paid", "amount": 12}"#.to_vec(),
        };
        let doc = input(&payload, "/hooks/stripe", Some("invoice.paid"));
        assert_eq!(
            doc,
            json!({
                "body": {"type": "invoice.paid", "amount": 12},
                "headers": {
                    "content-type": "application/json",
                    "x-env": "prod",
                    "x-multi": ["1", "2"],
                    "x-bytes": "a\u{fffd}",
                },
                "query": {"tenant": "acme", "tag": ["a", "b c"], "plus": "x y"},
                "path": "/hooks/stripe",
                "event": "invoice.paid",
            })
        );
        let rule = json!({
            "body": {"type": {"$startsWith": "invoice."}},
            "headers": {"x-env": "prod", "X-Multi": "2"},
            "query": {"tag": "b c"},
        });
        assert!(filter(rule).matches(&doc));

        let text = Payload {
            method: "POST".into(),
            query: None,
            headers: vec![],
            body: b"a=1&b=\xff".to_vec(),
        };
        assert_eq!(
            input(&text, "/", None),
            json!({"body": "a=1&b=\u{fffd}", "headers": {}, "query": {}, "path": "/", "event": null})
        );
        let empty = Payload {
            body: vec![],
            ..text
        };
        assert_eq!(input(&empty, "/", None)["body"], json!(""));
    }

    // ---- Properties ----

    const KEYS: [&str; 24] = [
        "$eq",
        "$neq",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$startsWith",
        "$endsWith",
        "$contains",
        "$regex",
        "$exist",
        "$or",
        "$and",
        "$not",
        "$ref",
        "body",
        "headers",
        "query",
        "path",
        "event",
        "a",
        "b",
    ];

    /// JSON whose keys are mostly operators and field names, and whose
    /// strings are often regex-like, so rules often parse.
    fn rule_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ab.*+?()|^$\\\\{}\\[\\]0-9]{0,8}".prop_map(Value::String),
            ".{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..4).prop_map(
                    |kv| Value::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>()
                    )
                ),
            ]
        })
    }

    fn request_doc() -> impl Strategy<Value = Value> {
        (rule_json(), rule_json(), ".{0,8}", prop::option::of("[a-z.]{0,8}")).prop_map(
            |(body, headers, path, event)| {
                json!({"body": body, "headers": headers, "query": {"a": "b"}, "path": path, "event": event})
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn parse_and_match_never_panic(
            rule in rule_json(),
            fields in prop::collection::vec((prop::sample::select(FIELDS.to_vec()), rule_json()), 0..4),
            input in request_doc(),
        ) {
            // Anything at all, and rules that at least name real fields.
            let named = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            for rule in [rule, named] {
                let Ok(f) = parse(&rule) else { continue };
                let hit = f.matches(&input);
                prop_assert_eq!(serde_json::to_value(&f).unwrap(), rule.clone());
                let not = parse(&json!({"$not": rule.clone()})).expect("its negation parses");
                prop_assert_eq!(not.matches(&input), !hit);
                let and = parse(&json!({"$and": [rule.clone(), {}]})).expect("a conjunction parses");
                prop_assert_eq!(and.matches(&input), hit);
            }
        }

        #[test]
        fn input_takes_any_request(
            body in prop::collection::vec(any::<u8>(), 0..64),
            query in prop::option::of(".{0,24}"),
            headers in prop::collection::vec(("[A-Za-z-]{1,6}", prop::collection::vec(any::<u8>(), 0..8)), 0..5),
            path in ".{0,12}",
        ) {
            let payload = Payload {
                method: "POST".into(),
                query,
                headers: headers.into_iter().map(|(k, v)| (k, HeaderBytes(v))).collect(),
                body,
            };
            let doc = input(&payload, &path, None);
            let names: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
            prop_assert_eq!(names.len(), 5);
            let own_path = filter(json!({"path": path, "event": null}));
            prop_assert!(own_path.matches(&doc));
            for name in doc["headers"].as_object().unwrap().keys() {
                prop_assert_eq!(name, &name.to_ascii_lowercase());
            }
        }
    }
}
