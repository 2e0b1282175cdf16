"""The bridge between componentize-py's bindings of the WIT contract
(`quiver:transform@0.2.0`) and the author's `Plugin`. Only imported inside
the component."""

import importlib

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import transform as wit_transform
from wit_world.imports import compute as wit_compute
from wit_world.imports import types as wit

from . import compute, ipc
from . import types as T
from .batch import Batch
from .column import Column
from .plugin import Output, PluginError

_KINDS = {
    "map": wit.TransformKind.MAP,
    "filter": wit.TransformKind.FILTER,
    "scalar": wit.TransformKind.SCALAR,
    "aggregate": wit.TransformKind.AGGREGATE,
}
_ERRORS = {
    "invalid-config": wit.ErrorKind.INVALID_CONFIG,
    "schema-mismatch": wit.ErrorKind.SCHEMA_MISMATCH,
    "invalid-call": wit.ErrorKind.INVALID_CALL,
    "failed": wit.ErrorKind.FAILED,
}

# componentize-py may make a new `Transform` object per call: the stream's state lives here.
_STATE = {"plugin": None, "spec": None, "transform": None, "input": None, "output": None, "reads": None}


def _plugin():
    if _STATE["plugin"] is None:
        raise PluginError("no plugin module was served; build with `quiver plugin build`", "failed")
    return _STATE["plugin"]


def serve(module):
    """Imports the author's module, which holds the `plugin` global. Called by
    the entry module `quiver plugin build` writes, so the import happens when
    componentize-py snapshots the component, not at every start."""
    plugin = getattr(importlib.import_module(module), "plugin", None)
    if plugin is None:
        raise RuntimeError(f"module `{module}` has no global `plugin` (a quiver_sdk.Plugin)")
    _STATE["plugin"] = plugin


def _fail(kind, message):
    return Err(wit.Error(kind=_ERRORS[kind], message=message))


def _guarded(call):
    """Turns the author's exceptions into the contract's errors."""

    def run(self, *args):
        try:
            return call(self, *args)
        except Err:
            raise
        except PluginError as e:
            raise _fail(e.kind, str(e)) from None
        except ipc.IpcError as e:
            raise _fail("schema-mismatch", str(e)) from None
        except Exception as e:  # a bug in the author's code fails the call, with its message
            raise _fail("failed", f"{type(e).__name__}: {e}") from None

    return run


class _Kernels:
    """The host's `compute` interface, as `quiver_sdk.compute` uses it."""

    def __init__(self):
        self._fields = {}

    def call(self, name, args):
        try:
            return wit_compute.call(name, [_datum(a) for a in args])
        except Err as e:
            raise compute.KernelError(f"`{name}`: {e.value}") from None

    def field(self, handle):
        encoded = handle.field()
        field = self._fields.get(encoded)
        if field is None:
            field = self._fields[encoded] = ipc.read_schema(encoded).fields[0]
        return field

    def length(self, handle):
        return handle.length()

    def null_count(self, handle):
        return handle.null_count()

    def read(self, handle):
        data = handle.read()
        return [_node(n) for n in data.nodes], data.buffers

    def upload(self, column):
        node, buffers = column.to_buffers()
        try:
            return wit_compute.from_data(_field_schema(column.type), column.length, _array_data([node], buffers))
        except Err as e:
            raise compute.KernelError(f"the host refused a column of {column.type}: {e.value}") from None

    def empty(self, field):
        try:
            return wit_compute.empty(_field_schema(field.type))
        except Err as e:
            raise compute.KernelError(f"the host has no empty column of {field.type}: {e.value}") from None


def _datum(value):
    if isinstance(value, wit_compute.Column):
        return wit_compute.Datum_Column(value)
    if value is None:
        return wit_compute.Datum_Null()
    if isinstance(value, bool):
        return wit_compute.Datum_Boolean(value)
    if isinstance(value, int):
        return wit_compute.Datum_Int(value)
    if isinstance(value, float):
        return wit_compute.Datum_Float(value)
    if isinstance(value, str):
        return wit_compute.Datum_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return wit_compute.Datum_Binary(bytes(value))
    raise compute.KernelError(f"a kernel takes columns, None, bool, int, float, str and bytes, not {type(value).__name__}")


def _node(n):
    return (n.length, n.null_count, n.offset, n.null_offset, n.buffer_count)


def _array_data(nodes, buffers):
    return wit.ArrayData(
        nodes=[wit.FieldNode(length=n[0], null_count=n[1], offset=n[2], null_offset=n[3], buffer_count=n[4])
               for n in nodes],
        buffers=[b if isinstance(b, bytes) else bytes(b) for b in buffers],
    )


_SCHEMAS = {}


def _field_schema(dtype):
    """The IPC schema of one nullable field of `dtype`, as `compute` takes it."""
    encoded = _SCHEMAS.get(dtype)
    if encoded is None:
        encoded = _SCHEMAS[dtype] = ipc.write_schema(T.Schema([T.Field("column", dtype, True)]))
    return encoded


compute._backend = _Kernels()


def _output(result, stage):
    if result is None:
        return None
    if isinstance(result, Batch):
        result = Output(result)
    if not isinstance(result, Output):
        raise PluginError(f"{stage} returned {type(result).__name__}, not a Batch or an Output", "failed")
    batch = result.batch
    expected = _STATE["output"]
    if batch.schema.names != expected.names or [f.type for f in batch.schema.fields] != [
        f.type for f in expected.fields
    ]:
        raise PluginError(f"{stage} returned {batch.schema}, but bind answered {expected}", "failed")
    return _wire_output(batch.num_rows, batch.columns, result.rejections, result.origin)


def _wire_output(rows, columns, rejections=(), origin=None):
    """The contract's output: columns the host holds go back as their handles."""
    sent = set()
    wire = []
    for column in columns:
        handle = column._handle if isinstance(column, Column) else column
        if isinstance(column, Column) and column._field is not None and column._field.dictionary is not None:
            # The output schema has the values' type: the host decodes the dictionary.
            handle = compute.backend().call("cast", [handle, column.type.name])
        if handle is not None and id(handle) in sent:
            # A handle goes back once; the host copies the column's buffers by reference.
            handle = compute.backend().call("cast", [handle, (column.type if isinstance(column, Column) else
                                                               compute.backend().field(handle).type).name])
        if handle is not None:
            sent.add(id(handle))
            wire.append(wit_transform.OutputColumn_Handle(handle))
        else:
            node, buffers = column.to_buffers()
            wire.append(wit_transform.OutputColumn_Data(_array_data([node], buffers)))
    return wit_transform.Output(
        num_rows=rows,
        columns=wire,
        rejections=[wit.Rejection(row=row, reason=reason) for row, reason in rejections],
        origin=None if origin is None else list(origin),
    )


class Transform(exports.Transform):
    def describe(self):
        plugin = _plugin()
        return wit.PluginInfo(
            name=plugin.name,
            version=plugin.version,
            description=plugin.description,
            transforms=[
                wit.TransformInfo(
                    name=t.name,
                    kind=_KINDS[t.kind],
                    description=t.description,
                    config_keys=[
                        wit.ConfigKey(name=k.name, description=k.description, required=k.required,
                                      default_value=k.default)
                        for k in t.config_keys
                    ],
                )
                for t in plugin.transforms
            ],
        )

    @_guarded
    def open(self, transform, config):
        spec = _plugin().find(transform)
        _STATE["spec"] = spec
        _STATE["transform"] = spec.open(config)

    @_guarded
    def bind(self, input_schema):
        if _STATE["transform"] is None:
            raise PluginError("bind called before open", "invalid-call")
        schema = ipc.read_schema(input_schema)
        transform = _STATE["transform"]
        output = transform.bind(schema)
        reads = _reads(schema, getattr(transform, "reads", None))
        _STATE["input"], _STATE["output"] = schema, output
        _STATE["reads"] = None if reads is None else T.Schema([schema.fields[i] for i in reads])
        return wit_transform.Binding(output_schema=ipc.write_schema(output), reads=reads)

    @_guarded
    def process(self, num_rows, columns):
        if _STATE["input"] is None:
            raise PluginError("process called before bind", "invalid-call")
        schema = _STATE["reads"] or _STATE["input"]
        transform = _STATE["transform"]
        direct = getattr(transform, "process_handles", None)
        if direct is not None:
            return _wire_output(*direct(num_rows, columns))
        batch = Batch(schema, [Column.from_handle(h, f, num_rows) for h, f in zip(columns, schema.fields)], num_rows)
        return _output(transform.process(batch), "process")

    @_guarded
    def finish(self):
        if _STATE["transform"] is None:
            return None
        return _output(_STATE["transform"].finish(), "finish")


def _reads(schema, names):
    """The indices of the input columns named, in the schema's order; None for all."""
    if names is None:
        return None
    missing = [n for n in names if schema.index(n) is None]
    if missing:
        raise PluginError(f"the transform reads {', '.join(missing)}, which the input lacks", "schema-mismatch")
    wanted = set(names)
    return [i for i, f in enumerate(schema.fields) if f.name in wanted]
