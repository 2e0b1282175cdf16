//! Errors a plugin returns to the host.

use std::fmt;

use arrow_schema::ArrowError;

/// Why a call failed as a whole; mirrors `error-kind` in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration cannot be used.
    InvalidConfig,
    /// The input schema cannot be accepted.
    SchemaMismatch,
    /// The host called in the wrong order or sent data that does not match.
    InvalidCall,
    /// The transform itself failed.
    Failed,
}

/// An error returned to the host; its message is shown to the user with the
/// plugin's name, so say what is wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong, broadly.
    pub kind: ErrorKind,
    /// What went wrong, for a person.
    pub message: String,
}

impl Error {
    /// A configuration the transform cannot use.
    pub fn config(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidConfig, message: message.into() }
    }

    /// An input schema the transform cannot accept.
    pub fn schema(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::SchemaMismatch, message: message.into() }
    }

    /// A call out of order or with data that does not match.
    pub fn invalid_call(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidCall, message: message.into() }
    }

    /// A failure of the transform itself.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Failed, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        Self::failed(e.to_string())
    }
}
