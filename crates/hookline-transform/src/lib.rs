//! Per-destination JavaScript transformations, in Hookdeck's convention.
//!
//! A user script registers its transformation at top level:
//!
//! ```js
//! addHandler("transform", (request, context) => {
//!   request.headers["x-added"] = "1";
//!   return request;
//! });
//! ```
//!
//! `request` is `{method, path, query, headers, body}` (the body parsed when it
//! is JSON, else a string); the object the handler returns is what the
//! destination receives. [`compile`] checks a script once per change;
//! [`Script::run`] applies it to one event.
//!
//! # Why QuickJS (through `rquickjs`)
//!
//! - It is a small engine that embeds as plain C (compiled here with the
//!   system C compiler, no bindgen, no JIT).
//! - Its API has a per-runtime memory limit and an interrupt handler, which
//!   is what a CPU-time limit needs.
//! - It has no I/O of its own: without `quickjs-libc` (not linked) there is
//!   no `std`/`os` module, no filesystem, network or timers; the host adds
//!   nothing besides `addHandler` and a no-op `console` (both defined in
//!   JavaScript, see `PRELUDE`).
//!
//! # Isolation and limits
//!
//! Every run gets a fresh `Runtime` and `Context`, so no state (globals,
//! prototypes, caches) leaks from one event to the next. Each runtime has
//! [`Limits::memory_bytes`] as its memory limit, a 1 MiB stack limit (deep
//! recursion throws a `RangeError` instead of overflowing the thread's
//! stack; the calling thread needs more than that free, which tokio's
//! `spawn_blocking` threads, 2 MiB by default, have), and an interrupt
//! handler that stops the script once [`Limits::cpu_time`] has passed since
//! the run started. The handler keeps interrupting after the deadline, so a
//! script that catches the interruption is stopped again at once.
//!
//! # Compiled once, evaluated per run
//!
//! [`compile`] parses the source and runs its top level once in a scratch
//! runtime, to report syntax errors with their line and to check that a
//! `"transform"` handler is registered. Keeping QuickJS bytecode instead of
//! source was considered: `rquickjs` can write bytecode, but loading it
//! (`Module::load`) is `unsafe` because malformed bytecode is undefined
//! behaviour in QuickJS, and this crate forbids `unsafe`. So [`Script::run`]
//! re-evaluates the checked source in its fresh runtime. The whole per-run
//! cost (new runtime and context, parse, top level, handler call, JSON in
//! and out) is printed by the `per_run_cost` test; on the development
//! machine it was about 0.19 ms for a small script in the test build
//! (opt-level 1 for dependencies) and 0.17 ms with `--release`: most of it
//! is creating the runtime and context, and it is small next to an HTTP
//! delivery.
//!
//! # Async handlers
//!
//! A handler may return a Promise (e.g. an `async` function); the engine's
//! job queue is drained, under the same time limit, until it settles. There
//! are no timers or I/O, so a Promise that is still pending when the queue
//! is empty can never settle and is a [`RunError::BadResult`].

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::convert::Coerced;
use rquickjs::{CaughtError, Context, Ctx, Function, Promise, Runtime, Value};

/// Maximum length of an error message taken from the script, in bytes.
const MAX_MESSAGE: usize = 1024;

/// Stack limit for the engine: deep recursion must throw, not crash the thread.
const MAX_STACK: usize = 1024 * 1024;

/// File name given to the user's script; used to find line numbers in stacks.
const SCRIPT_NAME: &str = "transform.js";

/// Defines `addHandler` (and a no-op `console`) in JavaScript and returns a function that hands the
/// registered handler to the host. The handler lives in a closure the user's
/// script cannot reach, and `addHandler` is non-writable so it cannot be
/// replaced. Being plain JavaScript, it needs no host function.
const PRELUDE: &str = r#"(() => {
  let handler;
  Object.defineProperty(globalThis, "addHandler", {
    value: function addHandler(name, fn) {
      if (name !== "transform") {
        throw new TypeError('addHandler: only the "transform" handler is supported, got ' + String(name));
      }
      if (typeof fn !== "function") {
        throw new TypeError("addHandler: the handler must be a function");
      }
      handler = fn;
    },
    writable: false,
    enumerable: false,
    configurable: false,
  });
  // Hookdeck scripts often log; logging is a no-op here (nothing is captured).
  const noop = function () {};
  Object.defineProperty(globalThis, "console", {
    value: Object.freeze({ log: noop, info: noop, warn: noop, error: noop, debug: noop }),
    writable: false,
    enumerable: false,
    configurable: false,
  });
  return () => handler;
})()"#;

/// Resource limits for one run of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time the script may run, measured from the start of the run
    /// (runtime setup included). Default 1 s.
    pub cpu_time: Duration,
    /// Memory the engine may allocate for the run. Default 64 MiB.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_time: Duration::from_secs(1),
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A script that parsed and registered a `"transform"` handler.
///
/// Cheap to clone (the source is shared); holds no engine state, so it is
/// `Send + Sync` and each [`Script::run`] is isolated.
#[derive(Clone)]
pub struct Script {
    source: Arc<str>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("source_len", &self.source.len())
            .finish()
    }
}

/// Why a script was rejected by [`compile`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .line { Some(line) => format!("line {line}: {message}"), None => message.clone() })]
pub struct CompileError {
    /// The engine's message, or why the script is unusable.
    pub message: String,
    /// 1-based line in the script, when the engine reports one.
    pub line: Option<u32>,
}

/// Why a run of a script produced no request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The script threw (or its Promise rejected); `message` is the thrown
    /// value's `message` for Error objects, `String(value)` otherwise.
    #[error("transformation threw: {message}")]
    Threw { message: String },
    /// The run exceeded [`Limits::cpu_time`].
    #[error("transformation timed out")]
    TimedOut,
    /// The run exceeded [`Limits::memory_bytes`].
    #[error("transformation ran out of memory")]
    OutOfMemory,
    /// The handler returned something that is not a request.
    #[error("transformation returned a bad result: {message}")]
    BadResult { message: String },
}

/// Parses `source` and runs its top level once, checking that it registers a
/// `"transform"` handler. Done once per change of the script, not per event.
pub fn compile(source: &str) -> Result<Script, CompileError> {
    let limits = Limits::default();
    let outcome = with_engine(&limits, |ctx, timed_out| match load(ctx, source) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CompileError {
            message: "the script does not register a \"transform\" handler \
                          (call addHandler(\"transform\", (request, context) => request))"
                .to_owned(),
            line: None,
        }),
        Err(err) => Err(compile_error(ctx, err, timed_out)),
    });
    match outcome {
        Ok(result) => result?,
        Err(_) => {
            return Err(CompileError {
                message: "the engine could not start (out of memory)".to_owned(),
                line: None,
            })
        }
    }
    Ok(Script {
        source: Arc::from(source),
    })
}

impl Script {
    /// Applies the transformation to one request, in a fresh engine with
    /// `limits`. Synchronous and CPU-bound: async callers should use
    /// `spawn_blocking`. Never panics, whatever the script does.
    pub fn run(
        &self,
        request: &serde_json::Value,
        context: &serde_json::Value,
        limits: &Limits,
    ) -> Result<serde_json::Value, RunError> {
        let outcome = with_engine(limits, |ctx, timed_out| {
            let value = call_handler(ctx, &self.source, request, context)
                .map_err(|err| run_error(ctx, err, timed_out))?;
            let value = match value.clone().into_promise() {
                Some(promise) => settle(ctx, &promise, timed_out)?,
                None => value,
            };
            let json = to_json(ctx, value).map_err(|err| match err {
                Converted::Engine(err) => match run_error(ctx, err, timed_out) {
                    RunError::Threw { message } => RunError::BadResult {
                        message: format!("cannot serialize the result: {message}"),
                    },
                    other => other,
                },
                Converted::Bad(message) => RunError::BadResult { message },
            })?;
            check_request(&json)?;
            Ok(json)
        });
        outcome.map_err(|_| RunError::OutOfMemory)?
    }
}

/// Creates a fresh runtime and context with `limits` and runs `f` in it.
/// `f` gets a flag that is set once the interrupt handler stopped the script
/// for running out of time. Fails only when the engine cannot start.
fn with_engine<R>(
    limits: &Limits,
    f: impl FnOnce(&Ctx<'_>, &AtomicBool) -> R,
) -> Result<R, rquickjs::Error> {
    let deadline = Instant::now().checked_add(limits.cpu_time);
    let timed_out = Arc::new(AtomicBool::new(false));
    let runtime = Runtime::new()?;
    runtime.set_memory_limit(limits.memory_bytes);
    runtime.set_max_stack_size(MAX_STACK);
    let flag = Arc::clone(&timed_out);
    runtime.set_interrupt_handler(Some(Box::new(move || {
        // `None` means a limit too large to represent: never time out.
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if expired {
            flag.store(true, Ordering::Relaxed);
        }
        expired
    })));
    let context = Context::full(&runtime)?;
    Ok(context.with(|ctx| f(&ctx, &timed_out)))
}

/// Installs `addHandler`, evaluates the user's script and returns the
/// registered handler, if any.
fn load<'js>(ctx: &Ctx<'js>, source: &str) -> rquickjs::Result<Option<Function<'js>>> {
    let take: Function = ctx.eval(PRELUDE)?;
    let mut options = EvalOptions::default();
    options.strict = false;
    options.filename = Some(SCRIPT_NAME.to_owned());
    ctx.eval_with_options::<(), _>(source, options)?;
    take.call(())
}

/// Evaluates the script and calls its handler with the request and context.
fn call_handler<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    request: &serde_json::Value,
    context: &serde_json::Value,
) -> rquickjs::Result<Value<'js>> {
    let Some(handler) = load(ctx, source)? else {
        // `compile` checked this; only a script that registers conditionally
        // (e.g. on Math.random()) gets here.
        return Err(rquickjs::Exception::throw_type(
            ctx,
            "the script did not register a \"transform\" handler",
        ));
    };
    let request = ctx.json_parse(request.to_string())?;
    let context = ctx.json_parse(context.to_string())?;
    handler.call((request, context))
}

/// Drains the job queue until `promise` settles. No timers or I/O exist, so
/// an empty queue with the promise still pending means it never settles.
fn settle<'js>(
    ctx: &Ctx<'js>,
    promise: &Promise<'js>,
    timed_out: &AtomicBool,
) -> Result<Value<'js>, RunError> {
    match promise.finish::<Value>() {
        Ok(value) => Ok(value),
        Err(rquickjs::Error::WouldBlock) => Err(RunError::BadResult {
            message: "the handler returned a Promise that never settles".to_owned(),
        }),
        Err(err) => Err(run_error(ctx, err, timed_out)),
    }
}

/// A failure to turn the handler's result into JSON.
enum Converted {
    /// The engine threw (e.g. a BigInt, a cycle, a throwing getter).
    Engine(rquickjs::Error),
    /// The result is not a JSON object.
    Bad(String),
}

/// Serializes the handler's result with `JSON.stringify` and parses it back.
fn to_json<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<serde_json::Value, Converted> {
    if !value.is_object() || value.is_array() || value.is_function() {
        return Err(Converted::Bad(format!(
            "the handler must return the request object, got {}",
            value.type_name()
        )));
    }
    let text = ctx
        .json_stringify(value)
        .map_err(Converted::Engine)?
        .ok_or_else(|| Converted::Bad("the result is not serializable".to_owned()))?
        .to_string()
        .map_err(Converted::Engine)?;
    serde_json::from_str(&text)
        .map_err(|err| Converted::Bad(format!("the result is not valid JSON: {err}")))
}

/// Checks that the handler returned something shaped like a request.
fn check_request(json: &serde_json::Value) -> Result<(), RunError> {
    let bad = |message: String| Err(RunError::BadResult { message });
    let Some(object) = json.as_object() else {
        return bad("the handler must return the request object".to_owned());
    };
    for field in ["method", "path", "query", "headers", "body"] {
        if !object.contains_key(field) {
            return bad(format!("the returned request has no `{field}`"));
        }
    }
    for field in ["method", "path"] {
        if !object[field].is_string() {
            return bad(format!("the returned request's `{field}` must be a string"));
        }
    }
    if !object["headers"].is_object() {
        return bad("the returned request's `headers` must be an object".to_owned());
    }
    if !(object["query"].is_string() || object["query"].is_object()) {
        return bad("the returned request's `query` must be a string or an object".to_owned());
    }
    Ok(())
}

/// What the engine reported, once classified.
enum Failure {
    TimedOut,
    OutOfMemory,
    Threw { message: String, line: Option<u32> },
}

/// Classifies an engine error, taking the pending exception if there is one.
fn classify(ctx: &Ctx<'_>, err: rquickjs::Error, timed_out: &AtomicBool) -> Failure {
    let caught = CaughtError::from_error(ctx, err);
    if timed_out.load(Ordering::Relaxed) {
        return Failure::TimedOut;
    }
    match caught {
        CaughtError::Error(rquickjs::Error::Allocation) => Failure::OutOfMemory,
        CaughtError::Error(err) => Failure::Threw {
            message: truncate(err.to_string()),
            line: None,
        },
        CaughtError::Exception(exception) => {
            let message = exception.message().unwrap_or_default();
            let name: Option<String> = exception.get::<_, Option<String>>("name").ok().flatten();
            if message == "out of memory" && name.as_deref() == Some("InternalError") {
                return Failure::OutOfMemory;
            }
            let line = exception
                .stack()
                .as_deref()
                .and_then(script_line)
                .or_else(|| exception.get::<_, Option<u32>>("lineNumber").ok().flatten());
            let message = match name {
                Some(name) if !name.is_empty() && name != "Error" => format!("{name}: {message}"),
                _ => message,
            };
            Failure::Threw {
                message: truncate(message),
                line,
            }
        }
        CaughtError::Value(value) => {
            // `String(value)` may run the script's own `toString`; a failure
            // there (or the time running out) must not hide the original throw.
            let message = string_of(ctx, value)
                .unwrap_or_else(|| "(a value that cannot be converted to a string)".to_owned());
            if timed_out.load(Ordering::Relaxed) {
                return Failure::TimedOut;
            }
            Failure::Threw {
                message: truncate(message),
                line: None,
            }
        }
    }
}

/// `String(value)`, without propagating a throw from the conversion.
fn string_of<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Option<String> {
    use rquickjs::FromJs;
    match Coerced::<String>::from_js(ctx, value) {
        Ok(Coerced(text)) => Some(text),
        Err(_) => {
            // Clear the exception the conversion left pending.
            let _ = ctx.catch();
            None
        }
    }
}

fn run_error(ctx: &Ctx<'_>, err: rquickjs::Error, timed_out: &AtomicBool) -> RunError {
    match classify(ctx, err, timed_out) {
        Failure::TimedOut => RunError::TimedOut,
        Failure::OutOfMemory => RunError::OutOfMemory,
        Failure::Threw { message, .. } => RunError::Threw { message },
    }
}

fn compile_error(ctx: &Ctx<'_>, err: rquickjs::Error, timed_out: &AtomicBool) -> CompileError {
    match classify(ctx, err, timed_out) {
        Failure::TimedOut => CompileError {
            message: "the script's top level did not finish in time".to_owned(),
            line: None,
        },
        Failure::OutOfMemory => CompileError {
            message: "the script's top level ran out of memory".to_owned(),
            line: None,
        },
        Failure::Threw { message, line } => CompileError { message, line },
    }
}

/// The line of the first stack frame in the user's script
/// (`at … (transform.js:LINE:COL)` or `at transform.js:LINE:COL`).
fn script_line(stack: &str) -> Option<u32> {
    let marker = format!("{SCRIPT_NAME}:");
    stack.lines().find_map(|frame| {
        let rest = &frame[frame.find(&marker)? + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// Cuts a message to [`MAX_MESSAGE`] bytes on a character boundary.
fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_line_reads_the_first_script_frame() {
        let stack = "    at foo (transform.js:7:3)\n    at transform.js:9:1\n";
        assert_eq!(script_line(stack), Some(7));
        assert_eq!(script_line("    at <eval>:1:1"), None);
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        let long = "é".repeat(MAX_MESSAGE);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".to_owned()), "short");
    }
}
