//! Plugin configuration: string keys and values from the pipeline file.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::Error;

/// One configuration key a transform accepts, as described to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key.
    pub name: String,
    /// What it does, for `quiver plugin inspect`.
    pub description: String,
    /// Whether `open` fails without it.
    pub required: bool,
    /// The value used when the key is absent.
    pub default: Option<String>,
}

impl ConfigKey {
    /// A key that must be given.
    pub fn required(name: &str, description: &str) -> Self {
        Self { name: name.into(), description: description.into(), required: true, default: None }
    }

    /// A key that may be left out.
    pub fn optional(name: &str, description: &str) -> Self {
        Self { name: name.into(), description: description.into(), required: false, default: None }
    }

    /// A family of keys sharing a prefix, such as `range.*` for `range.price`;
    /// `prefix` ends with the separator (`"range."`).
    pub fn prefixed(prefix: &str, description: &str) -> Self {
        Self::optional(&format!("{prefix}*"), description)
    }

    /// Whether `key` is this key, or one of its family.
    pub fn matches(&self, key: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => key.len() > prefix.len() && key.starts_with(prefix),
            None => self.name == key,
        }
    }

    /// A key with a default value.
    pub fn with_default(name: &str, description: &str, default: &str) -> Self {
        Self { default: Some(default.into()), ..Self::optional(name, description) }
    }
}

/// A checked configuration: only declared keys, every required key present,
/// defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    /// Checks `pairs` against the keys a transform declares.
    pub fn check(transform: &str, keys: &[ConfigKey], pairs: &[(String, String)]) -> Result<Self, Error> {
        let mut values = BTreeMap::new();
        for (key, value) in pairs {
            if !keys.iter().any(|k| k.matches(key)) {
                let accepted: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                return Err(Error::config(format!(
                    "unknown config key `{key}` for transform `{transform}`; it accepts: {}",
                    if accepted.is_empty() { "no keys".to_string() } else { accepted.join(", ") }
                )));
            }
            values.insert(key.clone(), value.clone());
        }
        for key in keys {
            if values.contains_key(&key.name) || key.name.ends_with('*') {
                continue;
            }
            match (&key.default, key.required) {
                (Some(default), _) => {
                    values.insert(key.name.clone(), default.clone());
                }
                (None, true) => {
                    return Err(Error::config(format!(
                        "transform `{transform}` needs config key `{}`: {}",
                        key.name, key.description
                    )));
                }
                (None, false) => {}
            }
        }
        Ok(Self { values })
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of `key` parsed as `T`, if set.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|v| v.parse::<T>().map_err(|e| Error::config(format!("config key `{key}` = {v:?}: {e}"))))
            .transpose()
    }

    /// The keys starting with `prefix`, without it, and their values.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.iter().filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v)))
    }

    /// Every key and value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<ConfigKey> {
        vec![ConfigKey::required("column", "the column"), ConfigKey::with_default("mode", "how", "fast")]
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fills_defaults_and_refuses_unknown_or_missing_keys() {
        let c = Config::check("t", &keys(), &pairs(&[("column", "x")])).unwrap();
        assert_eq!(c.get("mode"), Some("fast"));
        let e = Config::check("t", &keys(), &pairs(&[("column", "x"), ("colour", "red")])).unwrap_err();
        assert!(e.message.contains("unknown config key `colour`") && e.message.contains("column, mode"), "{e}");
        let mut family = keys();
        family.push(ConfigKey::prefixed("range.", "ranges"));
        let c = Config::check("t", &family, &pairs(&[("column", "x"), ("range.a", "1..2")])).unwrap();
        assert_eq!(c.with_prefix("range.").collect::<Vec<_>>(), vec![("a", "1..2")]);
        assert!(Config::check("t", &family, &pairs(&[("column", "x"), ("range.", "1")])).is_err());
        let e = Config::check("t", &keys(), &[]).unwrap_err();
        assert!(e.message.contains("needs config key `column`"), "{e}");
    }

    #[test]
    fn parse_names_the_key() {
        let c = Config::check("t", &keys(), &pairs(&[("column", "x"), ("mode", "12x")])).unwrap();
        assert!(c.parse::<u32>("mode").unwrap_err().message.contains("config key `mode`"));
    }
}
