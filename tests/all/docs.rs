//! The reference in `docs/` keeps up with the code: every key of the
//! pipeline file and of the server file is documented where a user looks
//! for it.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The keys of every config struct in `file`: the fields of each
/// `#[derive(.. Deserialize ..)]` struct, as serde names them (a
/// `rename`, else the field's name), less `#[serde(skip)]` ones. The
/// struct's name comes with each key, for the failure message.
fn config_keys(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut keys = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !(line.starts_with("#[derive(") && line.contains("Deserialize")) {
            continue;
        }
        // Attributes, then the item: only structs have keys.
        let mut item = "";
        for next in lines.by_ref() {
            if !next.starts_with("#[") {
                item = next;
                break;
            }
        }
        let Some(name) = item.strip_prefix("pub struct ").and_then(|s| s.strip_suffix(" {")) else { continue };
        let mut attributes = Vec::new();
        for field in lines.by_ref() {
            let field = field.trim();
            if field == "}" {
                break;
            }
            if field.starts_with("#[serde(") {
                attributes.push(field.to_string());
                continue;
            }
            if let Some(rest) = field.strip_prefix("pub ").and_then(|f| f.split_once(':')) {
                let rename = attributes.iter().find_map(|a| {
                    let at = a.find("rename = \"")? + "rename = \"".len();
                    Some(a[at..].split('"').next()?.to_string())
                });
                if !attributes.iter().any(|a| a.contains("skip")) {
                    keys.push((name.to_string(), rename.unwrap_or_else(|| rest.0.to_string())));
                }
            }
            if !field.starts_with("///") && !field.starts_with("#[") {
                attributes.clear();
            }
        }
    }
    keys
}

#[test]
fn every_key_of_the_pipeline_and_server_files_is_documented() {
    // (the sources of the config structs, the page that documents their keys)
    let pages = [
        ("host/pipeline/src/config/mod.rs", "docs/pipeline.md"),
        ("host/pipeline/src/config/transform.rs", "docs/pipeline.md"),
        ("host/pipeline/src/source/mod.rs", "docs/pipeline.md"),
        ("host/pipeline/src/source/files.rs", "docs/pipeline.md"),
        ("host/pipeline/src/sink/files/mod.rs", "docs/pipeline.md"),
        ("host/pipeline/src/source/kafka/config.rs", "docs/kafka.md"),
        ("host/pipeline/src/source/kafka/key.rs", "docs/kafka.md"),
        ("host/pipeline/src/sink/kafka/config.rs", "docs/kafka.md"),
        ("host/registry/src/config.rs", "docs/kafka.md"),
        ("host/pipeline/src/sink/iceberg.rs", "docs/iceberg.md"),
        ("host/iceberg/src/catalog/mod.rs", "docs/iceberg.md"),
        ("host/server/src/config.rs", "docs/sidecar.md"),
        ("host/storage/src/config.rs", "docs/storage.md"),
    ];
    let mut missing = Vec::new();
    let mut checked = 0;
    for (source, page) in pages {
        let doc = std::fs::read_to_string(repo().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let keys = config_keys(source);
        assert!(!keys.is_empty(), "{source} holds config structs, but none was found: is the parser out of date?");
        for (structure, key) in keys {
            checked += 1;
            // A key is documented where it stands in backquotes, as a table
            // row's key or in a TOML example (`key = ...`).
            let documented = doc.contains(&format!("`{key}`"))
                || doc.contains(&format!("{key} = "))
                || doc.contains(&format!("[{key}"))
                || doc.contains(&format!("[[{key}"));
            if !documented {
                missing.push(format!("{page}: `{key}` ({structure} in {source})"));
            }
        }
    }
    assert!(checked > 50, "only {checked} keys found");
    assert!(missing.is_empty(), "keys missing from the docs:\n{}", missing.join("\n"));
}
