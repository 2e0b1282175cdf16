//! Opening a table for an output: created from the output's schema when
//! absent (with its partition spec, sort order and properties), evolved
//! when the output gained columns or widened a type, refused, naming the
//! column, when the output cannot be written into it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use iceberg::spec::{NestedField, Schema, TableMetadata, Type};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};

use crate::catalog::OpenCatalog;
use crate::error::IcebergError;
use crate::schema::{self, SchemaEvolution};
use crate::spec;

/// What an output asks of its table.
#[derive(Debug, Clone, Default)]
pub struct TableSpec {
    /// `namespace.name`.
    pub table: String,
    /// Partition fields of a table created by the output (`day(ts)`, `bucket(16, id)`).
    pub partition_spec: Vec<String>,
    /// Sort order of a table created by the output (`ts desc nulls last`).
    pub sort_order: Vec<String>,
    /// Properties of a table created by the output.
    pub properties: BTreeMap<String, String>,
    /// Whether the table follows the output's schema.
    pub schema_evolution: SchemaEvolution,
}

/// `namespace.name` as an identifier.
pub fn ident(table: &str) -> Result<TableIdent, IcebergError> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(IcebergError::Name(table.to_string()));
    }
    TableIdent::from_strs(parts).map_err(|_| IcebergError::Name(table.to_string()))
}

/// Checks what can be checked of `spec` against the output's schema
/// without a catalog: the name, the columns and transforms it names.
pub fn check(spec: &TableSpec, output: &SchemaRef) -> Result<(), IcebergError> {
    ident(&spec.table)?;
    let schema = schema::iceberg_schema(&spec.table, output)?;
    spec::partition_spec(&spec.table, &spec.partition_spec, &schema)?;
    spec::sort_order(&spec.table, &spec.sort_order, &schema)?;
    Ok(())
}

/// Loads the table `spec` names from `catalog`, creating it from `output`
/// if it is absent, and evolves its schema to take `output`. Nothing is
/// written when the output cannot go into the table.
pub async fn open(catalogs: &OpenCatalog, spec: &TableSpec, output: &SchemaRef) -> Result<Table, IcebergError> {
    let catalog = catalogs.catalog();
    let ident = ident(&spec.table)?;
    let name = spec.table.as_str();
    let exists = catalog.table_exists(&ident).await.map_err(|e| IcebergError::table(&name, e))?;
    let table = if exists {
        catalog.load_table(&ident).await.map_err(|e| IcebergError::table(&name, e))?
    } else {
        match create(catalog, &ident, spec, output).await {
            Ok(table) => table,
            // Another writer created it since: take theirs, and check it like any existing table.
            Err(IcebergError::Table { .. }) if catalog.table_exists(&ident).await.unwrap_or(false) => {
                catalog.load_table(&ident).await.map_err(|e| IcebergError::table(&name, e))?
            }
            Err(e) => return Err(e),
        }
    };
    let evolution = schema::plan(name, table.metadata().current_schema(), output, spec.schema_evolution)?;
    if evolution.is_empty() {
        return Ok(table);
    }
    evolve(catalogs, table, &evolution, name).await
}

async fn create(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    spec: &TableSpec,
    output: &SchemaRef,
) -> Result<Table, IcebergError> {
    let name = spec.table.as_str();
    let schema = schema::iceberg_schema(name, output)?;
    let partition_spec = spec::partition_spec(name, &spec.partition_spec, &schema)?;
    let sort_order = spec::sort_order(name, &spec.sort_order, &schema)?;
    let namespace: &NamespaceIdent = ident.namespace();
    if !catalog.namespace_exists(namespace).await.map_err(|e| IcebergError::table(&name, e))? {
        // A REST catalog may refuse a namespace someone else just created: that is fine.
        if let Err(e) = catalog.create_namespace(namespace, HashMap::new()).await
            && !catalog.namespace_exists(namespace).await.unwrap_or(false)
        {
            return Err(IcebergError::table(&name, e));
        }
    }
    let creation = TableCreation::builder()
        .name(ident.name().to_string())
        .schema(schema)
        .partition_spec(partition_spec)
        .sort_order(sort_order)
        .properties(spec.properties.clone())
        .build();
    let table = catalog.create_table(namespace, creation).await.map_err(|e| IcebergError::table(&name, e))?;
    tracing::info!(table = name, location = table.metadata().location(), "created the Iceberg table");
    Ok(table)
}

/// Adds the output's new columns (through the transaction API, so any
/// catalog takes it) and widens types (a new schema with the same ids).
async fn evolve(
    catalogs: &OpenCatalog,
    table: Table,
    evolution: &schema::Evolution,
    name: &str,
) -> Result<Table, IcebergError> {
    let mut table = table;
    if !evolution.widen.is_empty() {
        let Some(warehouse) = catalogs.warehouse() else {
            let (column, from, to) = &evolution.widen[0];
            return Err(IcebergError::Schema {
                table: name.into(),
                column: column.clone(),
                reason: format!(
                    "the output is {to} where the table is {from}; iceberg-rust's transaction API cannot widen a \
                     column through this catalog: widen it with the catalog's tools (ALTER TABLE … ALTER COLUMN)"
                ),
            });
        };
        let widened = widen(table.metadata(), evolution).map_err(|e| IcebergError::table(&name, e))?;
        table = warehouse.replace_schema(&table, widened).await.map_err(|e| IcebergError::table(&name, e))?;
        for (column, from, to) in &evolution.widen {
            tracing::info!(table = name, column, %from, %to, "widened the column");
        }
    }
    if !evolution.add.is_empty() {
        let tx = Transaction::new(&table);
        let mut action = tx.update_schema();
        for (column, field_type) in &evolution.add {
            action = action.add_column(AddColumn::optional(column, field_type.clone()));
        }
        let tx = action.apply(tx).map_err(|e| IcebergError::table(&name, e))?;
        table = tx.commit(catalogs.catalog()).await.map_err(|e| IcebergError::table(&name, e))?;
        let added: Vec<&str> = evolution.add.iter().map(|(c, _)| c.as_str()).collect();
        tracing::info!(table = name, columns = ?added, "added columns to the table");
    }
    Ok(table)
}

/// The current schema with the widened columns' new types, same ids.
fn widen(metadata: &TableMetadata, evolution: &schema::Evolution) -> iceberg::Result<Schema> {
    let current = metadata.current_schema();
    let fields = current.as_struct().fields().iter().map(|field| {
        match evolution.widen.iter().find(|(column, _, _)| *column == field.name) {
            Some((_, _, to)) => {
                let mut widened: NestedField = field.as_ref().clone();
                widened.field_type = Box::new(Type::Primitive(to.clone()));
                Arc::new(widened)
            }
            None => field.clone(),
        }
    });
    Schema::builder()
        .with_schema_id(current.schema_id() + 1)
        .with_identifier_field_ids(current.identifier_field_ids())
        .with_fields(fields)
        .build()
}
