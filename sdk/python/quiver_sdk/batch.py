"""Batches: named columns of one schema, and their wire form."""

from . import types as T
from .column import Column


class Batch:
    """A record batch: columns of equal length, named by a schema."""

    __slots__ = ("schema", "columns", "num_rows")

    def __init__(self, schema, columns, num_rows=None):
        if len(schema.fields) != len(columns):
            raise ValueError(f"{len(schema.fields)} fields but {len(columns)} columns")
        if num_rows is None:
            num_rows = len(columns[0]) if columns else 0
        for field, column in zip(schema.fields, columns):
            if len(column) != num_rows:
                raise ValueError(f"column `{field.name}` has {len(column)} rows, the batch {num_rows}")
            if column.type != field.type:
                raise ValueError(f"column `{field.name}` is {column.type}, its field says {field.type}")
        self.schema = schema
        self.columns = list(columns)
        self.num_rows = num_rows

    @classmethod
    def from_columns(cls, columns, nullable=True):
        """A batch of a `{name: Column}` dict, in its order."""
        fields = [T.Field(name, column.type, nullable) for name, column in columns.items()]
        return cls(T.Schema(fields), list(columns.values()))

    @classmethod
    def from_pydict(cls, schema, values):
        """A batch of `schema` from `{name: list of Python values}`."""
        return cls(schema, [Column.from_pylist(f.type, values[f.name]) for f in schema.fields])

    def column(self, name):
        """The column named `name`; KeyError names the columns there are."""
        i = self.schema.index(name)
        if i is None:
            raise KeyError(f"no column `{name}`; the batch has {', '.join(self.schema.names)}")
        return self.columns[i]

    __getitem__ = column

    def __getitem__(self, name):
        """`batch["a"]`: the column named `name`, as `column(name)`."""
        return self.column(name)

    def __len__(self):
        return self.num_rows

    def to_pydict(self):
        """`{name: list of Python values}`."""
        return {f.name: c.to_pylist() for f, c in zip(self.schema.fields, self.columns)}

    def filter(self, keep):
        """The rows whose entry in `keep` (`bytes` or list of 0/1 or bools, or a
        bool `Column`) is true."""
        if not isinstance(keep, Column) and any(c._unread for c in self.columns):
            # The host filters the columns it holds: send it the mask once.
            keep = keep if isinstance(keep, (bytes, bytearray)) else bytes(map(bool, keep))
            keep = Column(T.bool_, len(keep), 0, values=bytes(keep))
        if isinstance(keep, Column):
            return Batch(self.schema, [c.filter(keep) for c in self.columns], None if self.columns else 0)
        return Batch(self.schema, [c.filter(keep) for c in self.columns])

    def __repr__(self):
        return f"Batch({self.num_rows} rows, {self.schema})"


def from_wire(schema, num_rows, nodes, buffers, dictionaries=None):
    """The batch the host sent: `nodes` are (length, null count, offset, null
    offset, buffer count) tuples in depth-first order, `buffers` theirs.
    Dictionary-encoded columns are decoded; `dictionaries` maps ids to value
    columns for IPC input, where dictionaries travel apart."""
    columns = []
    n = b = 0
    for field in schema.fields:
        if n >= len(nodes):
            raise ValueError(f"the host sent {len(nodes)} arrays, too few for column `{field.name}`")
        node = nodes[n]
        count = node[4]
        own = buffers[b:b + count]
        n, b = n + 1, b + count
        if field.dictionary is None:
            columns.append(Column.from_buffers(field.type, node[:4], own, source=(node, own)))
            continue
        dictionary_id, index_type = field.dictionary
        indices = Column.from_buffers(index_type, node[:4], own).to_pylist()
        if dictionaries is None:
            child = nodes[n]
            child_buffers = buffers[b:b + child[4]]
            n, b = n + 1, b + child[4]
            values = Column.from_buffers(field.type, child[:4], child_buffers).to_pylist()
        else:
            values = dictionaries[dictionary_id]
        columns.append(Column.from_pylist(field.type, [None if i is None else values[i] for i in indices]))
    return Batch(schema, columns, num_rows)


def to_wire(batch):
    """(rows, nodes, buffers) of a batch, for the host."""
    nodes, buffers = [], []
    for column in batch.columns:
        node, own = column.to_buffers()
        nodes.append(node)
        buffers.extend(own)
    return batch.num_rows, nodes, buffers
