"""Reads an Iceberg table the way a user's reader would, with pyiceberg and
pyarrow, from its metadata file alone: no catalog of Quiver's is involved.

    iceberg_read.py TABLE_DIR_OR_METADATA OUT.parquet [--s3-endpoint URL]
    iceberg_read.py NAMESPACE.NAME OUT.parquet --rest URI [--token TOKEN]

With --s3-endpoint, the credentials are AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY. With --rest, the table is loaded by name through
pyiceberg's REST catalog client at URI instead.

TABLE_DIR_OR_METADATA is a table's directory (local path or s3:// URL; its
metadata/version-hint.text names the current version) or a metadata file.
Writes every row of the current snapshot to OUT.parquet, and prints one JSON
object: the snapshots in commit order (id, parent, sequence
number, operation, summary), the current
schema's fields, the partition spec, the sort order, and every data file
(path, partition, rows).
"""

import json
import os
import sys

import pyarrow.parquet as pq
from pyiceberg.table import StaticTable


def main():
    args = sys.argv[1:]
    properties = {}
    if "--s3-endpoint" in args:
        at = args.index("--s3-endpoint")
        properties = {
            "s3.endpoint": args[at + 1],
            "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "s3.region": "us-east-1",
            "s3.force-virtual-addressing": "false",
        }
        del args[at : at + 2]
    rest = option(args, "--rest")
    token = option(args, "--token")
    where, out = args
    if rest is not None:
        from pyiceberg.catalog import load_catalog

        config = {"type": "rest", "uri": rest}
        if token is not None:
            config["token"] = token
        table = load_catalog("rest", **config).load_table(where)
        metadata = table.metadata_location
    elif where.endswith(".metadata.json"):
        metadata = where
    else:
        from pyiceberg.io import load_file_io

        io = load_file_io(properties, where)
        hint = io.new_input(f"{where.rstrip('/')}/metadata/version-hint.text")
        with hint.open() as f:
            version = int(f.read().decode().strip())
        metadata = f"{where.rstrip('/')}/metadata/v{version}.metadata.json"
    if rest is None:
        table = StaticTable.from_metadata(metadata, properties)
    rows = table.scan().to_arrow()
    pq.write_table(rows, out)
    meta = table.metadata
    files = []
    mismatches = 0
    schema = table.schema()
    for task in table.scan().plan_files():
        f = task.file
        mismatches += partition_mismatches(table, schema, f)
        files.append(
            {
                "path": f.file_path,
                "partition": {name: f.partition[i] for i, name in enumerate(partition_names(table))},
                "rows": f.record_count,
                "bytes": f.file_size_in_bytes,
            }
        )
    print(
        json.dumps(
            {
                "metadata": metadata,
                "format_version": meta.format_version,
                "current_snapshot": meta.current_snapshot_id,
                "snapshots": [
                    {
                        "id": s.snapshot_id,
                        "parent": s.parent_snapshot_id,
                        "sequence_number": s.sequence_number,
                        "operation": s.summary.operation.value if s.summary else None,
                        "summary": dict(s.summary.additional_properties) if s.summary else {},
                    }
                    # The metadata lists snapshots in no particular order.
                    for s in sorted(meta.snapshots, key=lambda s: s.sequence_number)
                ],
                "schema": [
                    {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
                    for f in table.schema().fields
                ],
                "partition_spec": [
                    {"name": p.name, "transform": str(p.transform), "source": table.schema().find_column_name(p.source_id)}
                    for p in table.spec().fields
                ],
                "sort_order": [
                    {"source": table.schema().find_column_name(f.source_id), "direction": str(f.direction)}
                    for f in table.sort_order().fields
                ],
                "files": files,
                "partition_mismatches": mismatches,
                "rows": rows.num_rows,
            },
            default=str,
        )
    )


def partition_mismatches(table, schema, data_file):
    """Rows of `data_file` whose partition value, computed by pyiceberg's own
    transforms from the row, is not the file's."""
    fields = table.spec().fields
    if not fields:
        return 0
    with table.io.new_input(data_file.file_path).open() as stream:
        rows = pq.read_table(stream)
    bad = 0
    for i, field in enumerate(fields):
        source = schema.find_field(field.source_id)
        compute = field.transform.transform(source.field_type)
        wanted = data_file.partition[i]
        for value in rows.column(source.name).to_pylist():
            if compute(value) != wanted:
                bad += 1
    return bad


def option(args, name):
    """Removes `name VALUE` from args, returning VALUE (None if absent)."""
    if name not in args:
        return None
    at = args.index(name)
    value = args[at + 1]
    del args[at : at + 2]
    return value


def partition_names(table):
    return [p.name for p in table.spec().fields]


if __name__ == "__main__":
    main()
