//! Event selectors (`$Event{…}`, `$Header{…}`): parsing any text, printing
//! and parsing again, and reading any body and header value with them.
//!
//! Input: a line with the selector, then a body (JSON or not), which is
//! also offered as the value of the selector's header.
#![no_main]

use hookline_core::selector::Selector;
use hookline_fuzz::take_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Some(line) = take_line(&mut rest) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(line) else {
        return;
    };
    let Ok(selector) = Selector::parse(text) else {
        return;
    };
    let printed = selector.to_string();
    let again = Selector::parse(&printed).expect("a printed selector parses");
    assert_eq!(again, selector, "{printed:?} does not round-trip");

    let json = serde_json::from_slice::<serde_json::Value>(rest).ok();
    let header_value = String::from_utf8_lossy(rest).into_owned();
    let found = selector.find(json.as_ref(), &|_| Some(header_value.clone()));
    if selector.reads_body() {
        assert_eq!(found, json.as_ref().and_then(|j| selector.apply(j)));
    } else {
        assert_eq!(
            found,
            Some(header_value.trim().to_owned()).filter(|v| !v.is_empty())
        );
    }
});
