//! Following a subject's latest version: which message is the first one
//! written after a producer registered a newer version than the reader's.

use std::collections::HashSet;
use std::sync::Arc;

use crate::client::{Registered, Registry};
use crate::frame;

/// Watches the schema ids of a subject's messages for a version newer
/// than the reader's. The subject is asked for its latest version once per
/// schema id met for the first time, never per message.
#[derive(Debug)]
pub struct Follower {
    registry: Arc<Registry>,
    reader: Registered,
    /// Ids met already: the reader's, and those that brought no newer version.
    seen: HashSet<u32>,
}

impl Follower {
    /// Follows `reader`'s subject from `reader`'s version on.
    pub fn new(registry: Arc<Registry>, reader: Registered) -> Self {
        let seen = HashSet::from([reader.id]);
        Self { registry, reader, seen }
    }

    /// The subject's latest version when `value` is framed with a schema
    /// id met for the first time and that version is newer than the
    /// reader's: the message is the first one the new schema must read.
    /// A value that is not framed, or a registry that does not answer,
    /// moves nothing (the decoder sends such a message to the dead letters).
    pub async fn newer(&mut self, value: Option<&[u8]>) -> Option<Registered> {
        let Ok((id, _)) = frame::split(value) else { return None };
        if !self.seen.insert(id) {
            return None;
        }
        match self.registry.version(&self.reader.subject, None).await {
            Ok(latest) if latest.version > self.reader.version => Some(latest),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(
                    subject = self.reader.subject,
                    "cannot ask the registry for the subject's latest version; staying on version {}: {e}",
                    self.reader.version
                );
                None
            }
        }
    }
}
