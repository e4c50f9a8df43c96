//! Where the answers of several servers to the same bytes differ: the
//! check that finds a front end and a back end that disagree about where
//! a message ends.
//!
//! Pure data in, data out: each target is summarised as the list of its
//! responses ([`Summary`]: status, header names in order and case, the
//! framing decision, a digest of the body, the linter's warnings, the
//! reader's error) and whether the connection stayed open; [`compare`]
//! lists every [`Difference`], response by response. Values are compared
//! exactly: `Content-Length` and `content-length` are different names
//! here, since that is what a byte-level workbench is for. Header values
//! are not compared (dates and ETags differ between any two servers).

use std::fmt;

/// One response, as far as the comparison looks at it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The final status, once a head was read.
    pub status: Option<u16>,
    /// Header names in order, as received.
    pub header_names: Vec<String>,
    /// How the body was delimited: `none`, `length`, `chunked`, `close`.
    pub framing: Option<&'static str>,
    /// Decoded body length.
    pub body_bytes: u64,
    /// A digest of the decoded body (any fixed-size hash; equal bodies,
    /// equal digests).
    pub body_digest: Vec<u8>,
    /// Linter warning codes, in order.
    pub warnings: Vec<&'static str>,
    /// Why the response could not be read to its end, if it could not.
    pub error: Option<String>,
}

/// What one target did with the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetSummary {
    /// Its responses in the order they came.
    pub responses: Vec<Summary>,
    /// The connection was still open when the reading ended.
    pub connection_open: bool,
    /// What ended the exchange early (connect failure, timeout...).
    pub error: Option<String>,
}

/// The aspect of a response that differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Aspect {
    /// A different number of responses.
    Count,
    /// The status code.
    Status,
    /// Header names, their order or case.
    HeaderNames,
    /// How the body was delimited.
    Framing,
    /// The body bytes.
    Body,
    /// The linter's warnings.
    Warnings,
    /// Whether (and why) the response could not be read.
    Error,
    /// Whether the connection stayed open.
    ConnectionOpen,
    /// Whether (and why) the exchange failed.
    Exchange,
}

impl Aspect {
    /// A stable name for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Count => "response_count",
            Aspect::Status => "status",
            Aspect::HeaderNames => "header_names",
            Aspect::Framing => "framing",
            Aspect::Body => "body",
            Aspect::Warnings => "warnings",
            Aspect::Error => "error",
            Aspect::ConnectionOpen => "connection_open",
            Aspect::Exchange => "exchange",
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way the targets disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The response's position (0-based); `None` for the connection as
    /// a whole.
    pub response: Option<usize>,
    /// What differs.
    pub aspect: Aspect,
    /// Each target's value, in the targets' order (`-` when that target
    /// has no such response).
    pub values: Vec<String>,
}

/// Every difference between the targets; empty when they agree.
pub fn compare(targets: &[TargetSummary]) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut whole = |aspect, value: &dyn Fn(&TargetSummary) -> String| {
        let values: Vec<String> = targets.iter().map(value).collect();
        if values.windows(2).any(|w| w[0] != w[1]) {
            out.push(Difference {
                response: None,
                aspect,
                values,
            });
        }
    };
    whole(Aspect::Exchange, &|t| {
        t.error.clone().unwrap_or_else(|| "ok".into())
    });
    whole(Aspect::Count, &|t| t.responses.len().to_string());
    whole(Aspect::ConnectionOpen, &|t| t.connection_open.to_string());
    let most = targets.iter().map(|t| t.responses.len()).max().unwrap_or(0);
    for i in 0..most {
        let aspects: [(Aspect, Show); 6] = [
            (Aspect::Status, |s| {
                s.status.map_or("-".into(), |c| c.to_string())
            }),
            (Aspect::HeaderNames, |s| s.header_names.join(", ")),
            (Aspect::Framing, |s| s.framing.unwrap_or("-").to_owned()),
            (Aspect::Body, |s| {
                format!("{} bytes, digest {}", s.body_bytes, hex(&s.body_digest))
            }),
            (Aspect::Warnings, |s| s.warnings.join(", ")),
            (Aspect::Error, |s| {
                s.error.clone().unwrap_or_else(|| "none".into())
            }),
        ];
        for (aspect, value) in aspects {
            let values: Vec<String> = targets
                .iter()
                .map(|t| t.responses.get(i).map_or_else(|| "-".to_owned(), value))
                .collect();
            if values.windows(2).any(|w| w[0] != w[1]) {
                out.push(Difference {
                    response: Some(i),
                    aspect,
                    values,
                });
            }
        }
    }
    out
}

/// How one aspect of a response is shown (and compared).
type Show = fn(&Summary) -> String;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, names: &[&str], framing: &'static str) -> Summary {
        Summary {
            status: Some(status),
            header_names: names.iter().map(|s| s.to_string()).collect(),
            framing: Some(framing),
            ..Summary::default()
        }
    }

    #[test]
    fn equal_targets_agree() {
        let t = TargetSummary {
            responses: vec![ok(200, &["Server", "Content-Length"], "length")],
            ..TargetSummary::default()
        };
        assert!(compare(&[t.clone(), t.clone(), t]).is_empty());
    }

    #[test]
    fn each_aspect_is_named_per_response() {
        let a = TargetSummary {
            responses: vec![ok(200, &["Content-Length"], "length")],
            connection_open: true,
            error: None,
        };
        let b = TargetSummary {
            responses: vec![
                ok(200, &["content-length"], "chunked"),
                ok(400, &[], "close"),
            ],
            connection_open: false,
            error: None,
        };
        let d = compare(&[a, b]);
        let got: Vec<(Option<usize>, &str)> =
            d.iter().map(|d| (d.response, d.aspect.name())).collect();
        assert_eq!(
            got,
            [
                (None, "response_count"),
                (None, "connection_open"),
                (Some(0), "header_names"),
                (Some(0), "framing"),
                (Some(1), "status"),
                (Some(1), "header_names"),
                (Some(1), "framing"),
                (Some(1), "body"),
                (Some(1), "warnings"),
                (Some(1), "error"),
            ]
        );
        assert_eq!(d[4].values, ["-", "400"]);
    }
}
