//! Printing shared by the commands: aligned tables for people, the API's
//! JSON for `--json`, and parsers for repeated `KEY=VALUE` style flags.

use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;

/// Prints a value as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self, empty: &str) {
        if self.rows.is_empty() {
            println!("{empty}");
            return;
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
                }
            }
            println!("{}", s.trim_end());
        };
        line(self.header.clone());
        for r in &self.rows {
            line(r.iter().map(String::as_str).collect());
        }
    }
}

/// `-` for a missing value.
pub fn or_dash(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// Splits `KEY=VALUE`.
pub fn key_value(s: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((k.trim().to_owned(), v.to_owned()))
}

/// Headers given as `Name: value` (or `Name=value`).
pub fn headers(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    list.iter()
        .map(|h| {
            let (k, v) = h
                .split_once(':')
                .or_else(|| h.split_once('='))
                .with_context(|| format!("header `{h}` is not `Name: value`"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Reads a JSON or YAML file (YAML is a superset of JSON).
pub fn read_document<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        assert_eq!(
            key_value("prd=http://x/a=b").unwrap(),
            ("prd".into(), "http://x/a=b".into())
        );
        let h = headers(&["Authorization: Bearer a:b".into(), "X-A=1".into()]).unwrap();
        assert_eq!(h["Authorization"], "Bearer a:b");
        assert_eq!(h["X-A"], "1");
        assert!(key_value("nope").is_err());
    }
}
