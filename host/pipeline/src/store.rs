//! Where data lives: a path, a directory or a glob, resolved to an
//! `object_store` and a location in it. Sources and sinks only ever talk to
//! the `ObjectStore` trait, so remote stores slot in here.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

/// A resolved location.
#[derive(Clone)]
pub struct Location {
    /// The store holding the data.
    pub store: Arc<dyn ObjectStore>,
    /// The object, or the prefix under which to list (the part before any glob).
    pub path: ObjectPath,
    /// When the location is a glob: the pattern objects must match.
    pub glob: Option<GlobMatcher>,
    /// The location as the user wrote it, resolved, for messages.
    pub display: String,
}

/// Why a location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("`{0}`: object store URLs other than file:// are not supported yet; use a local path")]
    /// The URL's scheme names an object store this build does not reach.
    UnsupportedScheme(String),
    #[error("`{location}` is not a valid path: {reason}")]
    /// The location cannot be parsed.
    Invalid {
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
}

/// Resolves `location`, relative to `base` unless absolute.
pub fn resolve(base: &Path, location: &str) -> Result<Location, LocationError> {
    let local = match location.split_once("://") {
        Some(("file", rest)) => PathBuf::from(rest),
        Some(_) => return Err(LocationError::UnsupportedScheme(location.to_string())),
        None => base.join(location),
    };
    let absolute = normalize(&local);
    let invalid = |reason: String| LocationError::Invalid { location: location.to_string(), reason };
    let text = absolute.to_str().ok_or_else(|| invalid("not UTF-8".into()))?;
    let glob_at = text.find(['*', '?', '[', '{']);
    let (prefix, glob) = match glob_at {
        Some(at) => {
            let dir_end = text[..at].rfind('/').unwrap_or(0);
            let pattern = Glob::new(text.trim_start_matches('/')).map_err(|e| invalid(e.to_string()))?;
            (PathBuf::from(&text[..dir_end.max(1)]), Some(pattern.compile_matcher()))
        }
        None => (absolute.clone(), None),
    };
    let path = ObjectPath::from_absolute_path(&prefix).map_err(|e| invalid(e.to_string()))?;
    Ok(Location { store: Arc::new(LocalFileSystem::new()), path, glob, display: absolute.display().to_string() })
}

/// Makes a path absolute and removes `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    out
}

/// Whether an object is data, not a marker or a hidden file (`_SUCCESS`,
/// `.crc`, staging files), by the convention Spark and pyarrow follow.
pub fn is_data_object(path: &ObjectPath) -> bool {
    path.filename().is_some_and(|name| !name.starts_with('_') && !name.starts_with('.') && !name.contains('#'))
}

/// An object's path as a file system path, for messages and the dead-letter output.
pub fn display_path(path: &object_store::path::Path) -> String {
    format!("/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_list_from_the_directory_before_the_first_wildcard() {
        let l = resolve(Path::new("/data"), "clicks/2024-*/part-*.parquet").unwrap();
        assert_eq!(l.path.as_ref(), "data/clicks");
        let glob = l.glob.unwrap();
        assert!(glob.is_match("data/clicks/2024-01/part-0.parquet"));
        assert!(!glob.is_match("data/clicks/2023-01/part-0.parquet"));
    }

    #[test]
    fn relative_paths_resolve_against_the_base_and_dots_collapse() {
        let l = resolve(Path::new("/srv/pipelines"), "../out/./enriched/").unwrap();
        assert_eq!(l.path.as_ref(), "srv/out/enriched");
        assert!(l.glob.is_none());
        assert!(matches!(resolve(Path::new("/"), "s3://bucket/x"), Err(LocationError::UnsupportedScheme(_))));
    }

    #[test]
    fn markers_and_hidden_files_are_not_data() {
        assert!(is_data_object(&ObjectPath::from("a/part-0.parquet")));
        assert!(!is_data_object(&ObjectPath::from("a/_SUCCESS")));
        assert!(!is_data_object(&ObjectPath::from("a/.part-0.parquet.crc")));
    }
}
