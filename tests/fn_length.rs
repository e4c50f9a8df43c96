//! No function in `src/scan/` outside test code has a body over
//! [`MAX_BODY_LINES`] lines (issue 13: small functions that each do one
//! job; a scheduler grown by accretion started as one long loop).
//!
//! The count is plain: the lines strictly between a function's opening and
//! closing brace, comments and blank lines included, as `rustfmt` lays the
//! code out. Test code is left out: a `#[cfg(test)]` item (a `mod tests {
//! .. }` block, or a `mod tests;` whose file is then skipped whole) and
//! `#[test]` functions. The scanner is a small lexer (comments, strings,
//! raw strings, char literals blanked) and brace matcher, not a Rust
//! parser: it is enough for code that `rustfmt` has formatted.

use std::fs;
use std::path::{Path, PathBuf};

/// The longest body a non-test function in `src/scan/` may have.
const MAX_BODY_LINES: usize = 60;

/// `src`'s text with the inside of comments, strings and char literals
/// replaced by spaces (newlines kept), so that braces and keywords found in
/// it are code.
fn blank_literals(src: &str) -> Vec<u8> {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(end) = raw_string_end(b, i) {
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '{'), not a lifetime.
            let end = if rest.get(1) == Some(&b'\\') {
                rest.iter()
                    .skip(2)
                    .position(|&c| c == b'\'')
                    .map(|n| i + n + 3)
            } else if rest.get(2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Where a raw string (`r"..."`, `br#"..."#`) starting at `i` ends.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let mut j = i + usize::from(b[i] == b'b');
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let n = b[j + 1..].windows(close.len()).position(|w| w == close)?;
    Some(j + 1 + n + close.len())
}

/// The index just past the brace that closes the one at `open`.
fn matching_brace(code: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn is_word_at(code: &[u8], i: usize, word: &[u8]) -> bool {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    code[i..].starts_with(word)
        && (i == 0 || !ident(code[i - 1]))
        && code.get(i + word.len()).is_none_or(|&c| !ident(c))
}

fn line_of(code: &[u8], i: usize) -> usize {
    code[..i].iter().filter(|&&c| c == b'\n').count() + 1
}

/// The end of the item that follows the attribute ending at `i`: its
/// closing brace, or its `;`.
fn item_end(code: &[u8], i: usize) -> usize {
    let mut k = i;
    while k < code.len() && code[k] != b'{' && code[k] != b';' {
        k += 1;
    }
    match code.get(k) {
        Some(b'{') => matching_brace(code, k),
        _ => k + 1,
    }
}

/// One function over the limit: where it is and how long its body is.
#[derive(Debug)]
struct Long {
    file: PathBuf,
    line: usize,
    name: String,
    body: usize,
}

/// The functions of `file` over the limit, and the files of the
/// `#[cfg(test)] mod name;` declarations it holds (test code, skipped).
fn scan_file(file: &Path, code: &[u8], long: &mut Vec<Long>) -> Vec<PathBuf> {
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < code.len() {
        if code[i..].starts_with(b"#[cfg(test)]") || code[i..].starts_with(b"#[test]") {
            let attr_end = i + code[i..].iter().position(|&c| c == b']').unwrap() + 1;
            let end = item_end(code, attr_end);
            let item = String::from_utf8_lossy(&code[attr_end..end]);
            let words: Vec<&str> = item.split_whitespace().collect();
            if let ["mod", name, ..] = words.as_slice() {
                if let Some(name) = name.strip_suffix(';') {
                    test_files.push(module_file(file, name));
                }
            }
            i = end;
        } else if is_word_at(code, i, b"fn") {
            let name: String = code[i + 2..]
                .iter()
                .skip_while(|c| c.is_ascii_whitespace())
                .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_')
                .map(|&c| char::from(c))
                .collect();
            if name.is_empty() {
                // A function pointer type (`fn(u8) -> u8`), not an item.
                i += 2;
                continue;
            }
            let mut k = i;
            while k < code.len() && code[k] != b'{' && code[k] != b';' {
                k += 1;
            }
            if code.get(k) == Some(&b'{') {
                let end = matching_brace(code, k);
                let (first, last) = (line_of(code, k), line_of(code, end - 1));
                let body = last.saturating_sub(first + 1);
                if body > MAX_BODY_LINES {
                    long.push(Long {
                        file: file.to_path_buf(),
                        line: line_of(code, i),
                        name,
                        body,
                    });
                }
            }
            // Nested functions are inside the body: go on from its start.
            i = k + 1;
        } else {
            i += 1;
        }
    }
    test_files
}

/// The file of module `name` declared in `file` (`name.rs` or
/// `name/mod.rs` beside `mod.rs`, under `file`'s stem otherwise).
fn module_file(file: &Path, name: &str) -> PathBuf {
    let dir = file.parent().unwrap();
    let dir = match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") => dir.to_path_buf(),
        Some(stem) => dir.join(stem),
        None => dir.to_path_buf(),
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The functions over the limit in the `.rs` files under `dir`.
fn long_functions(dir: &Path) -> Vec<Long> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    let mut test_files = Vec::new();
    let mut long = Vec::new();
    for file in &files {
        let code = blank_literals(&fs::read_to_string(file).unwrap());
        test_files.extend(scan_file(file, &code, &mut long));
    }
    long.retain(|l| !test_files.contains(&l.file));
    long
}

#[test]
fn no_function_in_src_scan_is_over_the_limit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scan");
    let long = long_functions(&dir);
    let list: Vec<String> = long
        .iter()
        .map(|l| {
            format!(
                "{}:{} fn {}: {} lines",
                l.file.display(),
                l.line,
                l.name,
                l.body
            )
        })
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_BODY_LINES} body lines outside test code:\n{}",
        list.join("\n")
    );
}

/// The checker itself: it finds a long function, counts its body, leaves
/// out test modules and `#[test]` functions, and is not fooled by braces
/// in strings, chars and comments.
#[test]
fn the_checker_counts_bodies_and_skips_test_code() {
    let dir = std::env::temp_dir().join(format!("rawnet-fn-length-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let body = |n: usize| "    let _ = 1;\n".repeat(n);
    let src = format!(
        "fn short() {{\n{}}}\n\
         fn long(x: &str) -> char {{\n    let _ = \"}}}}\";\n    let _ = '{{';\n    // }}\n{}    'x'\n}}\n\
         #[cfg(test)]\nmod tests {{\n    fn helper() {{\n{}    }}\n}}\n\
         #[test]\nfn a_test() {{\n{}}}\n\
         #[cfg(test)]\nmod m;\n",
        body(MAX_BODY_LINES),
        body(MAX_BODY_LINES - 3),
        body(100),
        body(100),
    );
    fs::write(dir.join("lib.rs"), src).unwrap();
    fs::write(
        dir.join("m.rs"),
        format!("fn in_tests() {{\n{}}}\n", body(100)),
    )
    .unwrap();
    let long = long_functions(&dir);
    fs::remove_dir_all(&dir).unwrap();
    let found: Vec<(&str, usize)> = long.iter().map(|l| (l.name.as_str(), l.body)).collect();
    assert_eq!(found, [("long", MAX_BODY_LINES + 1)]);
}
