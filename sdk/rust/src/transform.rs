//! Whole-batch transforms and the plugin that offers them.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

pub use quiver_abi::TransformKind;

use crate::{Config, ConfigKey, Error};

/// A row the transform refuses, with the reason the user will see in the
/// dead-letter output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the row in the input batch.
    pub row: u32,
    /// Why it was refused.
    pub reason: String,
}

impl Rejection {
    /// Refuses input row `row`.
    pub fn new(row: usize, reason: impl Into<String>) -> Self {
        Self { row: row as u32, reason: reason.into() }
    }
}

/// The result of one call: a batch of the bound output schema and the rows refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The transformed rows.
    pub batch: RecordBatch,
    /// The input rows refused, in any order.
    pub rejections: Vec<Rejection>,
    /// For each output row, the input row it comes from. `None` means: the
    /// input rows in order, less the rejected ones.
    pub origin: Option<Vec<u32>>,
}

impl Output {
    /// An output whose rows are the input rows, in order, with none refused.
    pub fn new(batch: RecordBatch) -> Self {
        Self { batch, rejections: Vec::new(), origin: None }
    }

    /// Adds refused rows; the batch must hold the other input rows, in order.
    pub fn with_rejections(mut self, rejections: Vec<Rejection>) -> Self {
        self.rejections = rejections;
        self
    }

    /// Says which input row each output row comes from.
    pub fn with_origin(mut self, origin: Vec<u32>) -> Self {
        self.origin = Some(origin);
        self
    }
}

/// A transform over whole record batches. One value serves one configured
/// transform on one stream; the host calls `bind` once, then `process` per
/// batch, then `finish`.
pub trait Transform {
    /// Checks the input schema and returns the output schema, before any data.
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error>;

    /// Transforms one batch of the bound input schema.
    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error>;

    /// Ends the stream; stateful transforms return what they hold.
    fn finish(&mut self) -> Result<Option<Output>, Error> {
        Ok(None)
    }
}

/// The description of one transform a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformSpec {
    /// The name used in the pipeline file's `transform` key.
    pub name: String,
    /// What it does to the stream.
    pub kind: TransformKind,
    /// One line for `quiver plugin inspect`.
    pub description: String,
    /// The configuration keys it accepts.
    pub config_keys: Vec<ConfigKey>,
}

impl TransformSpec {
    /// Describes a transform of any kind.
    pub fn new(name: &str, kind: TransformKind, description: &str) -> Self {
        Self { name: name.into(), kind, description: description.into(), config_keys: Vec::new() }
    }

    /// Describes a map transform.
    pub fn map(name: &str, description: &str) -> Self {
        Self::new(name, TransformKind::Map, description)
    }

    /// Describes a filter.
    pub fn filter(name: &str, description: &str) -> Self {
        Self::new(name, TransformKind::Filter, description)
    }

    /// Describes an aggregate.
    pub fn aggregate(name: &str, description: &str) -> Self {
        Self::new(name, TransformKind::Aggregate, description)
    }

    /// Adds an accepted configuration key.
    pub fn key(mut self, key: ConfigKey) -> Self {
        self.config_keys.push(key);
        self
    }
}

type Factory = Box<dyn Fn(&Config) -> Result<Box<dyn Transform>, Error>>;

/// A plugin: its description and the transforms it offers.
pub struct Plugin {
    /// The plugin's name.
    pub name: String,
    /// Its version (semver).
    pub version: String,
    /// One line about it.
    pub description: String,
    transforms: Vec<(TransformSpec, Factory)>,
}

impl Plugin {
    /// A plugin with no transforms yet.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self { name: name.into(), version: version.into(), description: description.into(), transforms: Vec::new() }
    }

    /// Offers a whole-batch transform, built from its checked configuration.
    pub fn transform<T, F>(mut self, spec: TransformSpec, factory: F) -> Self
    where
        T: Transform + 'static,
        F: Fn(&Config) -> Result<T, Error> + 'static,
    {
        let factory: Factory = Box::new(move |config| Ok(Box::new(factory(config)?) as Box<dyn Transform>));
        self.transforms.push((spec, factory));
        self
    }

    /// The transforms offered.
    pub fn specs(&self) -> impl Iterator<Item = &TransformSpec> {
        self.transforms.iter().map(|(spec, _)| spec)
    }

    /// Opens a transform with a configuration, as the host does; `name` may
    /// be omitted when the plugin offers exactly one transform. Also the way
    /// to run a plugin natively, in its own tests and benchmarks.
    pub fn open(&self, name: Option<&str>, config: &[(String, String)]) -> Result<Box<dyn Transform>, Error> {
        let (spec, factory) = match name {
            Some(name) if !name.is_empty() => {
                self.transforms.iter().find(|(s, _)| s.name == name).ok_or_else(|| {
                    Error::config(format!(
                        "plugin `{}` has no transform `{name}`; it offers: {}",
                        self.name,
                        self.names()
                    ))
                })?
            }
            _ => match self.transforms.as_slice() {
                [only] => only,
                _ => {
                    return Err(Error::config(format!(
                        "plugin `{}` offers several transforms, name one of: {}",
                        self.name,
                        self.names()
                    )));
                }
            },
        };
        factory(&Config::check(&spec.name, &spec.config_keys, config)?)
    }

    fn names(&self) -> String {
        self.transforms.iter().map(|(s, _)| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}
