//! UTC calendar times as the tools write and read them: RFC 3339 (with or
//! without milliseconds) and the parts nmap's `ctime`-style strings need.
//!
//! The calendar arithmetic is the `time` crate's (already a dependency of
//! the cookie code), so portscan's output clock, its `--merge` reader,
//! rawget's HAR file and its certificate dates agree on one conversion
//! rather than each carrying its own. Always UTC: no time-zone database is
//! read, so output does not depend on the machine.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A UTC calendar time, to the millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// The year (proleptic Gregorian).
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
    /// 0 to 999.
    pub millis: u16,
    /// 0 = Sunday.
    pub weekday: u8,
}

impl Utc {
    /// `t` in UTC; a time before the epoch counts as the epoch.
    pub fn of(t: SystemTime) -> Utc {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
        let mut utc = Utc::from_unix(secs).unwrap_or(Utc::from_unix(0).expect("the epoch"));
        utc.millis = since.subsec_millis() as u16;
        utc
    }

    /// `secs` seconds from the epoch (negative: before it); `None` beyond
    /// the years -9999..=9999.
    pub fn from_unix(secs: i64) -> Option<Utc> {
        let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
        Some(Utc {
            year: t.year(),
            month: u8::from(t.month()),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millis: 0,
            weekday: t.weekday().number_days_from_sunday(),
        })
    }

    /// `2026-11-21T09:46:38Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-11-21T09:46:38.123Z`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Reads an RFC 3339 time in UTC written with `Z`, as portscan writes it
/// (`2026-11-21T09:46:38.123Z`, fraction optional); `None` for any other
/// form, an impossible date, or a time before the epoch.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    // `time` also takes offsets, lower-case letters and a space for `T`:
    // portscan's records never have them.
    if b.len() < 20 || b[10] != b'T' || *b.last()? != b'Z' {
        return None;
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let nanos = u64::try_from(t.unix_timestamp_nanos()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn known_instants() {
        assert_eq!(Utc::of(at(0)).rfc3339_millis(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Utc::of(at(0)).weekday, 4);
        assert_eq!(
            Utc::of(at(1_795_254_420_007)).rfc3339_millis(),
            "2026-11-21T09:47:00.007Z"
        );
        // A leap day, and the day after the end of a century leap year.
        assert_eq!(
            Utc::of(at(951_782_400_999)).rfc3339_millis(),
            "2000-02-29T00:00:00.999Z"
        );
        assert_eq!(Utc::of(at(951_868_800_000)).weekday, 3);
        let u = Utc::from_unix;
        assert_eq!(u(0).unwrap().rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(u(951_782_400).unwrap().rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(u(4_102_444_799).unwrap().rfc3339(), "2099-12-31T23:59:59Z");
        assert_eq!(u(-86_400).unwrap().rfc3339(), "1969-12-31T00:00:00Z");
        assert_eq!(u(i64::MAX), None);
    }

    #[test]
    fn rfc3339_round_trip_and_refusals() {
        let t = parse_rfc3339("2026-11-21T09:46:38.123Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            1_795_254_398_123
        );
        assert_eq!(Utc::of(t).rfc3339_millis(), "2026-11-21T09:46:38.123Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-21 09:46:38Z",
            "2026-11-21t09:46:38Z",
            "2026-11-21T09:46:38.Z",
            "2026-11-21T09:46:38+01:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}
