//! Capabilities a plugin may be granted. Nothing is granted by default; what
//! is not granted fails inside the plugin with an error it can report.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// What a plugin may reach beyond its own memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directories the plugin may read, each at a guest path. Read-only.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the plugin sees, with their values.
    pub env: Vec<(String, String)>,
    /// Hosts the plugin may send HTTP requests to, as `host` (any port) or
    /// `host:port`, matched against the request's authority.
    pub http: Vec<String>,
    /// Real wall and monotonic clocks instead of clocks stopped at the epoch.
    pub clocks: bool,
}

/// A host directory preopened read-only for the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the plugin sees it, e.g. `/ref`.
    pub guest: String,
}

/// The `wasi:http` hooks of one instance: requests to hosts off the
/// allow-list are refused with `HTTP-request-denied` before any connection.
pub(crate) struct HttpAllowList {
    allowed: Arc<[String]>,
    plugin: Arc<str>,
}

impl HttpAllowList {
    pub(crate) fn new(allowed: &[String], plugin: Arc<str>) -> Self {
        Self { allowed: allowed.iter().map(|h| h.to_ascii_lowercase()).collect(), plugin }
    }

    /// Whether `host` on `port` (the scheme's default when the URI has none) is on the list.
    fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|entry| match entry.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((h, Ok(p))) => h == host && p == port,
            _ => *entry == host,
        })
    }
}

type Response = Result<
    (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for HttpAllowList {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = Response> + Send> {
        let uri = request.uri();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
        let allowed = uri.host().is_some_and(|host| self.allows(host, port));
        if !allowed {
            tracing::warn!(plugin = &*self.plugin, uri = %uri, "HTTP request denied: host not on the plugin's allow-list");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let default: &mut dyn WasiHttpHooks = Default::default();
        default.send_request(request, options, fut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_hosts_and_ports() {
        let list = HttpAllowList::new(&["api.example.com".into(), "127.0.0.1:8080".into()], "p".into());
        assert!(list.allows("API.example.com", 443));
        assert!(list.allows("127.0.0.1", 8080));
        assert!(!list.allows("127.0.0.1", 8081));
        assert!(!list.allows("example.com", 443));
        assert!(!list.allows("api.example.com.evil.org", 443));
    }
}
