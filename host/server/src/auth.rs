//! Bearer tokens: one for the admin API (without it the admin API is off),
//! one optional for the data endpoints. Tokens are read from a file or an
//! environment variable and never logged.

use std::path::Path;

use anyhow::Context;

use super::ServeError;
use crate::config::ServerConfig;

/// The variable holding the admin token when no file is set.
pub const ADMIN_TOKEN_ENV: &str = "QUIVER_ADMIN_TOKEN";
/// The variable holding the data token when no file is set.
pub const DATA_TOKEN_ENV: &str = "QUIVER_DATA_TOKEN";

/// The configured tokens.
pub struct Tokens {
    admin: Option<Secret>,
    data: Option<Secret>,
}

/// A token that does not print itself.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Tokens {
    /// Reads the tokens named by `config`, or from the environment.
    pub fn load(config: &ServerConfig) -> anyhow::Result<Self> {
        Ok(Self {
            admin: read(config.admin_token_file.as_deref(), ADMIN_TOKEN_ENV, "admin_token_file")?,
            data: read(config.data_token_file.as_deref(), DATA_TOKEN_ENV, "data_token_file")?,
        })
    }

    /// Checks an `Authorization` header value for the admin API.
    pub fn check_admin(&self, authorization: Option<&str>) -> Result<(), ServeError> {
        match &self.admin {
            None => Err(ServeError::Forbidden(format!(
                "the admin API is off: start quiver serve with --admin-token-file or {ADMIN_TOKEN_ENV}"
            ))),
            Some(token) => check(token, authorization, "admin"),
        }
    }

    /// Checks an `Authorization` header value for the data endpoints.
    pub fn check_data(&self, authorization: Option<&str>) -> Result<(), ServeError> {
        match &self.data {
            None => Ok(()),
            Some(token) => check(token, authorization, "data"),
        }
    }
}

fn read(file: Option<&Path>, env: &str, key: &str) -> anyhow::Result<Option<Secret>> {
    let token = match file {
        Some(file) => {
            Some(std::fs::read_to_string(file).with_context(|| format!("{key}: cannot read {}", file.display()))?)
        }
        None => std::env::var(env).ok(),
    };
    match token.map(|t| t.trim().to_owned()) {
        Some(t) if t.is_empty() => anyhow::bail!("{key} / {env}: the token is empty"),
        other => Ok(other.map(Secret)),
    }
}

fn check(token: &Secret, authorization: Option<&str>, api: &str) -> Result<(), ServeError> {
    let given = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    match given {
        None => Err(ServeError::Unauthorized(format!("the {api} API needs an `Authorization: Bearer <token>` header"))),
        Some(given) if constant_time_eq(given.as_bytes(), token.0.as_bytes()) => Ok(()),
        Some(_) => Err(ServeError::Unauthorized(format!("wrong bearer token for the {api} API"))),
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_missing_admin_token_turns_the_api_off() {
        let tokens = Tokens { admin: Some(Secret("s3cret".into())), data: None };
        assert!(tokens.check_admin(Some("Bearer s3cret")).is_ok());
        assert!(tokens.check_admin(Some("Bearer s3cre")).is_err());
        assert!(tokens.check_admin(Some("s3cret")).is_err());
        assert!(tokens.check_admin(None).is_err());
        assert!(tokens.check_data(None).is_ok());
        let off = Tokens { admin: None, data: Some(Secret("d".into())) };
        assert!(off.check_admin(Some("Bearer anything")).unwrap_err().to_string().contains("admin API is off"));
        assert!(off.check_data(Some("Bearer d")).is_ok());
        assert!(format!("{:?}", Secret("x".into())) == "<redacted>");
    }
}
