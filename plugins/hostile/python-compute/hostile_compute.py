"""`hostile-compute`: a Python plugin of contract 0.2 that abuses the host's
`compute` interface, to prove each abuse is contained: the call fails with
the host's reason, and the host, and the next call, go on.

Input: any schema whose first column is int64 `x` and second utf8 `s`.
Every transform returns its input (by handle) when the attack is refused
politely; it fails with the host's error otherwise.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import transform as wt
from wit_world.imports import compute, types

ATTACKS = {
    "huge-regex": "compiles a regular expression of a million states",
    "long-pattern": "sends a 1 MiB pattern",
    "stale-handle": "keeps a handle from one call and uses it in the next",
    "mismatched": "adds columns of different lengths",
    "hoard": "doubles a string column until memory runs out",
    "spin-kernels": "calls cheap kernels forever",
    "bad-take": "takes rows past the end",
    "bad-data": "sends a column whose offsets run past its data",
    "unknown-kernel": "calls a kernel that does not exist",
}

STATE = {"attack": None, "kept": None, "calls": 0}


def _fail(message):
    return Err(types.Error(kind=types.ErrorKind.FAILED, message=message))


def _kernel(name, *args):
    """Runs a kernel; its error fails the call, with the host's words."""
    try:
        return compute.call(name, list(args))
    except Err as e:
        raise _fail(f"{name}: {e.value}") from None


def _text(s):
    return compute.Datum_Text(s)


def _col(c):
    return compute.Datum_Column(c)


class Transform(exports.Transform):
    def describe(self):
        return types.PluginInfo(
            name="hostile-compute",
            version="0.2.0",
            description="Abuses the host's kernels (sandbox tests)",
            transforms=[
                types.TransformInfo(name=name, kind=types.TransformKind.MAP, description=text, config_keys=[])
                for name, text in ATTACKS.items()
            ],
        )

    def open(self, transform, config):
        if transform not in ATTACKS:
            raise Err(types.Error(kind=types.ErrorKind.INVALID_CONFIG, message=f"no transform `{transform}`"))
        STATE["attack"] = transform

    def bind(self, input_schema):
        return wt.Binding(output_schema=input_schema, reads=None)

    def process(self, num_rows, columns):
        STATE["calls"] += 1
        attack = getattr(self, "_" + STATE["attack"].replace("-", "_"))
        attack(num_rows, columns)
        return wt.Output(num_rows=num_rows, columns=[wt.OutputColumn_Handle(c) for c in columns],
                         rejections=[], origin=None)

    def finish(self):
        return None

    def _huge_regex(self, rows, columns):
        _kernel("match_substring_regex", _col(columns[1]), _text("(?:[a-z]{1,100}){1,100}" * 20))

    def _long_pattern(self, rows, columns):
        _kernel("match_substring_regex", _col(columns[1]), _text("a" * (1 << 20)))

    def _stale_handle(self, rows, columns):
        kept = STATE["kept"]
        if kept is None:
            # Keep a kernel's result past this call (the inputs go back to the host).
            STATE["kept"] = _kernel("utf8_upper", _col(columns[1]))
            return
        _kernel("utf8_length", _col(kept))

    def _mismatched(self, rows, columns):
        shorter = _kernel("filter", _col(columns[0]), _col(_kernel("greater", _col(columns[0]), compute.Datum_Int(0))))
        _kernel("add", _col(columns[0]), _col(shorter))

    def _hoard(self, rows, columns):
        s = _kernel("utf8_upper", _col(columns[1]))
        while True:
            s = _kernel("binary_join_element_wise", _col(s), _col(s), _text(""))

    def _spin_kernels(self, rows, columns):
        while True:
            _kernel("add", _col(columns[0]), compute.Datum_Int(1))

    def _bad_take(self, rows, columns):
        past = _kernel("add", _col(columns[0]), compute.Datum_Int(rows + 10))
        _kernel("take", _col(columns[0]), _col(past))

    def _bad_data(self, rows, columns):
        field = columns[1].field()
        offsets = (0).to_bytes(4, "little") + (1000).to_bytes(4, "little")
        data = types.ArrayData(
            nodes=[types.FieldNode(length=1, null_count=0, offset=0, null_offset=0, buffer_count=3)],
            buffers=[b"", offsets, b"short"],
        )
        try:
            compute.from_data(field, 1, data)
        except Err as e:
            raise _fail(f"from-data: {e.value}") from None

    def _unknown_kernel(self, rows, columns):
        _kernel("system", _text("rm -rf /"))
