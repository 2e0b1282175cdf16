//! Progress of a run: a live line on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Counts rows and bytes as they reach the sinks and reports them.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    /// Rows read from the source so far.
    pub rows_in: u64,
    /// Arrow bytes read from the source so far.
    pub bytes_in: u64,
    /// Rows written to the sink so far.
    pub rows_out: u64,
    /// Rows written to the dead-letter output so far.
    pub rows_rejected: u64,
}

impl Progress {
    /// A bar on standard error when it is a terminal and `show` is set.
    pub fn new(show: bool) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self { bar, started: now, last_log: now, rows_in: 0, bytes_in: 0, rows_out: 0, rows_rejected: 0 }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reports the counters: on the bar, or in the log every five seconds.
    pub fn update(&mut self) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let message = format!(
            "{} rows in ({:.0} rows/s, {:.1} MB/s) · {} out · {} rejected",
            self.rows_in,
            self.rows_in as f64 / secs,
            self.bytes_in as f64 / secs / 1e6,
            self.rows_out,
            self.rows_rejected
        );
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.last_log.elapsed() >= Duration::from_secs(5) => {
                self.last_log = Instant::now();
                tracing::info!("{message}");
            }
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
