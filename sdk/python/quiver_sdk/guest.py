"""The bridge between componentize-py's bindings of the WIT contract and the
author's `Plugin`. Only imported inside the component."""

import importlib

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types as wit

from . import ipc
from .batch import Batch, from_wire, to_wire
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
_STATE = {"plugin": None, "spec": None, "transform": None, "input": None, "output": None}


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


def _output(result, stage):
    if result is None:
        return None
    if isinstance(result, Batch):
        result = Output(result)
    if not isinstance(result, Output):
        raise PluginError(f"{stage} returned {type(result).__name__}, not a Batch or an Output", "failed")
    batch = result.batch
    if batch.schema.names != _STATE["output"].names or [f.type for f in batch.schema.fields] != [
        f.type for f in _STATE["output"].fields
    ]:
        raise PluginError(f"{stage} returned {batch.schema}, but bind answered {_STATE['output']}", "failed")
    rows, nodes, buffers = to_wire(batch)
    return wit.Output(
        batch=wit.Batch(
            num_rows=rows,
            nodes=[wit.FieldNode(length=n[0], null_count=n[1], offset=n[2], null_offset=n[3], buffer_count=n[4])
                   for n in nodes],
            buffers=buffers,
        ),
        rejections=[wit.Rejection(row=row, reason=reason) for row, reason in result.rejections],
        origin=None if result.origin is None else list(result.origin),
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
        output = _STATE["transform"].bind(schema)
        _STATE["input"], _STATE["output"] = schema, output
        return ipc.write_schema(output)

    @_guarded
    def process(self, num_rows, nodes, buffers):
        if _STATE["input"] is None:
            raise PluginError("process called before bind", "invalid-call")
        nodes = [(n.length, n.null_count, n.offset, n.null_offset, n.buffer_count) for n in nodes]
        batch = from_wire(_STATE["input"], num_rows, nodes, buffers)
        return _output(_STATE["transform"].process(batch), "process")

    @_guarded
    def process_ipc(self, stream):
        if _STATE["input"] is None:
            raise PluginError("process-ipc called before bind", "invalid-call")
        outputs = []
        first_row = 0
        dictionaries = {}
        for header_type, header, body in ipc.messages(stream):
            if header_type == ipc.HEADER_DICTIONARY_BATCH:
                dictionary_id, delta, (_, nodes, buffers) = ipc.read_dictionary_batch(header, body)
                field = next(f for f in _STATE["input"].fields if f.dictionary and f.dictionary[0] == dictionary_id)
                values = _dictionary_values(field, nodes, buffers)
                dictionaries[dictionary_id] = (dictionaries.get(dictionary_id, []) + values) if delta else values
            elif header_type == ipc.HEADER_RECORD_BATCH:
                rows, nodes, buffers = ipc.read_record_batch(header, body)
                wire_nodes = _ipc_nodes(_STATE["input"], nodes)
                batch = from_wire(_STATE["input"], rows, wire_nodes, buffers, dictionaries)
                out = _STATE["transform"].process(batch)
                out = Output(out) if isinstance(out, Batch) else out
                out.rejections = [(row + first_row, reason) for row, reason in out.rejections]
                outputs.append(out)
                first_row += rows
        if not outputs:
            raise PluginError("process-ipc got a stream without a record batch", "invalid-call")
        if len(outputs) > 1:
            raise PluginError("process-ipc takes one record batch per stream in the Python SDK", "invalid-call")
        return _output(outputs[0], "process-ipc")

    @_guarded
    def finish(self):
        if _STATE["transform"] is None:
            return None
        return _output(_STATE["transform"].finish(), "finish")


def _dictionary_values(field, nodes, buffers):
    """The values of a dictionary batch, as a list."""
    length, null_count = nodes[0]
    return Column.from_buffers(field.type, (length, null_count, 0, 0), buffers).to_pylist()


def _ipc_nodes(schema, nodes):
    """IPC field nodes (length, null count) as wire nodes: IPC buffers carry no
    offsets, and a dictionary column's node holds its indices only."""
    return [
        (length, null_count, 0, 0, field.type.buffer_count if field.dictionary is None else 2)
        for field, (length, null_count) in zip(schema.fields, nodes)
    ]
