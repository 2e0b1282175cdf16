//! Retrying what `object_store` does not: it retries a request that fails
//! with a status (throttling, 5xx) or a timeout, but not one whose answer is
//! cut in its body (a reset connection). Reads, part uploads and the start
//! of an upload are safe to repeat, so they are repeated here, with the
//! same backoff settings.

use std::future::Future;
use std::time::Duration;

use crate::config::StorageConfig;

/// Whether `e` is a transport failure worth another attempt, not an answer.
fn is_transient(e: &object_store::Error) -> bool {
    let object_store::Error::Generic { .. } = e else { return false };
    let text = e.to_string();
    ["body error", "connection", "error sending request", "reset", "broken pipe", "timed out", "unexpected eof"]
        .iter()
        .any(|needle| text.to_ascii_lowercase().contains(needle))
}

/// Runs `attempt` until it succeeds, fails with an answer, or `retries` run out.
pub(crate) async fn again<T, F, Fut>(config: &StorageConfig, what: &str, mut attempt: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    let mut wait = Duration::from_millis(config.backoff_initial_ms);
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(e) if tries < config.retries && is_transient(&e) => {
                tries += 1;
                tracing::debug!(what, tries, "retrying after a transport failure: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(config.backoff_max_ms));
            }
            result => return result,
        }
    }
}
