//! Holds the crate's import rule: no module outside `api/` imports the HTTP
//! layer, except `startup` (which builds its state and router) and the
//! binary (`main.rs`, `cli/`, which prints the OpenAPI document). Service,
//! ingest and metrics code below it must stay usable without it.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_outside_api_imports_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let above = ["api", "cli", "startup.rs", "main.rs"];
    // Spelled apart so that this file does not match itself.
    let needles = [concat!("crate::", "api"), concat!("super::", "api")];
    let mut offenders = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let top = rel.components().next().expect("a file name");
        if above.iter().any(|a| top.as_os_str() == *a) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue; // Docs may point at the HTTP layer.
            }
            if needles.iter().any(|n| code.contains(n)) {
                offenders.push(format!("{}:{}: {}", rel.display(), n + 1, code));
            }
        }
    }
    assert!(
        files.len() > 30,
        "found only {} source files under {}",
        files.len(),
        src.display()
    );
    assert!(
        offenders.is_empty(),
        "modules below the HTTP layer import it:\n{}",
        offenders.join("\n")
    );
}
