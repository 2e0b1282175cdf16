//! The circuit breaker of a stage: too many failed calls within a window
//! stop the pipeline instead of burning CPU on a broken plugin.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed calls over a sliding time window.
#[derive(Debug)]
pub struct CircuitBreaker {
    limit: u32,
    window: Duration,
    failures: Mutex<VecDeque<Instant>>,
}

impl CircuitBreaker {
    /// A breaker that opens at the `limit`-th failure within `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit: limit.max(1), window, failures: Mutex::new(VecDeque::new()) }
    }

    /// Records a failure now; `true` if that opens the breaker.
    pub fn record(&self) -> bool {
        self.record_at(Instant::now())
    }

    fn record_at(&self, now: Instant) -> bool {
        let mut failures = self.failures.lock().expect("breaker lock");
        while failures.front().is_some_and(|&t| now.duration_since(t) >= self.window) {
            failures.pop_front();
        }
        failures.push_back(now);
        failures.len() >= self.limit as usize
    }

    /// Failures within the window now.
    pub fn recent(&self) -> u32 {
        let now = Instant::now();
        let failures = self.failures.lock().expect("breaker lock");
        failures.iter().filter(|&&t| now.duration_since(t) < self.window).count() as u32
    }

    /// The number of failures that opens it.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_limit_within_the_window_and_forgets_older_failures() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!breaker.record_at(t0));
        assert!(!breaker.record_at(t0 + Duration::from_secs(1)));
        // The first failure has left the window.
        assert!(!breaker.record_at(t0 + Duration::from_secs(10)));
        assert!(breaker.record_at(t0 + Duration::from_millis(10_500)));
    }
}
