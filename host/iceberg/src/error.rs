//! Why a table could not be opened, written or committed, naming the table,
//! the column or the catalog at fault.

/// An Iceberg table failed.
#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    /// The catalog cannot be reached, or refused the credentials.
    #[error("catalog {catalog}: {reason}")]
    Catalog {
        /// The catalog's URL or warehouse.
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
         the table is at its previous snapshot, and the files of this commit are orphans for `quiver compact`"
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
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
