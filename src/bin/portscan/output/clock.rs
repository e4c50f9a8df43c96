//! Wall-clock times as the formats write them: RFC 3339 with milliseconds
//! (JSON Lines), Unix seconds and a `ctime`-style string (nmap's formats).
//! Always UTC, through [`rawnet::utc`], so output does not depend on the
//! machine's time zone.

use std::time::{SystemTime, UNIX_EPOCH};

use rawnet::utc::Utc;

/// Whole seconds since the Unix epoch (0 before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2026-11-21T09:46:38.123Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    Utc::of(t).rfc3339_millis()
}

/// `Sat Nov 21 09:46:38 2026` (UTC), the form nmap's formats use.
pub fn ctime(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Utc::of(t);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[c.weekday as usize],
        MONTHS[c.month as usize - 1],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ctime_and_unix_seconds_of_known_instants() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(ctime(at(0)), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(at(1_795_254_420_007)), "Sat Nov 21 09:47:00 2026");
        // The day after the end of a century leap year.
        assert_eq!(ctime(at(951_868_800_000)), "Wed Mar  1 00:00:00 2000");
        assert_eq!(unix_seconds(at(1_795_254_420_999)), 1_795_254_420);
    }
}
