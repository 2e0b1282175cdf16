"""`plugin.select`: a transform written as column expressions, which the host
evaluates with its kernels; the plugin's Python runs per batch, not per row."""

from . import compute
from . import types as T
from .compute import Expr, KernelError
from .plugin import PluginError, schema_error


class Select:
    """Output columns as expressions over the input, with rows refused by
    conditions (to the dead-letter sink, with their reason) or dropped by a
    filter. Reads only the input columns the expressions name."""

    def __init__(self, name, columns, reject, where, expect):
        self.name = name
        self.expect = list(expect.items())
        self.exprs = list(columns.items())
        self.reject = list(reject.items())
        self.where = where
        names = []
        for expr in [e for _, e in self.exprs] + [e for _, e in self.reject] + ([where] if where is not None else []):
            names.extend(n for n in expr.columns() if n not in names)
        self.reads = names
        self.inputs = None
        self.schema = None

    def bind(self, schema):
        missing = [n for n in self.reads if schema.index(n) is None]
        if missing:
            raise schema_error(
                f"`{self.name}` reads input column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}, "
                f"which the input lacks (it has: {', '.join(schema.names)})"
            )
        for column, expected in self.expect:
            field = schema.field(column)
            if field is None:
                raise schema_error(f"{self.name} needs input column `{column}` ({expected}), which is missing")
            if not expected.accepts(field.type):
                raise schema_error(f"{self.name} needs input column `{column}` to be {expected}, it is {field.type}")
        # The order the host sends the columns in: the schema's.
        self.inputs = [f.name for f in schema.fields if f.name in self.reads]
        host = compute.backend()
        empty = {f.name: host.empty(f) for f in schema.fields if f.name in self.reads}
        memo = {}
        fields = []
        for name, expr in self.exprs:
            handle = self._check(expr, empty, memo, f"column `{name}`")
            if expr.op == "column":
                field = schema.field(expr.args[0])
                fields.append(T.Field(name, field.type, field.nullable, field.metadata))
            else:
                fields.append(T.Field(name, host.field(handle).type, True))
        for reason, condition in self.reject:
            self._check_condition(condition, empty, memo, f"the condition of rejection {reason!r}")
        if self.where is not None:
            self._check_condition(self.where, empty, memo, "the `where` condition")
        self.schema = T.Schema(fields)
        return self.schema

    def _check(self, expr, inputs, memo, what):
        try:
            return expr.evaluate(inputs, memo)
        except KernelError as e:
            raise schema_error(f"`{self.name}`: {what} ({expr!r}) does not fit the input: {e}") from None

    def _check_condition(self, expr, inputs, memo, what):
        found = compute.backend().field(self._check(expr, inputs, memo, what)).type
        if found != T.bool_:
            raise schema_error(f"`{self.name}`: {what} ({expr!r}) is {found}, not bool")

    def process_handles(self, rows, handles):
        """(rows, output handles, rejections, origin) of one batch."""
        host = compute.backend()
        inputs = dict(zip(self.inputs, handles))
        memo = {}
        refused, rejections = None, []
        for reason, condition in self.reject:
            hit = host.call("fill_null", [condition.evaluate(inputs, memo), False])
            if refused is not None:
                hit = host.call("and_kleene", [hit, host.call("invert", [refused])])
            rows_hit = _true_rows(host, hit)
            if rows_hit:
                rejections.extend((row, reason) for row in rows_hit)
                refused = hit if refused is None else host.call("or_kleene", [refused, hit])
        keep = None if refused is None else host.call("invert", [refused])
        origin = None
        if self.where is not None:
            wanted = host.call("fill_null", [self.where.evaluate(inputs, memo), False])
            keep = wanted if keep is None else host.call("and_kleene", [keep, wanted])
            origin = _true_rows(host, keep)
        out = [e.evaluate(inputs, memo) for _, e in self.exprs]
        if keep is not None:
            filtered = {}
            for h in out:
                if id(h) not in filtered:
                    filtered[id(h)] = host.call("filter", [h, keep])
            out = [filtered[id(h)] for h in out]
        if rejections:
            rejections.sort()
        kept = rows - len(rejections) if origin is None else len(origin)
        return kept, out, rejections, origin

    def finish(self):
        return None


def _true_rows(host, mask):
    """The rows where `mask`, a bool column without nulls, is true."""
    from .column import bitmap_to_mask  # noqa: PLC0415 - column imports compute

    nodes, buffers = host.read(mask)
    length, _, offset, _, _ = nodes[0]
    bits = buffers[1]
    if not bits.strip(b"\0"):
        return []
    flags = bitmap_to_mask(bits, offset, length)
    rows = []
    row = flags.find(1)
    while row >= 0:
        rows.append(row)
        row = flags.find(1, row + 1)
    return rows


def make_select(name, columns, reject=None, where=None, expect=None):
    """A factory of `Select` transforms for `Plugin.select`, with its expressions checked now."""
    if not columns:
        raise ValueError(f"select `{name}` has no columns")
    for key, expected in (expect or {}).items():
        if not isinstance(expected, T.DataType):
            raise TypeError(f"select `{name}`: expect[{key!r}] must be a quiver_sdk.types type, not {expected!r}")
    for key, expr in list(columns.items()) + list((reject or {}).items()):
        if not isinstance(expr, Expr):
            raise TypeError(f"select `{name}`: `{key}` must be an expression (col(...) and the kernels), not {expr!r}")
    if where is not None and not isinstance(where, Expr):
        raise TypeError(f"select `{name}`: `where` must be an expression, not {where!r}")

    def factory(config):
        if config:
            raise PluginError(f"select `{name}` takes no config", "invalid-config")
        return Select(name, dict(columns), dict(reject or {}), where, dict(expect or {}))

    return factory
