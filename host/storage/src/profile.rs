//! AWS shared configuration files: the static keys and the region of the
//! profile `AWS_PROFILE` names (`default` when unset), as the AWS CLI reads
//! them. `object_store` reads the environment, web identity and instance
//! metadata itself, but not these files.

use std::path::PathBuf;

/// A profile's static credentials.
pub(crate) struct Credentials {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
}

fn home_file(variable: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".aws").join(name)),
    }
}

fn profile_name() -> String {
    std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into())
}

/// The keys of a section of an INI file: `[name]` in the credentials file,
/// `[profile name]` (or `[default]`) in the config file.
fn section(text: &str, names: &[String]) -> Vec<(String, String)> {
    let mut inside = false;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = names.iter().any(|n| n == header.trim());
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            keys.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    keys
}

fn get(keys: &[(String, String)], name: &str) -> Option<String> {
    keys.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The profile's static credentials, from the credentials file or else the config file.
pub(crate) fn credentials() -> Option<Credentials> {
    let profile = profile_name();
    let files = [
        (home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), vec![profile.clone()]),
        (home_file("AWS_CONFIG_FILE", "config"), vec![format!("profile {profile}"), profile.clone()]),
    ];
    for (file, names) in files {
        let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else { continue };
        let keys = section(&text, &names);
        if let (Some(key_id), Some(secret)) = (get(&keys, "aws_access_key_id"), get(&keys, "aws_secret_access_key")) {
            return Some(Credentials { key_id, secret, token: get(&keys, "aws_session_token") });
        }
    }
    None
}

/// The profile's region, from the config file.
pub(crate) fn region() -> Option<String> {
    let profile = profile_name();
    let text = std::fs::read_to_string(home_file("AWS_CONFIG_FILE", "config")?).ok()?;
    get(&section(&text, &[format!("profile {profile}"), profile]), "region")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_section_is_read_and_others_are_not() {
        let text =
            "[default]\naws_access_key_id = A\n\n[profile lake]\n# comment\nregion = eu-west-1\naws_access_key_id=B\n";
        let keys = section(text, &["profile lake".into()]);
        assert_eq!(get(&keys, "aws_access_key_id").as_deref(), Some("B"));
        assert_eq!(get(&keys, "region").as_deref(), Some("eu-west-1"));
        assert_eq!(get(&section(text, &["default".into()]), "aws_access_key_id").as_deref(), Some("A"));
    }
}
