"""Runs a plugin's transforms in plain CPython, through the same schema and
buffer encoding the host uses, for the plugin's own unit tests."""

from . import ipc
from .batch import Batch, from_wire, to_wire
from .plugin import Output


class Run:
    """One opened and bound transform, as one instance of the host would drive it."""

    def __init__(self, plugin, transform, schema, config=None):
        self.transform = plugin.find(transform).open(list((config or {}).items()))
        # Through the encoded schema, as the host sends it.
        self.input = ipc.read_schema(ipc.write_schema(schema))
        self.output = ipc.read_schema(ipc.write_schema(self.transform.bind(self.input)))

    def process(self, batch):
        """The Output of one batch, after a round trip through the wire form both ways."""
        rows, nodes, buffers = to_wire(batch)
        result = self.transform.process(from_wire(self.input, rows, nodes, buffers))
        return _round_trip(result)

    def finish(self):
        return _round_trip(self.transform.finish())


def _round_trip(result):
    if result is None:
        return None
    if isinstance(result, Batch):
        result = Output(result)
    rows, nodes, buffers = to_wire(result.batch)
    result.batch = from_wire(result.batch.schema, rows, nodes, [bytes(b) for b in buffers])
    return result
