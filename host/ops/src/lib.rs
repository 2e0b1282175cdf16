//! Quiver's operations, shared by the sidecar and pipelines: what an
//! operator watches and who may change what runs.
//!
//! - [`metrics`]: one set of Prometheus names and labels for both;
//! - [`tokens`]: named bearer tokens, read-only or allowed to deploy;
//! - [`audit`]: the append-only log of every change of what runs;
//! - [`endpoint`]: a running pipeline's metrics and health.

pub mod audit;
pub mod endpoint;
pub mod metrics;
pub mod tokens;

pub use audit::{AuditEntry, AuditError, AuditLog};
pub use metrics::{CallLabels, Durable, Metrics, StageGauges};
pub use tokens::{AuthError, Role, Tokens};
