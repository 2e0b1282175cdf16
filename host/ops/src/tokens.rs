//! Bearer tokens with names and roles. A `read` token may read metrics,
//! listings and the audit log; a `deploy` token may also change what runs.
//! Each entry of a tokens file names its token and gives it, its file, its
//! variable, or only its SHA-256 (so the file holds no secret). The single
//! token of `--admin-token-file` or `QUIVER_ADMIN_TOKEN` is a deploy
//! token named `admin`. Tokens are never logged.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The variable holding the admin token when no file is set.
pub const ADMIN_TOKEN_ENV: &str = "QUIVER_ADMIN_TOKEN";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Metrics, listings and the audit log.
    Read,
    /// Everything `read` may, and changes: deploy, alias, pin, roll back, unload, reload.
    Deploy,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Deploy => "deploy",
        }
    }
}

/// Why tokens cannot be read, naming the file or entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{what}: cannot read {}: {source}", path.display())]
    /// A file cannot be read.
    Read {
        /// Which setting names it.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("tokens file {}: {message}", path.display())]
    /// The tokens file is not what it should be.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the entry's name or line.
        message: String,
    },
}

/// Why a request is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    /// No token is configured: the admin API is off.
    Off(String),
    #[error("{0}")]
    /// No token, or one that matches none.
    Unauthorized(String),
    #[error("{0}")]
    /// A token whose role does not allow this.
    Forbidden(String),
}

/// One entry of a tokens file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The name audit entries record.
    name: String,
    /// `read` or `deploy`.
    role: Role,
    /// The token itself.
    token: Option<String>,
    /// A file holding the token, relative to the tokens file.
    file: Option<PathBuf>,
    /// A variable holding the token.
    env: Option<String>,
    /// The token's SHA-256, in hex.
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<Entry>,
}

struct Known {
    name: String,
    role: Role,
    sha256: [u8; 32],
}

/// The configured tokens.
#[derive(Default)]
pub struct Tokens {
    known: Vec<Known>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.known.iter().map(|k| (&k.name, k.role))).finish()
    }
}

impl Tokens {
    /// The tokens of `tokens_file` and of `admin_token_file` (or, without
    /// either, of `QUIVER_ADMIN_TOKEN`).
    pub fn load(tokens_file: Option<&Path>, admin_token_file: Option<&Path>) -> Result<Self, TokenError> {
        let mut tokens = Tokens::default();
        if let Some(path) = tokens_file {
            tokens.read_file(path)?;
        }
        let admin = match admin_token_file {
            Some(path) => Some(read("admin_token_file", path)?),
            None if tokens_file.is_none() => std::env::var(ADMIN_TOKEN_ENV).ok(),
            None => None,
        };
        if let Some(token) = admin {
            let token = token.trim();
            if token.is_empty() {
                return Err(TokenError::Invalid {
                    path: admin_token_file.map_or_else(|| PathBuf::from(ADMIN_TOKEN_ENV), Path::to_owned),
                    message: "the admin token is empty".into(),
                });
            }
            tokens.add("admin", Role::Deploy, hash(token));
        }
        Ok(tokens)
    }

    /// Tokens from a list of `(name, role, token)`, for tests and embedders.
    pub fn of<'a>(entries: impl IntoIterator<Item = (&'a str, Role, &'a str)>) -> Self {
        let mut tokens = Tokens::default();
        for (name, role, token) in entries {
            tokens.add(name, role, hash(token));
        }
        tokens
    }

    fn add(&mut self, name: &str, role: Role, sha256: [u8; 32]) {
        self.known.push(Known { name: name.into(), role, sha256 });
    }

    fn read_file(&mut self, path: &Path) -> Result<(), TokenError> {
        let invalid = |message: String| TokenError::Invalid { path: path.to_owned(), message };
        let text = read("tokens_file", path)?;
        let file: TokensFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for entry in file.token {
            let name = &entry.name;
            if name.is_empty() || self.known.iter().any(|k| &k.name == name) {
                return Err(invalid(format!("token names must be unique and not empty: `{name}`")));
            }
            let sha256 = match (&entry.token, &entry.file, &entry.env, &entry.sha256) {
                (Some(token), None, None, None) => hash(token.trim()),
                (None, Some(file), None, None) => hash(read(&format!("token `{name}` file"), &base.join(file))?.trim()),
                (None, None, Some(var), None) => hash(
                    std::env::var(var)
                        .map_err(|_| invalid(format!("token `{name}`: the variable {var} is not set")))?
                        .trim(),
                ),
                (None, None, None, Some(hex)) => {
                    parse_hex(hex).ok_or_else(|| invalid(format!("token `{name}`: sha256 is not 64 hex digits")))?
                }
                _ => return Err(invalid(format!("token `{name}`: give exactly one of token, file, env and sha256"))),
            };
            if sha256 == hash("") {
                return Err(invalid(format!("token `{name}` is empty")));
            }
            self.add(name, entry.role, sha256);
        }
        Ok(())
    }

    /// Whether no token is configured (the admin API is off).
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Checks an `Authorization` header value for something `needs` allows;
    /// the answer is the token's name.
    pub fn check(&self, authorization: Option<&str>, needs: Role) -> Result<&str, AuthError> {
        if self.is_empty() {
            return Err(AuthError::Off(format!(
                "the admin API is off: start with --admin-token-file, --tokens-file or {ADMIN_TOKEN_ENV}"
            )));
        }
        let given = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
        let Some(given) = given else {
            return Err(AuthError::Unauthorized(
                "the admin API needs an `Authorization: Bearer <token>` header".into(),
            ));
        };
        let digest = hash(given);
        // Every entry is compared, without stopping at the first difference,
        // so the time taken tells nothing about a guess.
        let found =
            self.known.iter().fold(None, |found, k| if constant_time_eq(&k.sha256, &digest) { Some(k) } else { found });
        match found {
            None => Err(AuthError::Unauthorized("the bearer token matches no token of the admin API".into())),
            Some(k) if k.role < needs => Err(AuthError::Forbidden(format!(
                "token `{}` is {}-only; this needs a {} token",
                k.name,
                k.role.name(),
                needs.name()
            ))),
            Some(k) => Ok(&k.name),
        }
    }
}

fn read(what: &str, path: &Path) -> Result<String, TokenError> {
    std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        what: what.into(),
        path: path.to_owned(),
        source,
    })
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles_are_checked() {
        let tokens = Tokens::of([("ops", Role::Deploy, "s3cret"), ("grafana", Role::Read, "look")]);
        assert_eq!(tokens.check(Some("Bearer s3cret"), Role::Deploy).unwrap(), "ops");
        assert_eq!(tokens.check(Some("Bearer look"), Role::Read).unwrap(), "grafana");
        let e = tokens.check(Some("Bearer look"), Role::Deploy).unwrap_err();
        assert!(matches!(e, AuthError::Forbidden(_)) && e.to_string().contains("`grafana` is read-only"), "{e}");
        assert!(matches!(tokens.check(Some("Bearer s3cre"), Role::Read), Err(AuthError::Unauthorized(_))));
        assert!(matches!(tokens.check(None, Role::Read), Err(AuthError::Unauthorized(_))));
        assert!(matches!(Tokens::default().check(Some("Bearer x"), Role::Read), Err(AuthError::Off(_))));
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }

    #[test]
    fn a_tokens_file_gives_each_token_one_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ci.token"), "from-file\n").unwrap();
        let digest: String = hash("hashed").iter().map(|b| format!("{b:02x}")).collect();
        let file = dir.path().join("tokens.toml");
        std::fs::write(
            &file,
            format!(
                "[[token]]\nname = \"ci\"\nrole = \"deploy\"\nfile = \"ci.token\"\n\n\
                 [[token]]\nname = \"dash\"\nrole = \"read\"\nsha256 = \"{digest}\"\n"
            ),
        )
        .unwrap();
        let tokens = Tokens::load(Some(&file), None).unwrap();
        assert_eq!(tokens.check(Some("Bearer from-file"), Role::Deploy).unwrap(), "ci");
        assert_eq!(tokens.check(Some("Bearer hashed"), Role::Read).unwrap(), "dash");
        std::fs::write(&file, "[[token]]\nname = \"x\"\nrole = \"deploy\"\ntoken = \"a\"\nsha256 = \"b\"\n").unwrap();
        let e = Tokens::load(Some(&file), None).unwrap_err().to_string();
        assert!(e.contains("token `x`: give exactly one of"), "{e}");
        std::fs::write(&file, "[[token]]\nname = \"x\"\nrole = \"admin\"\ntoken = \"a\"\n").unwrap();
        let e = Tokens::load(Some(&file), None).unwrap_err().to_string();
        assert!(e.contains("tokens.toml") && e.contains("admin"), "{e}");
    }
}
