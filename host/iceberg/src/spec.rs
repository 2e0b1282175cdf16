//! `partition_spec` and `sort_order` as a pipeline file writes them
//! (`"day(ts)"`, `"bucket(16, user_id)"`, `"ts desc nulls last"`), bound to
//! a table's schema, every entry checked against the column's type.

use iceberg::spec::{NullOrder, Schema, SortDirection, SortField, SortOrder, Transform, UnboundPartitionSpec};

use crate::error::IcebergError;

/// One parsed entry: its transform and source column.
#[derive(Debug)]
struct Entry {
    transform: Transform,
    column: String,
}

/// Parses `identity(c)`, `c`, `year(c)`, `month(c)`, `day(c)`, `hour(c)`,
/// `bucket(N, c)`, `truncate(W, c)` or `void(c)`.
fn parse(entry: &str) -> Result<Entry, String> {
    let entry = entry.trim();
    let Some(open) = entry.find('(') else {
        return Ok(Entry { transform: Transform::Identity, column: entry.to_string() });
    };
    let name = entry[..open].trim().to_ascii_lowercase();
    let inner = entry[open + 1..].strip_suffix(')').ok_or_else(|| "missing the closing parenthesis".to_string())?;
    let args: Vec<&str> = inner.split(',').map(str::trim).collect();
    let width = |what: &str| -> Result<u32, String> {
        args[0].parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{what} must be a positive integer"))
    };
    let (transform, column) = match (name.as_str(), args.as_slice()) {
        ("identity", [c]) => (Transform::Identity, c),
        ("year" | "years", [c]) => (Transform::Year, c),
        ("month" | "months", [c]) => (Transform::Month, c),
        ("day" | "days", [c]) => (Transform::Day, c),
        ("hour" | "hours", [c]) => (Transform::Hour, c),
        ("void", [c]) => (Transform::Void, c),
        ("bucket", [_, c]) => (Transform::Bucket(width("the bucket count")?), c),
        ("truncate", [_, c]) => (Transform::Truncate(width("the truncation width")?), c),
        ("bucket" | "truncate", _) => return Err(format!("write {name}(N, column)")),
        ("identity" | "year" | "years" | "month" | "months" | "day" | "days" | "hour" | "hours" | "void", _) => {
            return Err(format!("write {name}(column)"));
        }
        _ => {
            return Err(format!(
                "unknown transform `{name}`; use identity, year, month, day, hour, bucket(N, c), truncate(W, c) or void"
            ));
        }
    };
    if column.is_empty() {
        return Err("names no column".into());
    }
    Ok(Entry { transform, column: column.to_string() })
}

/// The partition spec of `entries` over `schema`, fields named as Spark
/// names them (`ts_day`, `user_id_bucket`, `country`).
pub fn partition_spec(table: &str, entries: &[String], schema: &Schema) -> Result<UnboundPartitionSpec, IcebergError> {
    // The spec of a new table is spec 0; said explicitly because Iceberg's
    // own REST catalog refuses a create request whose spec has no id.
    let mut spec = UnboundPartitionSpec::builder().with_spec_id(0);
    for text in entries {
        let (entry, id) = bind(table, "partition_spec", text, schema)?;
        let name = match entry.transform {
            Transform::Identity => entry.column.clone(),
            Transform::Bucket(_) => format!("{}_bucket", entry.column),
            Transform::Truncate(_) => format!("{}_trunc", entry.column),
            t => format!("{}_{}", entry.column, t.to_string().to_ascii_lowercase()),
        };
        spec = spec.add_partition_field(id, name, entry.transform).map_err(|e| IcebergError::Spec {
            table: table.into(),
            key: "partition_spec",
            entry: text.clone(),
            reason: e.message().to_string(),
        })?;
    }
    Ok(spec.build())
}

/// The sort order of `entries` (`column` or `transform(column)`, then
/// `asc` or `desc`, then `nulls first` or `nulls last`) over `schema`.
pub fn sort_order(table: &str, entries: &[String], schema: &Schema) -> Result<SortOrder, IcebergError> {
    let mut order = SortOrder::builder();
    for text in entries {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (term_end, direction, null_order) = sort_words(&words).map_err(|reason| IcebergError::Spec {
            table: table.into(),
            key: "sort_order",
            entry: text.clone(),
            reason,
        })?;
        let (entry, id) = bind(table, "sort_order", &words[..term_end].join(" "), schema)?;
        order.with_sort_field(SortField { source_id: id, transform: entry.transform, direction, null_order });
    }
    order.build_unbound().map_err(|e| IcebergError::Spec {
        table: table.into(),
        key: "sort_order",
        entry: entries.join(", "),
        reason: e.message().to_string(),
    })
}

/// Where the term ends, and its direction and null order (nulls first
/// when ascending, last when descending, unless written).
fn sort_words(words: &[&str]) -> Result<(usize, SortDirection, NullOrder), String> {
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let mut end = lower.len();
    let mut null_order = None;
    if end >= 2 && lower[end - 2] == "nulls" {
        null_order = Some(match lower[end - 1].as_str() {
            "first" => NullOrder::First,
            "last" => NullOrder::Last,
            other => return Err(format!("`nulls {other}`: write nulls first or nulls last")),
        });
        end -= 2;
    }
    let mut direction = SortDirection::Ascending;
    if end >= 1 && matches!(lower[end - 1].as_str(), "asc" | "desc") {
        if lower[end - 1] == "desc" {
            direction = SortDirection::Descending;
        }
        end -= 1;
    }
    if end == 0 {
        return Err("names no column".into());
    }
    let null_order = null_order.unwrap_or(match direction {
        SortDirection::Ascending => NullOrder::First,
        SortDirection::Descending => NullOrder::Last,
    });
    Ok((end, direction, null_order))
}

/// Parses `text` and finds its column in `schema`, checking that the
/// transform applies to the column's type.
fn bind(table: &str, key: &'static str, text: &str, schema: &Schema) -> Result<(Entry, i32), IcebergError> {
    let fail = |reason: String| IcebergError::Spec { table: table.into(), key, entry: text.to_string(), reason };
    let entry = parse(text).map_err(fail)?;
    let Some(field) = schema.field_by_name(&entry.column) else {
        let columns: Vec<&str> = schema.as_struct().fields().iter().map(|f| f.name.as_str()).collect();
        return Err(fail(format!("the output has no column `{}` (it has: {})", entry.column, columns.join(", "))));
    };
    entry.transform.result_type(&field.field_type).map_err(|_| {
        fail(format!("{} does not apply to `{}`, a {} column", entry.transform, entry.column, field.field_type))
    })?;
    Ok((entry, field.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_in_the_function_style() {
        let e = parse("bucket(16, user_id)").unwrap();
        assert_eq!((e.transform, e.column.as_str()), (Transform::Bucket(16), "user_id"));
        let e = parse("country").unwrap();
        assert_eq!((e.transform, e.column.as_str()), (Transform::Identity, "country"));
        assert!(parse("dya(ts)").unwrap_err().contains("unknown transform `dya`"));
        assert!(parse("bucket(0, id)").unwrap_err().contains("positive"));
        assert!(parse("day(ts").unwrap_err().contains("parenthesis"));
    }

    #[test]
    fn sort_words_default_nulls_by_direction() {
        assert_eq!(sort_words(&["ts", "desc"]).unwrap(), (1, SortDirection::Descending, NullOrder::Last));
        assert_eq!(sort_words(&["day(ts)", "nulls", "last"]).unwrap(), (1, SortDirection::Ascending, NullOrder::Last));
        assert!(sort_words(&["ts", "nulls", "middle"]).is_err());
    }
}
