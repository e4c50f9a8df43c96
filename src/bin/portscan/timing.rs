//! nmap's timing templates (`-T0`..`-T5`) in portscan's terms: each sets
//! the connect timeout, its floor, the retries, the connects in flight
//! and the rate. Flags given explicitly win over the template, as in
//! nmap. `-T3` ("normal", nmap's default) is portscan's defaults.
//!
//! nmap's templates also set delays between probes (5 minutes for
//! paranoid, 15 s for sneaky, 0.4 s for polite). portscan's slowest pace is
//! one connect per second (`--rate 1`) with one in flight, so `-T0` and
//! `-T1` are the same here: as slow and patient as portscan goes.

/// One template's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// nmap's name for it.
    pub name: &'static str,
    /// `--timeout`, milliseconds.
    pub timeout_ms: u64,
    /// `--min-timeout`, milliseconds.
    pub min_timeout_ms: u64,
    /// `--retries`.
    pub retries: u32,
    /// `--concurrency`: the ceiling of the adaptive window (the window
    /// itself starts at `scan::INITIAL_WINDOW` and grows while answers
    /// come; see the scan module), so the fast templates share portscan's
    /// default ceiling.
    pub concurrency: u32,
    /// `--rate`, or no limit.
    pub rate: Option<u32>,
}

/// `-T0` .. `-T5`, by number (docs/portscan-timing.md's table is this one).
pub const TEMPLATES: [Template; 6] = [
    Template {
        name: "paranoid",
        timeout_ms: 10_000,
        min_timeout_ms: 1000,
        retries: 10,
        concurrency: 1,
        rate: Some(1),
    },
    Template {
        name: "sneaky",
        timeout_ms: 10_000,
        min_timeout_ms: 1000,
        retries: 10,
        concurrency: 1,
        rate: Some(1),
    },
    Template {
        name: "polite",
        timeout_ms: 10_000,
        min_timeout_ms: 100,
        retries: 10,
        concurrency: 1,
        rate: Some(2),
    },
    Template {
        name: "normal",
        timeout_ms: 1000,
        min_timeout_ms: 100,
        retries: 1,
        concurrency: crate::cli::DEFAULT_CONCURRENCY,
        rate: None,
    },
    Template {
        name: "aggressive",
        timeout_ms: 500,
        min_timeout_ms: 100,
        retries: 1,
        concurrency: crate::cli::DEFAULT_CONCURRENCY,
        rate: None,
    },
    Template {
        name: "insane",
        timeout_ms: 250,
        min_timeout_ms: 50,
        retries: 0,
        concurrency: crate::cli::DEFAULT_CONCURRENCY,
        rate: None,
    },
];

/// The template used without `-T` (its number).
pub const DEFAULT: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_faster_and_less_patient() {
        for pair in TEMPLATES.windows(2) {
            let (slow, fast) = (pair[0], pair[1]);
            assert!(fast.timeout_ms <= slow.timeout_ms, "{}", fast.name);
            assert!(fast.retries <= slow.retries, "{}", fast.name);
            assert!(fast.concurrency >= slow.concurrency, "{}", fast.name);
            assert!(fast.min_timeout_ms <= fast.timeout_ms);
        }
        assert_eq!(TEMPLATES[usize::from(DEFAULT)].name, "normal");
    }
}
