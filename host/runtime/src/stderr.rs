//! A plugin's standard error, kept as its last few KiB: when a call fails,
//! what the plugin printed (a Python traceback, a Rust panic message) goes
//! into the report. It is never a channel to the host's own stderr.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Bytes of standard error kept per instance.
const KEPT: usize = 4096;

/// The tail of one instance's standard error; clones share it.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<u8>>>);

impl StderrTail {
    /// Forgets what was written so far.
    pub(crate) fn clear(&self) {
        self.0.lock().expect("stderr lock").clear();
    }

    /// What was written since the last [`clear`](Self::clear), at most the last 4 KiB, trimmed.
    pub(crate) fn text(&self) -> String {
        let tail = self.0.lock().expect("stderr lock");
        let (a, b) = tail.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).trim().to_string()
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().expect("stderr lock");
        let bytes = &bytes[bytes.len().saturating_sub(KEPT)..];
        let excess = (tail.len() + bytes.len()).saturating_sub(KEPT);
        tail.drain(..excess);
        tail.extend(bytes);
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_bytes() {
        let tail = StderrTail::default();
        tail.push(&vec![b'a'; KEPT]);
        tail.push(b"\nTraceback: boom\n");
        let text = tail.text();
        assert!(text.ends_with("Traceback: boom") && text.len() < KEPT, "{}", text.len());
        tail.clear();
        assert_eq!(tail.text(), "");
    }
}
