"""Arrow IPC messages, read and written with the pure-Python `flatbuffers`
package: schemas (for `bind`) and record and dictionary batches (for
`process-ipc`). Only the types of `quiver_sdk.types` are understood; any
other is refused with the column's name.
"""

import struct

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from . import types as T

CONTINUATION = b"\xff\xff\xff\xff"
END_OF_STREAM = CONTINUATION + b"\x00\x00\x00\x00"
METADATA_V5 = 4
HEADER_SCHEMA, HEADER_DICTIONARY_BATCH, HEADER_RECORD_BATCH = 1, 2, 3

# Arrow type ids this SDK cannot read, named for the error message.
_UNSUPPORTED = {
    7: "decimal", 9: "time", 11: "interval", 12: "list", 13: "struct", 14: "union", 15: "fixed_size_binary",
    16: "fixed_size_list", 17: "map", 18: "duration", 21: "large_list", 22: "run_end_encoded",
    23: "binary_view", 24: "utf8_view", 25: "list_view", 26: "large_list_view",
}


class IpcError(ValueError):
    """An IPC stream this SDK cannot read."""


# --- reading -------------------------------------------------------------


def _slot(table, slot):
    """The offset of field `slot` in `table`, or 0 when it is absent."""
    return table.Offset(4 + 2 * slot)


def _scalar(table, slot, flags, default):
    o = _slot(table, slot)
    return table.Get(flags, o + table.Pos) if o else default


def _string(table, slot):
    o = _slot(table, slot)
    return table.String(o + table.Pos).decode() if o else None


def _subtable(table, slot):
    o = _slot(table, slot)
    return Table(table.Bytes, table.Indirect(o + table.Pos)) if o else None


def _tables(table, slot):
    o = _slot(table, slot)
    if not o:
        return []
    start, count = table.Vector(o), table.VectorLen(o)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(count)]


def _structs(table, slot, size):
    """A vector of structs of `size` bytes: their positions in the buffer."""
    o = _slot(table, slot)
    if not o:
        return []
    start, count = table.Vector(o), table.VectorLen(o)
    return [start + size * i for i in range(count)]


def _metadata(table, slot):
    return {_string(kv, 0): _string(kv, 1) for kv in _tables(table, slot)}


def _int_type(t):
    bits, signed = _scalar(t, 0, N.Int32Flags, 0), bool(_scalar(t, 1, N.BoolFlags, False))
    name = ("int" if signed else "uint") + str(bits)
    return T.INTEGERS.get(name)


def _data_type(field, name):
    type_id = _scalar(field, 2, N.Uint8Flags, 0)
    t = _subtable(field, 3)
    if type_id == T.INT:
        found = _int_type(t)
        if found is None:
            raise IpcError(f"column `{name}`: integers of {_scalar(t, 0, N.Int32Flags, 0)} bits are not supported")
        return found
    if type_id == T.FLOAT:
        precision = _scalar(t, 0, N.Int16Flags, 0)
        if precision == 0:
            raise IpcError(f"column `{name}`: float16 is not supported")
        return T.float32 if precision == 1 else T.float64
    if type_id == T.DATE:
        return T.date32 if _scalar(t, 0, N.Int16Flags, 1) == 0 else T.date64
    if type_id == T.TIMESTAMP:
        return T.timestamp(T.TIME_UNITS[_scalar(t, 0, N.Int16Flags, 0)], _string(t, 1))
    simple = {T.NULL: T.null, T.BOOL: T.bool_, T.UTF8: T.utf8, T.LARGE_UTF8: T.large_utf8, T.BINARY: T.binary,
              T.LARGE_BINARY: T.large_binary}
    if type_id in simple:
        return simple[type_id]
    kind = _UNSUPPORTED.get(type_id, f"type {type_id}")
    raise IpcError(f"column `{name}` is {kind}, which the Python SDK does not support")


def _field(table):
    name = _string(table, 0) or ""
    dictionary = None
    encoding = _subtable(table, 4)
    if encoding is not None:
        index = _subtable(encoding, 1)
        index_type = _int_type(index) if index is not None else T.int32
        dictionary = (_scalar(encoding, 0, N.Int64Flags, 0), index_type)
    return T.Field(name, _data_type(table, name), bool(_scalar(table, 1, N.BoolFlags, False)),
                   _metadata(table, 6), dictionary)


def messages(stream):
    """Yields (header type, header table, body memoryview) for each message of an IPC stream."""
    view = memoryview(stream)
    pos = 0
    while pos + 4 <= len(view):
        (length,) = struct.unpack_from("<i", view, pos)
        pos += 4
        if length == -1:  # continuation marker, then the real length
            (length,) = struct.unpack_from("<i", view, pos)
            pos += 4
        if length == 0:
            return
        meta = bytes(view[pos:pos + length])
        pos += length
        message = Table(meta, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, meta, 0))
        header_type = _scalar(message, 1, N.Uint8Flags, 0)
        header = _subtable(message, 2)
        body_length = _scalar(message, 3, N.Int64Flags, 0)
        body = view[pos:pos + body_length]
        pos += body_length
        yield header_type, header, body


def read_schema_message(header):
    """The schema in a Schema message header."""
    return T.Schema([_field(f) for f in _tables(header, 1)], _metadata(header, 2))


def read_schema(stream):
    """The schema at the start of an IPC stream (the `bind` argument)."""
    for header_type, header, _ in messages(stream):
        if header_type == HEADER_SCHEMA:
            return read_schema_message(header)
        raise IpcError("the IPC stream does not start with a schema")
    raise IpcError("the IPC stream is empty")


def read_record_batch(header, body):
    """(rows, [(length, null count)], [buffer memoryviews]) of a RecordBatch header and its body."""
    if _subtable(header, 3) is not None:
        raise IpcError("compressed IPC buffers are not supported by the Python SDK; send them uncompressed")
    buf = header.Bytes
    nodes = [struct.unpack_from("<qq", buf, p) for p in _structs(header, 1, 16)]
    buffers = [body[off:off + length] for off, length in
               (struct.unpack_from("<qq", buf, p) for p in _structs(header, 2, 16))]
    return _scalar(header, 0, N.Int64Flags, 0), nodes, buffers


def read_dictionary_batch(header, body):
    """(dictionary id, is delta, record batch) of a DictionaryBatch header."""
    data = _subtable(header, 1)
    if data is None:
        raise IpcError("a dictionary batch without data")
    return _scalar(header, 0, N.Int64Flags, 0), bool(_scalar(header, 2, N.BoolFlags, False)), \
        read_record_batch(data, body)


# --- writing -------------------------------------------------------------


def _write_type(b, dtype):
    """Writes the type table of `dtype`; returns (type id, offset)."""
    if dtype.type_id == T.INT:
        b.StartObject(2)
        b.PrependInt32Slot(0, dtype.bit_width, 0)
        b.PrependBoolSlot(1, dtype.signed, False)
    elif dtype.type_id == T.FLOAT:
        b.StartObject(1)
        b.PrependInt16Slot(0, 1 if dtype.bit_width == 32 else 2, 0)
    elif dtype.type_id == T.DATE:
        b.StartObject(1)
        b.PrependInt16Slot(0, 0 if dtype.unit == "day" else 1, 1)
    elif dtype.type_id == T.TIMESTAMP:
        tz = b.CreateString(dtype.tz) if dtype.tz is not None else None
        b.StartObject(2)
        b.PrependInt16Slot(0, T.TIME_UNITS.index(dtype.unit), 0)
        if tz is not None:
            b.PrependUOffsetTRelativeSlot(1, tz, 0)
    else:
        b.StartObject(0)
    return dtype.type_id, b.EndObject()


def _write_vector(b, offsets):
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _write_metadata(b, metadata):
    entries = []
    for key, value in metadata.items():
        k, v = b.CreateString(key), b.CreateString(value)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, k, 0)
        b.PrependUOffsetTRelativeSlot(1, v, 0)
        entries.append(b.EndObject())
    return _write_vector(b, entries) if entries else None


def _write_field(b, field):
    name = b.CreateString(field.name)
    type_id, type_offset = _write_type(b, field.type)
    children = _write_vector(b, [])
    metadata = _write_metadata(b, field.metadata)
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependBoolSlot(1, field.nullable, False)
    b.PrependUint8Slot(2, type_id, 0)
    b.PrependUOffsetTRelativeSlot(3, type_offset, 0)
    b.PrependUOffsetTRelativeSlot(5, children, 0)
    if metadata is not None:
        b.PrependUOffsetTRelativeSlot(6, metadata, 0)
    return b.EndObject()


def write_schema(schema):
    """An IPC stream holding `schema` only: what `bind` returns."""
    b = flatbuffers.Builder(256)
    fields = _write_vector(b, [_write_field(b, f) for f in schema.fields])
    metadata = _write_metadata(b, schema.metadata)
    b.StartObject(4)
    b.PrependInt16Slot(0, 0, 0)  # little endian
    b.PrependUOffsetTRelativeSlot(1, fields, 0)
    if metadata is not None:
        b.PrependUOffsetTRelativeSlot(2, metadata, 0)
    header = b.EndObject()
    b.StartObject(5)
    b.PrependInt16Slot(0, METADATA_V5, 0)
    b.PrependUint8Slot(1, HEADER_SCHEMA, 0)
    b.PrependUOffsetTRelativeSlot(2, header, 0)
    b.PrependInt64Slot(3, 0, 0)
    b.Finish(b.EndObject())
    meta = bytes(b.Output())
    meta += b"\x00" * (-len(meta) % 8)
    return CONTINUATION + struct.pack("<i", len(meta)) + meta + END_OF_STREAM
