//! The embedded catalog: no server, the catalog is the warehouse itself, in
//! the layout of Iceberg's Hadoop catalog, which Spark, Trino, DuckDB and
//! pyiceberg open from the files alone:
//!
//! ```text
//! <warehouse>/<namespace>/<name>/metadata/v<N>.metadata.json
//! <warehouse>/<namespace>/<name>/metadata/version-hint.text
//! <warehouse>/<namespace>/<name>/data/…
//! ```
//!
//! A commit is the creation of `v<N+1>.metadata.json` where none exists
//! yet, a conditional put on object stores and a hard link on local disk,
//! so of two writers racing for version N+1 exactly one wins and the other
//! retries on top of it. `version-hint.text` is only a hint: a reader or
//! writer starts there and looks for later versions.

use std::collections::HashMap;

use bytes::Bytes;
use iceberg::Runtime;
use iceberg::io::FileIO;
use iceberg::spec::{TableMetadata, TableMetadataBuilder};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation, TableIdent,
    TableRequirement, TableUpdate,
};
use quiver_storage::{Location, ObjectPath};

use crate::storage::{self, io_error};

/// A catalog kept in the warehouse's files (see the module's documentation).
#[derive(Debug)]
pub struct WarehouseCatalog {
    warehouse: Location,
    file_io: FileIO,
}

/// Where a table's current metadata is.
struct Current {
    version: u64,
    metadata: TableMetadata,
}

impl WarehouseCatalog {
    /// The catalog of the tables under `warehouse`.
    pub fn new(warehouse: Location) -> Self {
        let file_io = storage::file_io(&warehouse);
        Self { warehouse, file_io }
    }

    /// The warehouse.
    pub fn location(&self) -> &Location {
        &self.warehouse
    }

    /// The location of `table`'s directory: `<warehouse>/<namespace…>/<name>`.
    pub fn table_location(&self, table: &TableIdent) -> String {
        let mut path = self.warehouse.path().clone();
        for part in table.namespace().iter().chain(std::iter::once(&table.name().to_string())) {
            path = path.join(part.as_str());
        }
        self.warehouse.url_of(&path)
    }

    fn metadata_dir(&self, table: &TableIdent) -> Result<ObjectPath> {
        storage::key_of(&self.warehouse, &format!("{}/metadata", self.table_location(table)))
    }

    fn version_file(dir: &ObjectPath, version: u64) -> ObjectPath {
        dir.clone().join(format!("v{version}.metadata.json"))
    }

    /// The newest version of `table`, if it exists: from the hint, then
    /// every later version a writer created after it.
    async fn current(&self, table: &TableIdent) -> Result<Option<Current>> {
        let dir = self.metadata_dir(table)?;
        let hint = self.hint(&dir).await?;
        let mut version = hint;
        loop {
            match self.warehouse.head(&Self::version_file(&dir, version + 1)).await {
                Ok(_) => version += 1,
                Err(quiver_storage::StorageError::Missing { .. }) => break,
                Err(e) => return Err(io_error(e)),
            }
        }
        if version == 0 {
            return Ok(None);
        }
        let (bytes, _) = self.warehouse.read(&Self::version_file(&dir, version)).await.map_err(io_error)?;
        let metadata: TableMetadata = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::DataInvalid,
                format!(
                    "{}: not Iceberg table metadata: {e}",
                    self.warehouse.url_of(&Self::version_file(&dir, version))
                ),
            )
        })?;
        Ok(Some(Current { version, metadata }))
    }

    /// The version `version-hint.text` names; 0 when there is none. A
    /// writer may be replacing it while it is read: then it is read again,
    /// and after a few tries not trusted at all (the probe finds the versions).
    async fn hint(&self, dir: &ObjectPath) -> Result<u64> {
        use quiver_storage::StorageError::{Changed, Missing, Vanished};
        let file = dir.clone().join("version-hint.text");
        for _ in 0..3 {
            match self.warehouse.read(&file).await {
                Ok((bytes, _)) => return Ok(String::from_utf8_lossy(&bytes).trim().parse::<u64>().unwrap_or(0)),
                Err(Missing { .. }) => return Ok(0),
                Err(Changed { .. } | Vanished { .. }) => continue,
                Err(e) => return Err(io_error(e)),
            }
        }
        Ok(0)
    }

    /// Writes `metadata` as `version` of `table` unless that version exists;
    /// `false` when another writer got there first.
    async fn publish(&self, table: &TableIdent, version: u64, metadata: &TableMetadata) -> Result<bool> {
        let dir = self.metadata_dir(table)?;
        let json = serde_json::to_vec(metadata)
            .map_err(|e| Error::new(ErrorKind::Unexpected, format!("serializing table metadata: {e}")))?;
        let file = Self::version_file(&dir, version);
        if !self.warehouse.create(&file, Bytes::from(json)).await.map_err(io_error)? {
            return Ok(false);
        }
        // Readers that trust the hint see the new version a moment later;
        // a failure here loses nothing, since the next reader probes past it.
        let hint = dir.join("version-hint.text");
        if let Err(e) = self.warehouse.put(&hint, Bytes::from(version.to_string())).await {
            tracing::warn!("{}: version hint not updated: {e}", self.warehouse.url_of(&hint));
        }
        Ok(true)
    }

    /// The URL of version `version` of `table`'s metadata.
    fn metadata_url(&self, table: &TableIdent, version: u64) -> String {
        format!("{}/metadata/v{version}.metadata.json", self.table_location(table))
    }

    fn table(&self, ident: &TableIdent, version: u64, metadata: TableMetadata) -> Result<Table> {
        Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(self.metadata_url(ident, version))
            .metadata(metadata)
            .identifier(ident.clone())
            .runtime(Runtime::try_current()?)
            .build()
    }

    fn missing(&self, table: &TableIdent) -> Error {
        Error::new(ErrorKind::TableNotFound, format!("table {table} does not exist under {}", self.warehouse.display()))
    }
}

#[async_trait::async_trait]
impl Catalog for WarehouseCatalog {
    async fn list_namespaces(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        let mut found = Vec::new();
        let depth = parent.map_or(0, |p| p.len());
        for table in self.tables_under(parent).await? {
            let parts: Vec<String> = table.namespace().iter().take(depth + 1).cloned().collect();
            if parts.len() == depth + 1 {
                let ns = NamespaceIdent::from_vec(parts)?;
                if !found.contains(&ns) {
                    found.push(ns);
                }
            }
        }
        Ok(found)
    }

    /// A namespace of a warehouse is a directory, which exists once a table
    /// is in it: creating one writes nothing.
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        Ok(Namespace::with_properties(namespace.clone(), properties))
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        Ok(Namespace::new(namespace.clone()))
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        Ok(!self.tables_under(Some(namespace)).await?.is_empty())
    }

    async fn update_namespace(&self, namespace: &NamespaceIdent, _: HashMap<String, String>) -> Result<()> {
        Err(Error::new(
            ErrorKind::FeatureUnsupported,
            format!("namespace {namespace}: a warehouse catalog keeps no namespace properties"),
        ))
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        if self.namespace_exists(namespace).await? {
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!("namespace {namespace} still holds tables; drop them first"),
            ));
        }
        Ok(())
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        Ok(self.tables_under(Some(namespace)).await?.into_iter().filter(|t| t.namespace() == namespace).collect())
    }

    async fn create_table(&self, namespace: &NamespaceIdent, creation: TableCreation) -> Result<Table> {
        let ident = TableIdent::new(namespace.clone(), creation.name.clone());
        let location = self.table_location(&ident);
        if creation.location.as_ref().is_some_and(|l| l.trim_end_matches('/') != location) {
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!("table {ident}: a warehouse catalog keeps each table at {location}"),
            ));
        }
        let creation = TableCreation { location: Some(location), ..creation };
        let metadata = TableMetadataBuilder::from_table_creation(creation)?.build()?.metadata;
        if !self.publish(&ident, 1, &metadata).await? {
            return Err(Error::new(ErrorKind::TableAlreadyExists, format!("table {ident} already exists")));
        }
        self.table(&ident, 1, metadata)
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        let current = self.current(table).await?.ok_or_else(|| self.missing(table))?;
        self.table(table, current.version, current.metadata)
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        if self.current(table).await?.is_none() {
            return Err(self.missing(table));
        }
        self.file_io.delete_prefix(format!("{}/metadata", self.table_location(table))).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        if self.current(table).await?.is_none() {
            return Err(self.missing(table));
        }
        self.file_io.delete_prefix(self.table_location(table)).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        Ok(self.current(table).await?.is_some())
    }

    async fn rename_table(&self, src: &TableIdent, _: &TableIdent) -> Result<()> {
        Err(Error::new(
            ErrorKind::FeatureUnsupported,
            format!("table {src}: a warehouse catalog names a table by its directory, so it cannot rename one"),
        ))
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        let bytes = self.file_io.new_input(&metadata_location)?.read().await?;
        let metadata: TableMetadata = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(ErrorKind::DataInvalid, format!("{metadata_location}: not Iceberg table metadata: {e}"))
        })?;
        if !self.publish(table, 1, &metadata).await? {
            return Err(Error::new(ErrorKind::TableAlreadyExists, format!("table {table} already exists")));
        }
        self.table(table, 1, metadata)
    }

    async fn update_table(&self, mut commit: TableCommit) -> Result<Table> {
        let ident = commit.identifier().clone();
        self.commit(&ident, commit.take_requirements(), commit.take_updates()).await
    }
}

impl WarehouseCatalog {
    /// Applies `updates` to the current version of `table` if it meets
    /// `requirements`, as the next version; a writer that got there first
    /// is a retryable conflict. What [`Catalog::update_table`] does, open to
    /// the updates iceberg-rust's transactions do not offer (a widened
    /// column, a replace snapshot).
    pub async fn commit(
        &self,
        ident: &TableIdent,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table> {
        let current = self.current(ident).await?.ok_or_else(|| self.missing(ident))?;
        let base = self.metadata_url(ident, current.version);
        for requirement in requirements {
            requirement.check(Some(&current.metadata))?;
        }
        let mut builder = current.metadata.into_builder(Some(base));
        for update in updates {
            builder = update.apply(builder)?;
        }
        let metadata = builder.build()?.metadata;
        let version = current.version + 1;
        if !self.publish(ident, version, &metadata).await? {
            tracing::info!(table = %ident, version, "another writer committed version {version} first; retrying on top of it");
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("table {ident}: another writer committed version {version} first"),
            )
            .with_retryable(true));
        }
        self.table(ident, version, metadata)
    }

    /// Makes `schema` the current schema of `table`, unless another writer
    /// changed the schema since `table` was loaded.
    pub async fn replace_schema(&self, table: &Table, schema: iceberg::spec::Schema) -> Result<Table> {
        let requirement =
            TableRequirement::CurrentSchemaIdMatch { current_schema_id: table.metadata().current_schema_id() };
        let updates = vec![TableUpdate::AddSchema { schema }, TableUpdate::SetCurrentSchema { schema_id: -1 }];
        self.commit(table.identifier(), vec![requirement], updates).await
    }
}

impl WarehouseCatalog {
    /// Every table under `namespace` (or the whole warehouse), nested
    /// namespaces included, found by their version hints and first versions.
    async fn tables_under(&self, namespace: Option<&NamespaceIdent>) -> Result<Vec<TableIdent>> {
        let mut prefix = self.warehouse.path().clone();
        for part in namespace.into_iter().flat_map(|n| n.iter()) {
            prefix = prefix.join(part.as_str());
        }
        let root: Vec<String> = self.warehouse.path().parts().map(|p| p.as_ref().to_string()).collect();
        let mut tables = Vec::new();
        for meta in self.warehouse.list_all(&prefix).await.map_err(io_error)? {
            let parts: Vec<String> = meta.location.parts().map(|p| p.as_ref().to_string()).collect();
            let Some(below) = parts.get(root.len()..) else { continue };
            // <namespace…>/<name>/metadata/v1.metadata.json
            let [head @ .., name, dir, file] = below else { continue };
            if dir != "metadata" || file != "v1.metadata.json" || head.is_empty() {
                continue;
            }
            tables.push(TableIdent::new(NamespaceIdent::from_vec(head.to_vec())?, name.clone()));
        }
        Ok(tables)
    }
}
