//! The `Server-Timing` response field (W3C Server Timing): the server's
//! own account of where its time went, read into typed metrics.
//!
//! Bytes only and lenient: a metric is a token name with optional `dur`
//! (milliseconds) and `desc` parameters, metrics are separated by commas
//! (across repeated fields too), parameter values may be quoted strings.
//! What cannot be read is skipped, never an error: the field is advice.

/// One metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The metric's name.
    pub name: String,
    /// `dur`, in milliseconds.
    pub dur: Option<f64>,
    /// `desc`.
    pub desc: Option<String>,
}

/// The metrics of every `Server-Timing` field in `headers`, in order.
///
/// ```
/// use rawnet::http::server_timing::parse;
///
/// let h = vec![("Server-Timing".to_owned(), r#"db;dur=53.2, app;desc="a, b";dur=47"#.to_owned())];
/// let m = parse(&h);
/// assert_eq!(m.len(), 2);
/// assert_eq!((m[0].name.as_str(), m[0].dur), ("db", Some(53.2)));
/// assert_eq!(m[1].desc.as_deref(), Some("a, b"));
/// ```
pub fn parse(headers: &[(String, String)]) -> Vec<Metric> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("server-timing"))
        .flat_map(|(_, v)| split_outside_quotes(v, ','))
        .filter_map(|m| metric(&m))
        .collect()
}

fn metric(text: &str) -> Option<Metric> {
    let mut parts = split_outside_quotes(text, ';').into_iter();
    let name = parts.next()?.trim().to_owned();
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return None;
    }
    let mut m = Metric {
        name,
        dur: None,
        desc: None,
    };
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match k.trim().to_ascii_lowercase().as_str() {
            "dur" if m.dur.is_none() => m.dur = v.parse::<f64>().ok().filter(|d| d.is_finite()),
            "desc" if m.desc.is_none() => m.desc = Some(v),
            _ => {}
        }
    }
    Some(m)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits at `sep` outside double-quoted strings.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(c);
    }
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or('\\')
                } else {
                    c
                });
            }
            out
        }
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Vec<(String, String)> {
        vec![("server-timing".into(), v.into())]
    }

    #[test]
    fn names_without_parameters_and_repeated_fields() {
        let mut headers = h("miss, cache;desc=\"hit \\\"x\\\"\"");
        headers.push(("Server-Timing".into(), "total;dur=1.5;dur=9".into()));
        let m = parse(&headers);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["miss", "cache", "total"]);
        assert_eq!(m[1].desc.as_deref(), Some("hit \"x\""));
        assert_eq!(m[2].dur, Some(1.5));
    }

    #[test]
    fn what_cannot_be_read_is_skipped() {
        let m = parse(&h(" , bad name;dur=1, ok;dur=abc, x;dur=inf"));
        let got: Vec<(&str, Option<f64>)> = m.iter().map(|m| (m.name.as_str(), m.dur)).collect();
        assert_eq!(got, [("ok", None), ("x", None)]);
    }
}
