"""The Python SDK's Arrow codec against pyarrow, the reference implementation:
schemas written by the SDK read by pyarrow and back, and columns read from
and written to Arrow buffers, with nulls, offsets, unicode and dictionaries.
Run by tests/run.sh with the test clients' Python (pyarrow, flatbuffers)."""

import unittest

import pyarrow as pa

from quiver_sdk import Batch, Column, Field, Schema, ipc
from quiver_sdk import types as T
from quiver_sdk.batch import from_wire, to_wire

PAIRS = [
    (T.int8, pa.int8()), (T.int16, pa.int16()), (T.int32, pa.int32()), (T.int64, pa.int64()),
    (T.uint8, pa.uint8()), (T.uint16, pa.uint16()), (T.uint32, pa.uint32()), (T.uint64, pa.uint64()),
    (T.float32, pa.float32()), (T.float64, pa.float64()), (T.bool_, pa.bool_()), (T.utf8, pa.string()),
    (T.large_utf8, pa.large_string()), (T.binary, pa.binary()), (T.large_binary, pa.large_binary()),
    (T.date32, pa.date32()), (T.date64, pa.date64()), (T.timestamp("ms"), pa.timestamp("ms")),
    (T.timestamp("us", "Europe/Berlin"), pa.timestamp("us", "Europe/Berlin")),
    (T.timestamp("ns", "UTC"), pa.timestamp("ns", "UTC")), (T.timestamp("s"), pa.timestamp("s")),
]


def sample(pa_type, n):
    """n values of pa_type with nulls, as pyarrow sees them."""
    if pa.types.is_boolean(pa_type):
        values = [None if i % 3 == 0 else i % 2 == 0 for i in range(n)]
    elif pa.types.is_string(pa_type) or pa.types.is_large_string(pa_type):
        values = [None if i % 4 == 1 else ["", "a", "straße", "日本語", "x" * 5000][i % 5] for i in range(n)]
    elif pa.types.is_binary(pa_type) or pa.types.is_large_binary(pa_type):
        values = [None if i % 4 == 1 else bytes([i % 256]) * (i % 7) for i in range(n)]
    elif pa.types.is_floating(pa_type):
        values = [None if i % 5 == 0 else i * 0.5 - 3 for i in range(n)]
    elif pa.types.is_unsigned_integer(pa_type):
        values = [None if i % 5 == 0 else i % 100 for i in range(n)]
    else:
        values = [None if i % 5 == 0 else i % 100 - 50 for i in range(n)]
    if pa.types.is_date64(pa_type):  # whole days, in milliseconds
        values = [None if v is None else v * 86_400_000 for v in values]
    if pa.types.is_temporal(pa_type):
        return pa.array(values, _width(pa_type)).view(pa_type)
    return pa.array(values, pa_type)


def _width(pa_type):
    return pa.int32() if pa.types.is_date32(pa_type) else pa.int64()


def as_python(arr):
    """Values as the SDK gives them: temporal types as their integers."""
    if pa.types.is_temporal(arr.type):
        return arr.view(_width(arr.type)).to_pylist()
    return arr.to_pylist()


def wire(arr):
    """The (node, buffers) the host would send for a pyarrow array."""
    buffers = [b"" if b is None else b.to_pybytes() for b in arr.buffers()]
    if arr.null_count == 0:
        buffers[0] = b""
    return (len(arr), arr.null_count, arr.offset, arr.offset, len(buffers)), buffers


class SchemaTest(unittest.TestCase):
    def test_every_type_round_trips_through_pyarrow(self):
        ours = Schema([Field(f"c{i}", t, i % 2 == 0, {"k": "ü"} if i == 3 else None) for i, (t, _) in enumerate(PAIRS)],
                      {"origin": "quiver"})
        theirs = pa.ipc.open_stream(ipc.write_schema(ours)).schema
        want = pa.schema([pa.field(f"c{i}", p, i % 2 == 0, {"k": "ü"} if i == 3 else None)
                          for i, (_, p) in enumerate(PAIRS)], {"origin": "quiver"})
        self.assertTrue(theirs.equals(want, check_metadata=True), f"{theirs}\n!=\n{want}")
        sink = pa.BufferOutputStream()
        pa.ipc.new_stream(sink, want).close()
        self.assertEqual(ipc.read_schema(sink.getvalue().to_pybytes()), ours)

    def test_unsupported_types_are_named(self):
        sink = pa.BufferOutputStream()
        pa.ipc.new_stream(sink, pa.schema([("ok", pa.int32()), ("tags", pa.list_(pa.string()))])).close()
        with self.assertRaisesRegex(ipc.IpcError, "column `tags` is list"):
            ipc.read_schema(sink.getvalue().to_pybytes())


class ColumnTest(unittest.TestCase):
    def test_reads_every_type_with_nulls_and_offsets(self):
        for ours, theirs in PAIRS:
            arr = sample(theirs, 300)
            for part in (arr, arr.slice(17, 200), arr.slice(299, 1), arr.slice(5, 0)):
                node, buffers = wire(part)
                column = Column.from_buffers(ours, node[:4], buffers)
                self.assertEqual(column.to_pylist(), as_python(part), f"{ours} {part.offset}")

    def test_writes_what_pyarrow_reads(self):
        for ours, theirs in PAIRS:
            want = sample(theirs, 257)
            column = Column.from_pylist(ours, as_python(want))
            node, buffers = column.to_buffers()
            self.assertEqual(node[:2], (257, want.null_count))
            pa_buffers = [None if not b else pa.py_buffer(b) for b in buffers]
            got = pa.Array.from_buffers(theirs, node[0], pa_buffers, null_count=node[1])
            got.validate(full=True)
            self.assertTrue(got.equals(want), f"{ours}: {got} != {want}")

    def test_filter_keeps_the_chosen_rows(self):
        for ours, theirs in PAIRS:
            arr = sample(theirs, 100).slice(3, 90)
            node, buffers = wire(arr)
            keep = bytes(i % 3 != 1 for i in range(90))
            got = Column.from_buffers(ours, node[:4], buffers).filter(keep)
            want = [v for v, k in zip(as_python(arr), keep) if k]
            self.assertEqual(got.to_pylist(), want, str(ours))
            self.assertEqual(got.null_count, want.count(None))

    def test_dictionary_columns_are_decoded(self):
        arr = pa.array(["b", None, "ü", "b", "a"]).dictionary_encode().slice(1, 4)
        indices, dictionary = arr.indices, arr.dictionary
        (node, own), (child, child_buffers) = wire(indices), wire(dictionary)
        field = Field("d", T.utf8, True, dictionary=(0, T.int32))
        batch = from_wire(Schema([field]), 4, [node, child], own + child_buffers)
        self.assertEqual(batch.to_pydict(), {"d": [None, "ü", "b", "a"]})


class IpcBatchTest(unittest.TestCase):
    def test_reads_record_and_dictionary_batches_of_a_stream(self):
        table = pa.table({
            "n": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["x", "日本", None]).dictionary_encode(),
        })
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        stream = sink.getvalue().to_pybytes()
        schema = ipc.read_schema(stream)
        kinds = [kind for kind, _, _ in ipc.messages(stream)]
        self.assertEqual(kinds, [ipc.HEADER_SCHEMA, ipc.HEADER_DICTIONARY_BATCH, ipc.HEADER_RECORD_BATCH])
        _, header, body = list(ipc.messages(stream))[2]
        rows, nodes, buffers = ipc.read_record_batch(header, body)
        self.assertEqual((rows, nodes), (3, [(3, 1), (3, 1)]))
        numbers = Column.from_buffers(schema.fields[0].type, (*nodes[0], 0, 0), buffers[:2])
        self.assertEqual(numbers.to_pylist(), [1, None, 3])


class BatchTest(unittest.TestCase):
    def test_passes_columns_through_unchanged(self):
        schema = Schema([Field("a", T.int32), Field("s", T.utf8)])
        batch = Batch.from_pydict(schema, {"a": [1, None], "s": ["é", None]})
        rows, nodes, buffers = to_wire(batch)
        back = from_wire(schema, rows, nodes, [bytes(b) for b in buffers])
        self.assertEqual(to_wire(back)[2], [bytes(b) for b in buffers])
        self.assertEqual(back.to_pydict(), {"a": [1, None], "s": ["é", None]})


if __name__ == "__main__":
    unittest.main()
