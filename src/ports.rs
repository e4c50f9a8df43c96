//! (skeleton: filled in by the portscan work)
