"""Columns: Arrow arrays as CPython reads them fastest.

A column read from the host wraps the host's buffers without copying:
`values` is a `memoryview` of the numbers (cast to the type's `array`
typecode), `valid` a `bytes` of one 0 or 1 per row. `to_pylist()` gives
Python values with `None` for nulls. New columns are made with
`Column.from_pylist` or, faster, `Column.from_array` over an `array.array`.

Inside the host (contract 0.2) a column may instead be a handle to an array
the host holds: an input column, or a kernel's result (`quiver_sdk.compute`).
Such a column is copied into the plugin the first time it is read, and goes
back to the host as its handle when it is output unread or read.
"""

from array import array
from itertools import accumulate, compress

from . import compute
from . import types as T

_TO_MASK = bytes.maketrans(b"01", b"\x00\x01")
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def bitmap_to_mask(bitmap, offset, length):
    """One byte, 0 or 1, per bit of an Arrow (LSB first) bitmap, from bit `offset`."""
    if length == 0:
        return b""
    digits = format(int.from_bytes(bitmap, "little"), "b")[::-1]
    return digits.ljust(offset + length, "0")[offset:offset + length].encode().translate(_TO_MASK)


def mask_to_bitmap(mask):
    """An Arrow bitmap of a `bytes` of 0s and 1s."""
    if not mask:
        return b""
    return int(bytes(mask[::-1]).translate(_TO_DIGITS), 2).to_bytes((len(mask) + 7) // 8, "little")


class Column(compute._Operators):
    """One column of a batch. Read-only: transforms build new columns, with
    the constructors below or the kernels of `quiver_sdk.compute`, whose
    operators (`+`, `<`, `&`, ...) and `.str` and `.dt` work on columns too."""

    __slots__ = ("type", "length", "_null_count", "_valid", "_values", "_offsets", "_data", "_list", "_source",
                 "_handle", "_field", "_unread")

    def __init__(self, dtype, length, null_count=0, valid=None, values=None, offsets=None, data=None,
                 pylist=None, source=None):
        self.type = dtype
        self.length = length
        self._null_count = null_count
        self._handle = None  # the host's array, for columns the host holds
        self._field = None  # the field the host's array has (a dictionary's index type)
        self._unread = False  # whether the host's array is still to be copied in
        self._valid = valid  # bytes of 0/1 per row, or None when there are no nulls
        self._values = values  # memoryview/array of numbers, or bytes mask for bools
        self._offsets = offsets  # memoryview/array of length + 1 offsets into _data
        self._data = data
        self._list = pylist  # Python values, when they were made first
        self._source = source  # (node, buffers) as received, to send back unchanged

    # --- the host's columns ----------------------------------------------

    @classmethod
    def from_handle(cls, handle, field=None, length=None):
        """A column the host holds: `field` and `length` when known, else asked of the host."""
        host = compute.backend()
        if field is None:
            field = host.field(handle)
        column = cls(field.type, host.length(handle) if length is None else length, None)
        column._handle, column._field, column._unread = handle, field, True
        return column

    def handle(self):
        """The host's handle of this column; a column the plugin made is copied to the host once."""
        if self._handle is None:
            self._handle = compute.backend().upload(self)
        return self._handle

    @property
    def null_count(self):
        if self._null_count is None:
            self._null_count = compute.backend().null_count(self._handle)
        return self._null_count

    def _load(self):
        """Copies the host's array in, on first use."""
        if not self._unread:
            return
        from .batch import from_wire  # noqa: PLC0415 - batch imports this module

        nodes, buffers = compute.backend().read(self._handle)
        field = self._field
        single = T.Schema([T.Field("column", field.type, True, dictionary=field.dictionary)])
        loaded = from_wire(single, self.length, nodes, buffers).columns[0]
        for slot in ("_null_count", "_valid", "_values", "_offsets", "_data", "_list"):
            setattr(self, slot, getattr(loaded, slot))
        self._unread = False

    # --- reading ---------------------------------------------------------

    def __len__(self):
        return self.length

    def __iter__(self):
        return iter(self.to_pylist())

    def __getitem__(self, i):
        return self.to_pylist()[i]

    def __repr__(self):
        shown = self.to_pylist()[:10]
        return f"Column({self.type}, {shown}{'...' if self.length > 10 else ''})"

    @property
    def valid(self):
        """`bytes` with 1 for each valid row and 0 for each null, or None when no row is null."""
        self._load()
        return self._valid

    @property
    def values(self):
        """The numbers of a numeric, date or timestamp column, null slots included
        (their value is unspecified): a `memoryview`, no copy. Bools: a `bytes` of 0/1."""
        self._load()
        if self._values is None:
            raise TypeError(f"a {self.type} column has no `values`; use to_pylist()")
        return self._values

    def to_pylist(self):
        """The values as a list, `None` for nulls."""
        if self._list is None:
            self._load()
        if self._list is None:
            self._list = self._make_list()
        return self._list

    def _make_list(self):
        dtype = self.type
        if dtype.type_id == T.NULL:
            return [None] * self.length
        if dtype.is_variable:
            values = self._decode_variable()
        elif dtype.type_id == T.BOOL:
            values = list(map(bool, self._values))
        else:
            values = self._values.tolist()
        if self._valid is not None:
            values = [v if k else None for v, k in zip(values, self._valid)]
        return values

    def _decode_variable(self):
        offsets = self._offsets
        if self.length == 0:
            return []
        end = offsets[-1]
        raw = bytes(self._data[:end])
        starts, ends = offsets[:-1], offsets[1:]
        if self.type.is_string:
            if raw.isascii():
                # Byte offsets are character offsets: decode once and slice.
                text = raw.decode("ascii")
                return list(map(text.__getitem__, map(slice, starts, ends)))
            return list(map(bytes.decode, map(raw.__getitem__, map(slice, starts, ends))))
        return list(map(raw.__getitem__, map(slice, starts, ends)))

    # --- making ----------------------------------------------------------

    @classmethod
    def from_pylist(cls, dtype, values):
        """A column of `dtype` from Python values, `None` for nulls."""
        values = values if isinstance(values, list) else list(values)
        length = len(values)
        nulls = values.count(None)
        valid = bytes(v is not None for v in values) if nulls else None
        if dtype.type_id == T.NULL:
            return cls(dtype, length, length, pylist=[None] * length)
        if dtype.is_variable:
            if dtype.is_string:
                texts = [v or "" for v in values] if nulls else values
                joined = "".join(texts)
                if joined.isascii():
                    # One character is one byte: lengths and data without a bytes object per value.
                    offsets = array(dtype.offset_typecode, [0])
                    offsets.extend(accumulate(map(len, texts)))
                    return cls(dtype, length, nulls, valid, offsets=offsets, data=joined.encode("ascii"),
                               pylist=values)
                encoded = [b"" if v is None else v.encode() for v in values]
            else:
                encoded = [b"" if v is None else bytes(v) for v in values]
            offsets = array(dtype.offset_typecode, [0])
            offsets.extend(accumulate(map(len, encoded)))
            return cls(dtype, length, nulls, valid, offsets=offsets, data=b"".join(encoded), pylist=values)
        if dtype.type_id == T.BOOL:
            bits = bytes(bool(v) for v in values)
            return cls(dtype, length, nulls, valid, values=bits, pylist=values)
        numbers = array(dtype.typecode, [0 if v is None else v for v in values] if nulls else values)
        return cls(dtype, length, nulls, valid, values=numbers, pylist=values)

    @classmethod
    def from_array(cls, dtype, numbers, valid=None):
        """A numeric column over `numbers` (an `array.array` of the type's
        typecode, or any buffer of it), with `valid` a `bytes` of 0/1 per row
        or None when no row is null. No per-value Python objects are made."""
        view = memoryview(numbers)
        if view.format != dtype.typecode:
            view = view.cast("B").cast(dtype.typecode)
        nulls = 0 if valid is None else len(valid) - sum(valid)
        return cls(dtype, len(view), nulls, valid if nulls else None, values=view)

    def filter(self, keep):
        """The rows whose entry in `keep` (a `bytes` or list of 0/1, or bools, or a
        bool `Column`) is true. A column the host holds is filtered there."""
        if isinstance(keep, (Column, compute.Expr)):
            return self._op("filter", keep)
        keep = keep if isinstance(keep, (bytes, bytearray)) else bytes(map(bool, keep))
        if self._unread:
            return self._op("filter", Column(T.bool_, len(keep), 0, values=bytes(keep)))
        self._load()
        valid = bytes(compress(self._valid, keep)) if self._valid is not None else None
        nulls = 0 if valid is None else len(valid) - sum(valid)
        if self.type.is_variable and self._offsets is not None:
            # Slice the kept values' bytes: no decoding, no Python string per value.
            offsets = self._offsets
            starts, ends = list(compress(offsets[:-1], keep)), list(compress(offsets[1:], keep))
            raw = bytes(self._data[:offsets[-1]]) if len(offsets) else b""
            data = b"".join(map(raw.__getitem__, map(slice, starts, ends)))
            new_offsets = array(self.type.offset_typecode, [0])
            new_offsets.extend(accumulate(map(int.__sub__, ends, starts)))
            return Column(self.type, len(starts), nulls, valid if nulls else None, offsets=new_offsets, data=data)
        if self.type.is_variable or self.type.type_id == T.NULL or self._values is None:
            return Column.from_pylist(self.type, list(compress(self.to_pylist(), keep)))
        if self.type.type_id == T.BOOL:
            values = bytes(compress(self._values, keep))
        else:
            values = array(self.type.typecode, compress(self._values, keep))
        return Column(self.type, len(values), nulls, valid if nulls else None, values=values)

    # --- the wire --------------------------------------------------------

    @classmethod
    def from_buffers(cls, dtype, node, buffers, source=None):
        """Wraps one array the host sent: `node` is (length, null count,
        offset, null offset), `buffers` its validity bitmap and data buffers."""
        length, null_count, offset, null_offset = node
        valid = bitmap_to_mask(buffers[0], null_offset, length) if null_count and buffers[0] else None
        if dtype.type_id == T.NULL:
            return cls(dtype, length, length, source=source)
        if dtype.is_variable:
            offsets = _cast(buffers[1], dtype.offset_typecode)[offset:offset + length + 1]
            return cls(dtype, length, null_count, valid, offsets=offsets, data=memoryview(buffers[2]), source=source)
        if dtype.type_id == T.BOOL:
            return cls(dtype, length, null_count, valid, values=bitmap_to_mask(buffers[1], offset, length),
                       source=source)
        values = _cast(buffers[1], dtype.typecode)[offset:offset + length]
        return cls(dtype, length, null_count, valid, values=values, source=source)

    def to_buffers(self):
        """(node, buffers) for the host: node is (length, null count, offset,
        null offset, buffer count)."""
        self._load()
        if self._source is not None:
            return self._source
        dtype = self.type
        validity = mask_to_bitmap(self._valid) if self._valid is not None else b""
        node = (self.length, self.null_count, 0, 0, dtype.buffer_count)
        if dtype.type_id == T.NULL:
            return node, []
        if dtype.is_variable:
            return node, [validity, _to_bytes(self._offsets), _to_bytes(self._data)]
        if dtype.type_id == T.BOOL:
            return node, [validity, mask_to_bitmap(self._values)]
        return node, [validity, _to_bytes(self._values)]


def _cast(buffer, typecode):
    """A buffer as a memoryview of `typecode` items; a partial last item is left out."""
    view = memoryview(buffer).cast("B")
    size = array(typecode).itemsize
    return view[:len(view) - len(view) % size].cast(typecode)


def _to_bytes(buffer):
    return buffer if isinstance(buffer, bytes) else bytes(buffer)
