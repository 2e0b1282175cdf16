"""Arrow data types the Python SDK reads and writes.

Values cross as Python numbers: integers for every integer type and for
dates (days or milliseconds since 1970) and timestamps (in their unit, since
1970 UTC), floats, bools, `str` for utf8 and `bytes` for binary.
"""

from array import array

# Arrow's flatbuffer type ids (Schema.fbs, union `Type`).
NULL, INT, FLOAT, BINARY, UTF8, BOOL, DATE, TIMESTAMP, LARGE_BINARY, LARGE_UTF8 = 1, 2, 3, 4, 5, 6, 8, 10, 19, 20

TIME_UNITS = ("s", "ms", "us", "ns")


class DataType:
    """One Arrow type. Compare with `==`; print for Arrow's name of it."""

    __slots__ = ("type_id", "bit_width", "signed", "unit", "tz", "typecode", "name")

    def __init__(self, type_id, name, bit_width=0, signed=False, unit=None, tz=None, typecode=None):
        self.type_id = type_id
        self.name = name
        self.bit_width = bit_width
        self.signed = signed
        self.unit = unit
        self.tz = tz
        # The `array` module's code for the values buffer, where one fits.
        self.typecode = typecode

    def _key(self):
        return (self.type_id, self.bit_width, self.signed, self.unit, self.tz)

    def __eq__(self, other):
        return isinstance(other, DataType) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return self.name

    def accepts(self, other):
        """Whether a column of `other` fits where this type is expected: equal,
        or a timestamp of the same unit when this one's zone is "*" (any)."""
        if self.type_id == TIMESTAMP and self.tz == "*":
            return other.type_id == TIMESTAMP and other.unit == self.unit
        return self == other

    def __or__(self, other):
        # `int32 | None` in a scalar function's signature: the function sees nulls.
        if other is None:
            return Nullable(self)
        return NotImplemented

    __ror__ = __or__

    @property
    def is_string(self):
        return self.type_id in (UTF8, LARGE_UTF8)

    @property
    def is_binary(self):
        return self.type_id in (BINARY, LARGE_BINARY)

    @property
    def is_variable(self):
        """Whether values are stored as offsets into a data buffer."""
        return self.type_id in (UTF8, LARGE_UTF8, BINARY, LARGE_BINARY)

    @property
    def offset_typecode(self):
        return "q" if self.type_id in (LARGE_UTF8, LARGE_BINARY) else "i"

    @property
    def buffer_count(self):
        """Buffers of one array of this type, validity bitmap included."""
        if self.type_id == NULL:
            return 1
        return 3 if self.is_variable else 2


class Nullable:
    """`dtype | None`: a scalar parameter that receives `None` for nulls
    instead of making the result null without a call."""

    __slots__ = ("type",)

    def __init__(self, dtype):
        self.type = dtype

    def __repr__(self):
        return f"{self.type} | None"


def _typecode(size, signed):
    """The `array` typecode of a `size`-byte integer on this platform."""
    for code in ("b", "h", "i", "l", "q"):
        if array(code).itemsize == size:
            return code if signed else code.upper()
    raise TypeError(f"no array typecode for {size}-byte integers")


def _int(bits, signed):
    name = ("int" if signed else "uint") + str(bits)
    return DataType(INT, name, bits, signed, typecode=_typecode(bits // 8, signed))


int8, int16, int32, int64 = (_int(b, True) for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (_int(b, False) for b in (8, 16, 32, 64))
float32 = DataType(FLOAT, "float32", 32, True, typecode="f")
float64 = DataType(FLOAT, "float64", 64, True, typecode="d")
bool_ = DataType(BOOL, "bool", 1)
utf8 = DataType(UTF8, "utf8")
large_utf8 = DataType(LARGE_UTF8, "large_utf8")
binary = DataType(BINARY, "binary")
large_binary = DataType(LARGE_BINARY, "large_binary")
date32 = DataType(DATE, "date32", 32, True, unit="day", typecode=_typecode(4, True))
date64 = DataType(DATE, "date64", 64, True, unit="ms", typecode=_typecode(8, True))
null = DataType(NULL, "null")

INTEGERS = {t.name: t for t in (int8, int16, int32, int64, uint8, uint16, uint32, uint64)}


def timestamp(unit, tz=None):
    """A timestamp type: `unit` one of "s", "ms", "us", "ns"; `tz` a zone name or
    None; "*" for any zone, where a plugin says what input it expects."""
    if unit not in TIME_UNITS:
        raise ValueError(f"timestamp unit must be one of {TIME_UNITS}, not {unit!r}")
    name = f"timestamp[{unit}]" if tz is None else f"timestamp[{unit}, {tz}]"
    return DataType(TIMESTAMP, name, 64, True, unit=unit, tz=tz, typecode=_typecode(8, True))


class Field:
    """A named column of a schema."""

    __slots__ = ("name", "type", "nullable", "metadata", "dictionary")

    def __init__(self, name, type, nullable=True, metadata=None, dictionary=None):
        self.name = name
        self.type = type
        self.nullable = nullable
        self.metadata = dict(metadata or {})
        # For a dictionary-encoded input column: (dictionary id, index type).
        # The SDK decodes such columns, so `type` is the values' type.
        self.dictionary = dictionary

    def __eq__(self, other):
        return isinstance(other, Field) and (self.name, self.type, self.nullable, self.metadata) == (
            other.name,
            other.type,
            other.nullable,
            other.metadata,
        )

    def __repr__(self):
        return f"Field({self.name!r}, {self.type!r}{'' if self.nullable else ', not null'})"


class Schema:
    """The fields of a batch, in order."""

    __slots__ = ("fields", "metadata")

    def __init__(self, fields, metadata=None):
        self.fields = list(fields)
        self.metadata = dict(metadata or {})

    def index(self, name):
        """The position of column `name`, or None."""
        for i, field in enumerate(self.fields):
            if field.name == name:
                return i
        return None

    def field(self, name):
        """The field named `name`, or None."""
        i = self.index(name)
        return None if i is None else self.fields[i]

    @property
    def names(self):
        return [f.name for f in self.fields]

    def __eq__(self, other):
        return isinstance(other, Schema) and (self.fields, self.metadata) == (other.fields, other.metadata)

    def __repr__(self):
        return "Schema(" + ", ".join(f"{f.name}: {f.type}" for f in self.fields) + ")"
