//! Every problem of a pipeline or server file, found when it is parsed and
//! before anything is built, each reported with its key and its line.

use std::fmt;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// Where a key is: how the user reads it (`[sink] target_file_bytes`), and
/// its path through the file's tables, to find its line.
#[derive(Debug, Clone)]
pub struct At {
    shown: String,
    path: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

impl At {
    /// A table, shown as `[name]`; dots in `name` step into inner tables (`plugin.gcd`).
    pub fn table(name: &str) -> Self {
        Self { shown: format!("[{name}]"), path: name.split('.').map(|k| Step::Key(k.into())).collect() }
    }

    /// Element `index` of the array of tables `name` (`[[name]]`), shown as `shown`.
    pub fn element(name: &str, index: usize, shown: String) -> Self {
        Self { shown, path: vec![Step::Key(name.into()), Step::Index(index)] }
    }

    /// A key at the top of the file.
    pub fn top(key: &str) -> Self {
        Self { shown: key.into(), path: key.split('.').map(|k| Step::Key(k.into())).collect() }
    }

    /// Key `key` of this table; dots in `key` step into inner tables (`limits.memory_mb`).
    pub fn key(&self, key: &str) -> Self {
        let mut path = self.path.clone();
        path.extend(key.split('.').map(|k| Step::Key(k.into())));
        Self { shown: format!("{} {key}", self.shown), path }
    }
}

/// One thing wrong with a file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The key at fault, as the user reads it.
    pub key: String,
    /// Its line in the file (or that of its table, for a key left out).
    pub line: Option<usize>,
    /// What is wrong, and what to do.
    pub message: String,
}

/// Collects the problems of one file, to report them all at once.
#[derive(Debug, Default)]
pub struct Problems {
    found: Vec<(At, String)>,
}

impl Problems {
    /// Records that the key `at` is wrong, and why.
    pub fn add(&mut self, at: &At, message: impl Into<String>) {
        self.found.push((at.clone(), message.into()));
    }

    /// Records the problems of the `storage` table of the table at `at`.
    pub fn add_storage(&mut self, at: &At, storage: &quiver_storage::StorageConfig) {
        for (key, message) in storage.problems() {
            self.add(&at.key(&format!("storage.{key}")), message);
        }
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The problems, with the lines they stand at in `text` (the file's
    /// text, when the settings came from one).
    pub fn located(self, text: Option<&str>) -> Vec<Problem> {
        let document = text.and_then(|t| DeTable::parse(t).ok().map(|d| (t, d)));
        self.found
            .into_iter()
            .map(|(at, message)| Problem {
                line: document.as_ref().and_then(|(text, d)| line_of(text, d.get_ref(), &at.path)),
                key: at.shown,
                message,
            })
            .collect()
    }
}

/// The line of the deepest step of `path` that the file holds.
fn line_of(text: &str, table: &DeTable<'_>, path: &[Step]) -> Option<usize> {
    let mut offset = None;
    let mut value: Option<&DeValue<'_>> = None;
    for step in path {
        let next = match (step, value) {
            (Step::Key(k), None) => find(table, k),
            (Step::Key(k), Some(DeValue::Table(t))) => find(t, k),
            (Step::Index(i), Some(DeValue::Array(a))) => a.get(*i).map(|v| (v.span().start, v.get_ref())),
            _ => None,
        };
        let Some((at, v)) = next else { break };
        offset = Some(at);
        value = Some(v);
    }
    offset.map(|o| text[..o].matches('\n').count() + 1)
}

fn find<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<(usize, &'a DeValue<'i>)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(k, v)| (k.span().start, v.get_ref()))
}

/// Why a pipeline or server file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type, or a key is unknown.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with the line.
        message: String,
    },
    /// Settings no run can use: every one found, each with its key and line.
    #[error("{}", Listed { path, problems })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problems: Vec<Problem>,
    },
}

struct Listed<'a> {
    path: &'a PathBuf,
    problems: &'a [Problem],
}

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |f: &mut fmt::Formatter<'_>, p: &Problem| match p.line {
            Some(line) => write!(f, "line {line}: {}: {}", p.key, p.message),
            None => write!(f, "{}: {}", p.key, p.message),
        };
        match self.problems {
            [p] => {
                write!(f, "{}, ", self.path.display())?;
                one(f, p)
            }
            problems => {
                write!(f, "{} has {} problems:", self.path.display(), problems.len())?;
                for p in problems {
                    f.write_str("\n  ")?;
                    one(f, p)?;
                }
                Ok(())
            }
        }
    }
}

impl ConfigError {
    /// The problems of `file`, an error unless there are none.
    pub fn check(file: &std::path::Path, text: Option<&str>, problems: Problems) -> Result<(), Self> {
        if problems.is_empty() {
            return Ok(());
        }
        Err(Self::Invalid { path: file.to_owned(), problems: problems.located(text) })
    }
}
