//! `--waterfall`: one run's phases drawn as bars on a shared time axis,
//! on stderr (stdout keeps the exact bytes): name resolution, every
//! connect attempt with its address and result, the TLS handshake, then
//! each request and its response (`.` waiting for the first byte, `#`
//! receiving). With `-L`, each hop of the redirect chain gets a chart of
//! its own ([`draw_hop`]): its connection and its one exchange.

use std::io::{self, Write};
use std::time::Duration;

use rawnet::http::timeline::{AttemptResult, Timeline};
use rawnet::sanitize::escape_str;

use crate::workbench::Run;

/// Columns of the time axis.
const WIDTH: usize = 50;

/// Draws `run`.
pub fn draw(out: &mut dyn Write, run: &Run) -> io::Result<()> {
    let t = &run.timeline;
    let responses = run.responses();
    let end = responses
        .iter()
        .filter_map(|r| r.timing.last_byte.or(r.timing.first_byte))
        .chain(connection_ends(t))
        .max()
        .unwrap_or(run.exchange.timing.total);
    let mut chart = Chart::new(&run.plan.label, end);
    chart.connection(t);
    let sent = |q: usize| run.outcome.as_ref().and_then(|o| o.sent.get(q));
    for (i, r) in responses.iter().enumerate() {
        let request = r.request.map(|q| &run.plan.requests()[q]);
        let name = match request {
            Some(q) => format!("#{} {} {}", i + 1, q.method, q.target_text(&run.plan.input)),
            None => format!("#{} (unrequested)", i + 1),
        };
        let status = r
            .head
            .as_ref()
            .map_or_else(|| "no head".to_owned(), |h| h.status.to_string());
        let sent_at = r.request.and_then(sent).or(r.timing.first_byte);
        let note = match &r.stopped {
            Some(s) => format!("{status} stopped: {}", s.error),
            None => status,
        };
        chart.row(
            escape_str(&name).chars().take(34).collect(),
            sent_at,
            r.timing.first_byte,
            r.timing.last_byte,
            note,
        );
    }
    out.write_all(chart.text.as_bytes())
}

/// Draws one hop of a redirect chain (`-L --waterfall`): its connection
/// and its one exchange, on the hop's own time axis.
pub fn draw_hop(
    out: &mut dyn Write,
    label: &str,
    t: &Timeline,
    status: Option<u16>,
    total: Duration,
) -> io::Result<()> {
    let end = connection_ends(t)
        .chain(t.last_byte)
        .chain(t.first_byte)
        .max()
        .unwrap_or(total);
    let mut chart = Chart::new(label, end);
    chart.connection(t);
    let note = status.map_or_else(|| "no head".to_owned(), |s| s.to_string());
    chart.row("request".into(), t.sent, t.first_byte, t.last_byte, note);
    out.write_all(chart.text.as_bytes())
}

/// When the connection phases of `t` ended.
fn connection_ends(t: &Timeline) -> impl Iterator<Item = Duration> + '_ {
    t.attempts
        .iter()
        .filter_map(|a| Some(a.start + a.duration?))
        .chain(t.tls.end)
        .chain(t.dns.end)
}

/// Rows of bars on one time axis, from 0 to `end`.
struct Chart {
    end: Duration,
    text: String,
}

impl Chart {
    fn new(label: &str, end: Duration) -> Chart {
        let end = end.max(Duration::from_micros(1));
        let text = format!(
            "{}  (0 to {:.3} ms, {:.3} ms a column)\n",
            escape_str(label),
            ms(end),
            ms(end) / WIDTH as f64
        );
        Chart { end, text }
    }

    /// Name resolution, every connect attempt with its address and
    /// result, the TLS handshake.
    fn connection(&mut self, t: &Timeline) {
        self.row("dns".into(), t.dns.start, None, t.dns.end, String::new());
        for a in &t.attempts {
            let note = match &a.result {
                AttemptResult::Failed(e) => format!("failed: {e}"),
                r => r.name().to_owned(),
            };
            self.row(
                format!("connect {}", a.addr),
                Some(a.start),
                None,
                a.duration.map(|d| a.start + d),
                note,
            );
        }
        self.row("tls".into(), t.tls.start, None, t.tls.end, String::new());
    }

    /// One bar: `.` from `start` to `wait` (waiting), `#` to `stop`.
    fn row(
        &mut self,
        name: String,
        start: Option<Duration>,
        wait: Option<Duration>,
        stop: Option<Duration>,
        note: String,
    ) {
        let Some(start) = start else { return };
        let end = self.end;
        let stop = stop.unwrap_or(end);
        let col = |d: Duration| ((d.as_secs_f64() / end.as_secs_f64()) * WIDTH as f64) as usize;
        let (a, b) = (
            col(start).min(WIDTH - 1),
            col(stop).clamp(col(start).min(WIDTH - 1) + 1, WIDTH),
        );
        // A response that arrived shows at least one column of receiving.
        let w = wait.map_or(a, |w| col(w).clamp(a, b - 1));
        let mut bar = String::with_capacity(WIDTH);
        for i in 0..WIDTH {
            bar.push(match i {
                i if i < a || i >= b => ' ',
                i if i < w => '.',
                _ => '#',
            });
        }
        self.text.push_str(&format!(
            "  {name:<34} |{bar}| {:>9.3} ms {note}\n",
            ms(stop.saturating_sub(start))
        ));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
