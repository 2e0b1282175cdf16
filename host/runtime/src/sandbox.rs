//! What a plugin instance may touch: the WASI context (nothing unless
//! granted), its resource limits, and its rate-limited log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::PluginError;
use super::bindings::{v0_1, v0_2};
use super::compute::Columns;
use super::gauges::Gauges;
use super::grants::{Grants, HttpAllowList};
use super::limits::Limits;
use super::stderr::StderrTail;

/// The state of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: HttpAllowList,
    table: ResourceTable,
    plugin: Arc<str>,
    pub(crate) limits: Limits,
    /// The columns of the current call (contract 0.2).
    pub(crate) columns: Columns,
    /// The plugin's standard error, for failure reports.
    pub(crate) stderr: StderrTail,
    /// Set when the plugin asked for more memory than its limit.
    pub(crate) denied_memory: Option<usize>,
    /// Linear memory granted so far, in bytes.
    pub(crate) memory_bytes: usize,
    pub(crate) gauges: Arc<Gauges>,
    log: LogBucket,
}

impl HostState {
    /// A state granting only `grants`. Without grants: no files, sockets,
    /// HTTP, environment or arguments, stdin empty, output discarded, and
    /// a wall clock frozen at the epoch and a monotonic clock that only
    /// counts its readings.
    pub fn new(plugin: Arc<str>, limits: Limits, grants: &Grants, gauges: Arc<Gauges>) -> Result<Self, PluginError> {
        let stderr = StderrTail::default();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        if !grants.clocks {
            wasi.wall_clock(FrozenClock).monotonic_clock(CountingClock::default());
        }
        for (name, value) in &grants.env {
            wasi.env(name, value);
        }
        for dir in &grants.dirs {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly).map_err(|e| PluginError::Instantiate {
                plugin: plugin.to_string(),
                reason: format!("cannot open granted directory {}: {e:#}", dir.host.display()),
            })?;
        }
        let log = LogBucket::new(limits.log_per_second);
        gauges.started();
        Ok(Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: HttpAllowList::new(&grants.http, plugin.clone()),
            table: ResourceTable::new(),
            plugin,
            limits,
            columns: Columns::default(),
            stderr,
            denied_memory: None,
            memory_bytes: 0,
            gauges,
            log,
        })
    }
}

impl Drop for HostState {
    fn drop(&mut self) {
        self.gauges.ended(self.memory_bytes);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_hooks }
    }
}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.denied_memory = Some(desired);
            return Ok(false);
        }
        self.gauges.grew(desired.saturating_sub(current));
        self.memory_bytes += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.limits.table_elements)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

impl v0_1::wit::Host for HostState {}

impl v0_1::quiver::transform::host::Host for HostState {
    fn log(&mut self, level: v0_1::quiver::transform::host::Level, message: String) {
        self.log(level.into(), message);
    }
}

impl v0_2::wit::Host for HostState {}

impl v0_2::quiver::transform::host::Host for HostState {
    fn log(&mut self, level: v0_2::quiver::transform::host::Level, message: String) -> wasmtime::Result<()> {
        self.log(level.into(), message);
        Ok(())
    }
}

/// A version's log level as tracing's: the enum is the same in every version.
macro_rules! level_into_tracing {
    ($($host:ident)::+) => {
        impl From<$($host)::+::Level> for tracing::Level {
            fn from(level: $($host)::+::Level) -> Self {
                use $($host)::+::Level;
                match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                }
            }
        }
    };
}

level_into_tracing!(v0_1::quiver::transform::host);
level_into_tracing!(v0_2::quiver::transform::host);

impl HostState {
    /// Writes a plugin's message to the host's log, rate-limited and cut.
    fn log(&mut self, level: tracing::Level, message: String) {
        let Some(dropped) = self.log.take() else { return };
        let mut message = message;
        if message.len() > self.limits.log_message_bytes {
            let mut cut = self.limits.log_message_bytes;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("…[cut]");
        }
        let plugin = &*self.plugin;
        if dropped > 0 {
            tracing::warn!(plugin, dropped, "plugin log rate limit: messages dropped");
        }
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            _ => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A token bucket: `rate` messages per second, bursts of `rate`.
struct LogBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl LogBucket {
    fn new(rate: u32) -> Self {
        Self { rate: rate as f64, tokens: rate as f64, last: Instant::now(), dropped: 0 }
    }

    /// `Some(messages dropped since the last one let through)` if this one may pass.
    fn take(&mut self) -> Option<u64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.dropped))
        } else {
            self.dropped += 1;
            None
        }
    }
}

/// A clock stopped at the Unix epoch: plugins get no time unless granted.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that counts its readings instead of telling time: each
/// reading is one microsecond after the last, from one second. Go's runtime
/// aborts on a monotonic clock that reads zero or stands still, and a count
/// of readings tells a plugin nothing about real time.
#[derive(Default)]
struct CountingClock {
    readings: std::sync::atomic::AtomicU64,
}

impl HostMonotonicClock for CountingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        let n = self.readings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        1_000_000_000 + n * 1_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bucket_lets_a_burst_through_then_counts_drops() {
        let mut bucket = LogBucket::new(3);
        assert_eq!((0..3).filter_map(|_| bucket.take()).count(), 3);
        assert!(bucket.take().is_none());
        assert!(bucket.take().is_none());
        bucket.tokens = 1.0;
        assert_eq!(bucket.take(), Some(2));
    }
}
