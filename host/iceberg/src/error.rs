//! Why a table could not be opened, written or committed, naming the table,
//! the column or the catalog at fault.

/// An Iceberg table failed.
#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    /// The catalog cannot be reached, or refused the credentials.
    #[error("{catalog}: {reason}; check its `uri` and credentials in [sink.catalog], and that it is running")]
    Catalog {
        /// The catalog, as [`crate::CatalogConfig::describe`] names it.
        catalog: String,
        /// Why.
        reason: String,
    },
    /// `table` is not `namespace.name`.
    #[error("table `{0}`: write it as `namespace.name` (namespaces may nest: `a.b.name`)")]
    Name(String),
    /// The output's schema cannot be written into the table's.
    #[error("table {table}: column `{column}`: {reason}")]
    Schema {
        /// The table.
        table: String,
        /// The column at fault.
        column: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A `partition_spec` or `sort_order` entry is not valid for the output.
    #[error("table {table}: {key} entry `{entry}`: {reason}")]
    Spec {
        /// The table.
        table: String,
        /// `partition_spec` or `sort_order`.
        key: &'static str,
        /// The entry as written.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Other writers kept committing first, past every retry.
    #[error(
        "table {table}: the commit conflicted with other writers past its retries ({reason}); \
         the table is at its previous snapshot; the data files of this commit are removed, and \
         `quiver compact TABLE --expire-older-than AGE` deletes the manifests its attempts left"
    )]
    Conflict {
        /// The table.
        table: String,
        /// The last conflict.
        reason: String,
    },
    /// Anything else the table, its files or the catalog answered.
    #[error("table {table}: {reason}")]
    Table {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },
    /// The warehouse location.
    #[error(transparent)]
    Storage(#[from] quiver_storage::StorageError),
}

impl IcebergError {
    /// An error of the catalog at `catalog`, secrets removed.
    pub(crate) fn catalog(catalog: &str, error: iceberg::Error) -> Self {
        Self::Catalog { catalog: catalog.to_string(), reason: quiver_storage::redact(&message(&error)) }
    }

    /// An error of `table`, a commit conflict told apart.
    pub(crate) fn table(table: &impl std::fmt::Display, error: iceberg::Error) -> Self {
        let reason = quiver_storage::redact(&message(&error));
        match error.kind() {
            iceberg::ErrorKind::CatalogCommitConflicts => Self::Conflict { table: table.to_string(), reason },
            _ => Self::Table { table: table.to_string(), reason },
        }
    }
}

/// An iceberg error's message with its causes, on one line.
fn message(error: &iceberg::Error) -> String {
    let mut text = error.message().to_string();
    if let Some(answer) = catalog_answer(&error.to_string()) {
        text = answer;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a REST catalog answered, from the context iceberg-rust's REST
/// client attaches to an unexpected answer (shown only through `Display`:
/// `…, context: { status: 401 Unauthorized, headers: {…}, json: {…} } => …`):
/// the status and the catalog's own message, headers left out.
fn catalog_answer(shown: &str) -> Option<String> {
    let context = shown.split_once(", context: { ")?.1;
    let status = context.strip_prefix("status: ")?.split(", headers: ").next()?;
    let json = context.split_once(", json: ").and_then(|(_, rest)| rest.rsplit_once(" } => ")).map(|(json, _)| json);
    let said = json.and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok()).and_then(|body| {
        let error = body.get("error")?;
        Some(format!("{} ({})", error.get("message")?.as_str()?, error.get("type")?.as_str()?))
    });
    Some(match said {
        Some(said) => format!("the catalog answered {status}: {said}"),
        None => format!("the catalog answered {status}"),
    })
}
