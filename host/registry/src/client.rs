//! A Confluent-compatible registry over HTTP: schemas by id (immutable, so
//! fetched once per process and kept) and a subject's versions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::RegistryConfig;
use crate::error::RegistryError;

/// A subject's version, as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The subject.
    pub subject: String,
    /// Its version.
    pub version: u32,
    /// The schema's id, as messages carry it.
    pub id: u32,
    /// The schema's text.
    pub schema: Arc<str>,
    /// `AVRO`, `PROTOBUF` or `JSON`.
    pub kind: String,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    id: Option<u32>,
    schema: String,
    #[serde(rename = "schemaType", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    error_code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

/// A schema registry, and the schemas it answered.
pub struct Registry {
    url: String,
    client: reqwest::Client,
    credential: Option<(String, String)>,
    /// The variable the credential came from, to name in a refusal.
    credential_env: Option<String>,
    /// Schemas by id; the lock is held across a fetch so that concurrent
    /// askers of one id make one request.
    by_id: Mutex<HashMap<u32, Arc<str>>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Registry {
    /// A client of the registry `config` names. Reads the credential's
    /// variable and the CA file now, so that their faults show at start-up.
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        quiver_storage::install_crypto();
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(config.timeout_secs));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| RegistryError::Config { key: "ca_file", reason: format!("{}: {e}", path.display()) })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| RegistryError::Config {
                key: "ca_file",
                reason: format!("{}: not a PEM certificate: {e}", path.display()),
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let credential = match &config.credential_env {
            None => None,
            Some(name) => {
                let value = std::env::var(name).map_err(|_| RegistryError::Config {
                    key: "credential_env",
                    reason: format!("the environment variable {name} is not set"),
                })?;
                let (user, password) = value.split_once(':').ok_or_else(|| RegistryError::Config {
                    key: "credential_env",
                    reason: format!("{name} must hold `user:password`"),
                })?;
                Some((user.to_string(), password.to_string()))
            }
        };
        let client = builder.build().map_err(|e| RegistryError::Config { key: "url", reason: e.to_string() })?;
        Ok(Self {
            url: config.url.trim_end_matches('/').to_string(),
            client,
            credential,
            credential_env: config.credential_env.clone(),
            by_id: Mutex::default(),
            requests: AtomicU64::new(0),
        })
    }

    /// The registry's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The requests made so far: one per schema id, plus one per subject lookup.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The schema with `id`, from the registry the first time.
    pub async fn schema(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        let mut known = self.by_id.lock().await;
        if let Some(schema) = known.get(&id) {
            return Ok(schema.clone());
        }
        let answer = self.get(&format!("/schemas/ids/{id}"), Missing::Schema(id)).await?;
        let schema: Arc<str> = answer.schema.into();
        known.insert(id, schema.clone());
        Ok(schema)
    }

    /// `subject`'s `version`, or its latest.
    pub async fn version(&self, subject: &str, version: Option<u32>) -> Result<Registered, RegistryError> {
        let which = version.map_or("latest".to_string(), |v| v.to_string());
        let path = format!("/subjects/{}/versions/{which}", encode(subject));
        let answer = self.get(&path, Missing::Subject(subject, version)).await?;
        let id = answer.id.ok_or_else(|| RegistryError::Schema {
            subject: subject.to_string(),
            reason: "the registry's answer has no schema id".into(),
        })?;
        let registered = Registered {
            subject: answer.subject.unwrap_or_else(|| subject.to_string()),
            version: answer.version.unwrap_or_default(),
            id,
            schema: answer.schema.into(),
            kind: answer.kind.unwrap_or_else(|| "AVRO".into()),
        };
        self.by_id.lock().await.insert(id, registered.schema.clone());
        Ok(registered)
    }

    /// Registers `schema` of `kind` (`AVRO`, `PROTOBUF`) under `subject`, or finds it there
    /// already: its id. The registry checks it against the subject's
    /// compatibility rule; a refusal names the subject and says why.
    pub async fn register(&self, subject: &str, schema: &str, kind: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{}/versions", self.url, encode(subject));
        let body = serde_json::json!({ "schema": schema, "schemaType": kind });
        let request = self
            .client
            .post(&url)
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
        let (status, body) = self.send(request).await?;
        #[derive(Deserialize)]
        struct Id {
            id: u32,
        }
        match status {
            200 => serde_json::from_slice::<Id>(&body).map(|a| a.id).map_err(|e| RegistryError::Status {
                url,
                status,
                message: format!("not a registry answer: {e}"),
            }),
            401 | 403 => Err(self.refused(status)),
            _ => {
                let said = serde_json::from_slice::<Refusal>(&body)
                    .ok()
                    .and_then(|r| r.message)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
                match status {
                    409 | 422 => Err(RegistryError::Incompatible { subject: subject.into(), message: said }),
                    _ => Err(RegistryError::Status { url, status, message: said }),
                }
            }
        }
    }

    /// The registry refused the credential (or asked for one), saying where to look.
    fn refused(&self, status: u16) -> RegistryError {
        let hint = match (&self.credential, &self.credential_env) {
            (Some((user, _)), Some(name)) => format!("check the password of user `{user}` in {name} (credential_env)"),
            _ => "it asks for credentials: set credential_env to a variable holding `user:password`".into(),
        };
        RegistryError::Refused { url: self.url.clone(), status, hint }
    }

    /// Sends `request` with the credential, counted: its status and body.
    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), RegistryError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((user, password)) = &self.credential {
            request = request.basic_auth(user, Some(password));
        }
        let unreachable = |e: reqwest::Error| {
            let reason = quiver_storage::redact(&error_chain(&e));
            let hint = match reason.contains("certificate") {
                true => {
                    "the registry's TLS certificate is not trusted: set ca_file to the PEM of the authority that signed it"
                }
                false => "check the registry's `url`, and that it is running",
            };
            RegistryError::Unreachable { url: self.url.clone(), reason, hint }
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok((status, body.to_vec()))
    }

    async fn get(&self, path: &str, missing: Missing<'_>) -> Result<Answer, RegistryError> {
        let url = format!("{}{path}", self.url);
        let request = self.client.get(&url).header("Accept", "application/vnd.schemaregistry.v1+json");
        let (status, body) = self.send(request).await?;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|e| RegistryError::Status {
                url: url.clone(),
                status,
                message: format!("not a registry answer: {e}"),
            });
        }
        if status == 401 || status == 403 {
            return Err(self.refused(status));
        }
        let refusal: Option<Refusal> = serde_json::from_slice(&body).ok();
        let code = refusal.as_ref().and_then(|r| r.error_code);
        if status == 404 {
            return Err(match missing {
                Missing::Schema(id) => RegistryError::NoSchema { url: self.url.clone(), id },
                Missing::Subject(subject, version) => RegistryError::NoSubject {
                    url: self.url.clone(),
                    subject: subject.to_string(),
                    version: match (code, version) {
                        (Some(40402), Some(v)) => format!(" version {v}"),
                        _ => String::new(),
                    },
                    hint: match (code, version) {
                        (Some(40402), Some(_)) => "pin a `version` it has, or leave `version` out for the latest",
                        _ => "register its schema first, or name another `subject`",
                    },
                },
            });
        }
        let message = refusal
            .and_then(|r| r.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        Err(RegistryError::Status { url, status, message })
    }
}

/// What a 404 means for the request made.
enum Missing<'a> {
    Schema(u32),
    Subject(&'a str, Option<u32>),
}

/// A subject as one path segment.
fn encode(subject: &str) -> String {
    subject
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An error with its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
