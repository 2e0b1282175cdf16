//! Why the registry could not answer what was asked, naming the registry,
//! the subject or the schema id.

/// A schema registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry did not answer.
    #[error("the schema registry at {url} cannot be reached: {reason}; {hint}")]
    Unreachable {
        /// The registry's URL.
        url: String,
        /// Why.
        reason: String,
        /// What to check.
        hint: &'static str,
    },
    /// The registry refused the credentials.
    #[error("the schema registry at {url} refused the credentials ({status}): {hint}")]
    Refused {
        /// The registry's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What to check: the variable the credential came from, or that one is needed.
        hint: String,
    },
    /// The subject, or its version, is not registered.
    #[error("the schema registry at {url} has no subject `{subject}`{version}: {hint}")]
    NoSubject {
        /// The registry's URL.
        url: String,
        /// The subject.
        subject: String,
        /// ` version N`, or empty.
        version: String,
        /// What to do.
        hint: &'static str,
    },
    /// No schema has this id.
    #[error("schema id {id} is not in the schema registry at {url}")]
    NoSchema {
        /// The registry's URL.
        url: String,
        /// The id.
        id: u32,
    },
    /// The registry refused to register the output's schema under the
    /// subject: its compatibility rule, or an invalid schema.
    #[error("the schema registry refused the output's schema for subject `{subject}`: {message}")]
    Incompatible {
        /// The subject.
        subject: String,
        /// What the registry said (it names the field).
        message: String,
    },
    /// The registry answered something else.
    #[error("the schema registry at {url} answered {status}: {message}")]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// A schema the registry holds is not one this decoder can read.
    #[error("subject `{subject}`: {reason}")]
    Schema {
        /// The subject (or `schema id N`).
        subject: String,
        /// Why.
        reason: String,
    },
    /// An Avro schema given in the pipeline file cannot be read.
    #[error("{origin}: {reason}")]
    Given {
        /// The key, or the file, that gave it.
        origin: String,
        /// Why.
        reason: String,
    },
    /// The configuration cannot work (a CA file that does not load, …).
    #[error("`{key}`: {reason}")]
    Config {
        /// The key at fault.
        key: &'static str,
        /// Why.
        reason: String,
    },
}
