//! The audit log: one JSON line per change of what runs (the sidecar's
//! deploys, aliases, pins, rollbacks, canaries and unloads; a pipeline's
//! plugin swaps), appended to a file or written to standard output. Each
//! entry is on disk (synced) before the change is made: a change that
//! cannot be recorded is refused, so none happens unrecorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Why the audit log cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log {}: {source}; fix it (the change was not made)", path.display())]
    /// The file cannot be opened or written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("the audit log {}: cannot read it back: {source}", path.display())]
    /// The file cannot be read back.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("the audit log goes to standard output: read it there")]
    /// Written to standard output, so not kept here to read back.
    Stdout,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, in RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The name of the token that asked, or what did: `watch`, `SIGHUP`.
    pub by: String,
    /// `deploy`, `canary`, `alias`, `pin`, `unpin`, `rollback`, `unload`, `swap`.
    pub action: String,
    /// The plugin (served name, or `transform #N (name)` in a pipeline).
    pub plugin: String,
    /// The version it runs after the change.
    pub version: Option<String>,
    /// The version it ran before.
    pub previous: Option<String>,
    /// The SHA-256 of the new version's component.
    pub sha256: Option<String>,
    /// The SHA-256 of the previous version's component.
    pub previous_sha256: Option<String>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(by: &str, action: &str, plugin: &str) -> Self {
        Self {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            by: by.into(),
            action: action.into(),
            plugin: plugin.into(),
            version: None,
            previous: None,
            sha256: None,
            previous_sha256: None,
        }
    }
}

enum Target {
    File { path: PathBuf, file: Option<std::fs::File> },
    Stdout,
}

/// An open audit log.
pub struct AuditLog {
    target: Mutex<Target>,
}

impl AuditLog {
    /// The log at `path`, `-` for standard output. The file is created if
    /// missing and must be writable now, so a bad path stops the start.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        if path == Path::new("-") {
            return Ok(Self { target: Mutex::new(Target::Stdout) });
        }
        let file = append(path)?;
        Ok(Self { target: Mutex::new(Target::File { path: path.to_owned(), file: Some(file) }) })
    }

    /// Appends `entry` and syncs it to disk. On failure nothing may change.
    pub fn record(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(entry).expect("an entry serializes");
        line.push(b'\n');
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|source| AuditError::Write { path: "-".into(), source })
            }
            Target::File { path, file } => {
                // Reopened for each entry when the last write failed, so a
                // fixed file (space freed, permissions back) is used again.
                let handle = match file {
                    Some(handle) => handle,
                    None => file.insert(append(path)?),
                };
                let written = handle.write_all(&line).and_then(|()| handle.sync_data());
                written.map_err(|source| {
                    *file = None;
                    AuditError::Write { path: path.clone(), source }
                })
            }
        }
    }

    /// Every entry so far, oldest first; the last `limit` when given.
    pub fn read(&self, limit: Option<usize>) -> Result<Vec<AuditEntry>, AuditError> {
        let path = match &*self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Stdout => return Err(AuditError::Stdout),
            Target::File { path, .. } => path.clone(),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| AuditError::Read { path: path.clone(), source })?;
        // A line that does not parse (written by hand, cut by a full disk) is
        // skipped rather than hiding every entry after it.
        let entries: Vec<AuditEntry> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let skip = limit.map_or(0, |n| entries.len().saturating_sub(n));
        Ok(entries.into_iter().skip(skip).collect())
    }
}

fn append(path: &Path) -> Result<std::fs::File, AuditError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| AuditError::Write { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "not json\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        let mut entry = AuditEntry::now("ops", "deploy", "enrich");
        entry.version = Some("0.2.0".into());
        log.record(&entry).unwrap();
        log.record(&AuditEntry::now("ops", "rollback", "enrich")).unwrap();
        let read = log.read(None).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], entry);
        assert_eq!(log.read(Some(1)).unwrap()[0].action, "rollback");
        let e = AuditLog::open(&dir.path().join("missing/audit.jsonl")).err().unwrap().to_string();
        assert!(e.contains("missing/audit.jsonl"), "{e}");
    }
}
