//! Catalogs: where a table's current metadata is recorded. The embedded
//! [`WarehouseCatalog`] needs no server; a REST catalog is reached over
//! HTTP. Both write the table's files through Quiver's storage.

mod warehouse;

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::{REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder};
use quiver_storage::Location;
use serde::Deserialize;

pub use warehouse::WarehouseCatalog;

use crate::error::IcebergError;

/// An open catalog.
#[derive(Debug, Clone)]
pub struct OpenCatalog {
    inner: Arc<dyn Catalog>,
    warehouse: Option<Arc<WarehouseCatalog>>,
    name: String,
}

impl OpenCatalog {
    /// The catalog, as iceberg-rust's transactions commit through it.
    pub fn catalog(&self) -> &dyn Catalog {
        self.inner.as_ref()
    }

    /// The embedded catalog, which also commits what iceberg-rust's
    /// transactions do not offer.
    pub fn warehouse(&self) -> Option<&WarehouseCatalog> {
        self.warehouse.as_deref()
    }

    /// The catalog's URL or warehouse, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The `catalog` table of an Iceberg sink or of `quiver compact`: which
/// catalog tracks the tables. Absent, the warehouse is its own catalog.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum CatalogConfig {
    /// The catalog kept in the warehouse's files, in the layout of
    /// Iceberg's Hadoop catalog: no server.
    #[default]
    Warehouse,
    /// An Iceberg REST catalog.
    Rest(RestConfig),
}

/// How to reach a REST catalog. Secrets are not written here: they come
/// from the environment variables the keys name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// The catalog's base URL, `http://127.0.0.1:8181` (without `/v1`).
    pub uri: String,
    /// The warehouse the catalog should use, when it serves several
    /// (a name or a location, as the catalog expects it).
    #[serde(default)]
    pub warehouse: Option<String>,
    /// The environment variable holding an OAuth2 client credential,
    /// `client_id:client_secret`, exchanged for a token.
    #[serde(default)]
    pub credential_env: Option<String>,
    /// The environment variable holding a bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Further catalog properties, passed as they are (`scope`, `oauth2-server-uri`, headers as `header.NAME`).
    #[serde(default)]
    pub properties: HashMap<String, String>,
}

impl CatalogConfig {
    /// Opens the catalog of the tables under `warehouse`. A REST catalog
    /// answers its configuration request here, so an unreachable one or
    /// refused credentials fail now, before any data moves.
    pub async fn open(&self, warehouse: &Location) -> Result<OpenCatalog, IcebergError> {
        match self {
            Self::Warehouse => {
                let catalog = Arc::new(WarehouseCatalog::new(warehouse.clone()));
                Ok(OpenCatalog { inner: catalog.clone(), warehouse: Some(catalog), name: warehouse.display() })
            }
            Self::Rest(rest) => {
                let mut properties = rest.properties.clone();
                properties.insert(REST_CATALOG_PROP_URI.into(), rest.uri.clone());
                if let Some(name) = &rest.warehouse {
                    properties.insert(REST_CATALOG_PROP_WAREHOUSE.into(), name.clone());
                }
                for (key, env) in [("credential", &rest.credential_env), ("token", &rest.token_env)] {
                    if let Some(env) = env {
                        let value = std::env::var(env).map_err(|_| IcebergError::Catalog {
                            catalog: self.describe(),
                            reason: format!("the environment variable {env} (named by {key}_env) is not set"),
                        })?;
                        properties.insert(key.into(), value);
                    }
                }
                let catalog = RestCatalogBuilder::default()
                    .with_storage_factory(crate::storage::factory(warehouse))
                    .load("quiver", properties)
                    .await
                    .map_err(|e| IcebergError::catalog(&self.describe(), e))?;
                // The builder connects lazily: ask for something now.
                catalog.list_namespaces(None).await.map_err(|e| IcebergError::catalog(&self.describe(), e))?;
                Ok(OpenCatalog { inner: Arc::new(catalog), warehouse: None, name: rest.uri.clone() })
            }
        }
    }

    /// What the catalog is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Warehouse => "the warehouse's own catalog".into(),
            Self::Rest(rest) => format!("the REST catalog at {}", rest.uri),
        }
    }
}
