"""`kernels`: one output column per kernel call its configuration names,
over the input's columns, run by the host. The plugin of the kernel
conformance test (tests/clients/kernels.py), which compares every output
with pyarrow.compute.

Config `calls`: JSON, a list of `[output, kernel, [argument, ...]]`, an
argument being `{"col": name}` for an input column or a JSON scalar.
"""

import json

from quiver_sdk import ConfigKey, Plugin, Transform, col, config_error
from quiver_sdk.compute import Expr
from quiver_sdk.select import Select

plugin = Plugin("kernels", "0.1.0", "Runs the host's kernels its configuration names")


def _argument(value):
    return col(value["col"]) if isinstance(value, dict) else value


@plugin.transform(
    name="kernels",
    config=[ConfigKey("calls", "JSON: [[output, kernel, [argument, ...]], ...]; {\"col\": name} or a scalar", True)],
)
class Kernels(Transform):
    """One output column per kernel call of `calls`"""

    def __init__(self, config):
        try:
            calls = json.loads(config["calls"])
            columns = {out: Expr(kernel, [_argument(a) for a in args]) for out, kernel, args in calls}
        except (ValueError, TypeError, KeyError) as e:
            raise config_error(f"`calls` is not a list of [output, kernel, [arguments]]: {e}") from None
        self.select = Select("kernels", columns, {}, None, {})

    def bind(self, schema):
        output = self.select.bind(schema)
        self.reads = self.select.reads
        return output

    def process_handles(self, rows, handles):
        return self.select.process_handles(rows, handles)
