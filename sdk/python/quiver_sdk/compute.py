"""Column kernels the host runs (contract 0.2): named as in pyarrow.compute,
and as expressions named as in Polars.

Two ways to use them, over the same kernels:

- Eagerly, as pyarrow.compute: `pc.hour(batch["ts"])` runs the kernel now,
  in the host, and gives a `Column` the host holds. Nothing is copied into
  the plugin until the column is read (`to_pylist`, `values`, `valid`).
- Lazily, as Polars: `col("url").str.extract(r"://([^/?#]*)", 1)` is an
  `Expr`; `plugin.select` evaluates it per batch, and at `bind` over empty
  columns, so a wrong type fails when the plugin binds, naming the column.

Result types are those of arrow-rs: `hour` gives int32 (pyarrow: int64),
`extract_regex(strings, pattern, group=1)` gives the group's text (pyarrow:
a struct of the named groups). The kernels are listed in `docs/contract.md`.
"""

from . import types as T

# The host's kernels: set by the guest bridge, None in plain CPython.
_backend = None


class KernelError(Exception):
    """A kernel refused its arguments, with the host's reason."""


def backend():
    """The host's kernels, or an error that says where they run."""
    if _backend is None:
        raise KernelError(
            "column kernels run in the quiver host: build the plugin and test it through "
            "`quiver plugin test FILE.wasm` (plain CPython has no host)"
        )
    return _backend


def _dispatch(name, args):
    """An `Expr` when an argument is one, else the kernel's result now."""
    if any(isinstance(a, Expr) for a in args):
        return Expr(name, args)
    from .column import Column  # noqa: PLC0415 - column imports this module

    host = backend()
    return Column.from_handle(host.call(name, [_eager(a, host) for a in args]))


def _eager(value, host):
    """A kernel argument: a column's handle, or a scalar as it is."""
    from .column import Column  # noqa: PLC0415

    if isinstance(value, Column):
        return value.handle()
    if isinstance(value, T.DataType):
        return value.name
    return value


class _Operators:
    """Operators and methods shared by `Expr` and `Column`; each is one kernel."""

    __slots__ = ()

    def _op(self, name, *args):
        return _dispatch(name, (self, *args))

    def _rop(self, name, other):
        return _dispatch(name, (other, self))

    def __add__(self, other):
        return self._op("add", other)

    def __radd__(self, other):
        return self._rop("add", other)

    def __sub__(self, other):
        return self._op("subtract", other)

    def __rsub__(self, other):
        return self._rop("subtract", other)

    def __mul__(self, other):
        return self._op("multiply", other)

    def __rmul__(self, other):
        return self._rop("multiply", other)

    def __truediv__(self, other):
        return self._op("divide", other)

    def __rtruediv__(self, other):
        return self._rop("divide", other)

    def __mod__(self, other):
        return self._op("remainder", other)

    def __rmod__(self, other):
        return self._rop("remainder", other)

    def __neg__(self):
        return self._op("negate")

    def __abs__(self):
        return self._op("abs")

    def __lt__(self, other):
        return self._op("less", other)

    def __le__(self, other):
        return self._op("less_equal", other)

    def __gt__(self, other):
        return self._op("greater", other)

    def __ge__(self, other):
        return self._op("greater_equal", other)

    def __and__(self, other):
        return self._op("and_kleene", other)

    def __rand__(self, other):
        return self._rop("and_kleene", other)

    def __or__(self, other):
        return self._op("or_kleene", other)

    def __ror__(self, other):
        return self._rop("or_kleene", other)

    def __xor__(self, other):
        return self._op("xor", other)

    def __invert__(self):
        return self._op("invert")

    # `==` and `!=` as methods too: on a `Column` the operators keep Python's meaning.
    def eq(self, other):
        return self._op("equal", other)

    def ne(self, other):
        return self._op("not_equal", other)

    def lt(self, other):
        return self._op("less", other)

    def le(self, other):
        return self._op("less_equal", other)

    def gt(self, other):
        return self._op("greater", other)

    def ge(self, other):
        return self._op("greater_equal", other)

    def abs(self):
        return self._op("abs")

    def cast(self, dtype):
        """This column as `dtype` (a `quiver_sdk.types` type or its name); values that do not fit fail."""
        return self._op("cast", dtype if isinstance(dtype, str) else dtype.name)

    def is_null(self):
        return self._op("is_null")

    def is_not_null(self):
        return self._op("is_valid")

    def fill_null(self, value):
        return self._op("fill_null", value)

    def hash(self):
        """xxHash64 (seed 0) of each value, as uint64; null for null."""
        return self._op("hash_64")

    def take(self, indices):
        return self._op("take", indices)

    @property
    def str(self):
        """String kernels, named as in Polars' `.str`."""
        return _Strings(self)

    @property
    def dt(self):
        """Temporal kernels, named as in Polars' `.dt`."""
        return _Temporal(self)


class Expr(_Operators):
    """A column expression: a kernel over input columns, scalars and other
    expressions, evaluated per batch by the host."""

    __slots__ = ("op", "args")

    def __init__(self, op, args):
        self.op = op
        self.args = tuple(args)

    def __eq__(self, other):
        return self._op("equal", other)

    def __ne__(self, other):
        return self._op("not_equal", other)

    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError("an expression has no truth value: combine conditions with `&`, `|` and `~`")

    def __repr__(self):
        if self.op == "column":
            return f"col({self.args[0]!r})"
        return f"{self.op}({', '.join(map(repr, self.args))})"

    def filter(self, mask):
        return self._op("filter", mask)

    def columns(self):
        """The input columns this expression reads, by name."""
        found = []
        stack = [self]
        while stack:
            e = stack.pop()
            if e.op == "column":
                if e.args[0] not in found:
                    found.append(e.args[0])
            else:
                stack.extend(a for a in e.args if isinstance(a, Expr))
        return found

    def evaluate(self, inputs, memo):
        """The host's handle of this expression's result: `inputs` maps input
        column names to handles; `memo` keeps the results of shared parts."""
        done = memo.get(id(self))
        if done is not None:
            return done
        if self.op == "column":
            result = inputs[self.args[0]]
        else:
            host = backend()
            args = [a.evaluate(inputs, memo) if isinstance(a, Expr) else _eager(a, host) for a in self.args]
            result = host.call(self.op, args)
        memo[id(self)] = result
        return result


def col(name):
    """The input column `name`."""
    return Expr("column", (name,))


class _Namespace:
    __slots__ = ("_of",)

    def __init__(self, of):
        self._of = of

    def _op(self, name, *args):
        return _dispatch(name, (self._of, *args))


class _Strings(_Namespace):
    __slots__ = ()

    def len_chars(self):
        return self._op("utf8_length")

    def len_bytes(self):
        return self._op("binary_length")

    def to_lowercase(self):
        return self._op("utf8_lower")

    def to_uppercase(self):
        return self._op("utf8_upper")

    def strip_chars(self, characters=None):
        return self._op("utf8_trim_whitespace") if characters is None else self._op("utf8_trim", characters)

    def strip_chars_start(self):
        return self._op("utf8_ltrim_whitespace")

    def strip_chars_end(self):
        return self._op("utf8_rtrim_whitespace")

    def starts_with(self, prefix):
        return self._op("starts_with", prefix)

    def ends_with(self, suffix):
        return self._op("ends_with", suffix)

    def contains(self, pattern, literal=False):
        return self._op("match_substring" if literal else "match_substring_regex", pattern)

    def find(self, pattern, literal=False):
        """The character index of the first match, -1 for none."""
        return self._op("find_substring" if literal else "find_substring_regex", pattern)

    def count_matches(self, pattern, literal=False):
        return self._op("count_substring" if literal else "count_substring_regex", pattern)

    def extract(self, pattern, group_index=1):
        """The text of group `group_index` of the first match; null for no match."""
        return self._op("extract_regex", pattern, group_index)

    def replace_all(self, pattern, value, literal=False):
        """Every match replaced by `value`, where `$1` or `${1}` is group 1 and `$$` a `$` (Polars')."""
        if literal:
            return self._op("replace_substring", pattern, value)
        return self._op("replace_substring_regex", pattern, _re2_replacement(value))

    def slice(self, offset, length=None):
        """`length` characters from character `offset`."""
        return self._op("utf8_slice_codeunits", offset, None if length is None else offset + length)

    def split(self, by, literal=True):
        return self._op("split_pattern" if literal else "split_pattern_regex", by)

    def concat(self, *others, separator=""):
        return _dispatch("binary_join_element_wise", (self._of, *others, separator))


def _re2_replacement(polars):
    """A Polars replacement (`$1`, `${1}`, `$$`) in RE2's syntax (`\\1`), the kernel's."""
    out, i = [], 0
    while i < len(polars):
        c = polars[i]
        if c == "\\":
            out.append("\\\\")
        elif c == "$" and polars[i + 1:i + 2] == "$":
            out.append("$")
            i += 1
        elif c == "$" and polars[i + 1:i + 2].isdigit():
            out.append("\\" + polars[i + 1])
            i += 1
        elif c == "$" and polars[i + 1:i + 2] == "{" and "}" in polars[i:]:
            end = polars.index("}", i)
            group = polars[i + 2:end]
            if not group.isdigit() or len(group) != 1:
                raise KernelError(f"replace_all names groups 0 to 9 by number, not ${{{group}}}")
            out.append("\\" + group)
            i = end
        else:
            out.append(c)
        i += 1
    return "".join(out)


class _Temporal(_Namespace):
    __slots__ = ()

    def year(self):
        return self._op("year")

    def quarter(self):
        return self._op("quarter")

    def month(self):
        return self._op("month")

    def day(self):
        return self._op("day")

    def weekday(self):
        """Monday 0 to Sunday 6, as pyarrow's `day_of_week`."""
        return self._op("day_of_week")

    def ordinal_day(self):
        return self._op("day_of_year")

    def hour(self):
        return self._op("hour")

    def minute(self):
        return self._op("minute")

    def second(self):
        return self._op("second")

    def millisecond(self):
        return self._op("millisecond")

    def microsecond(self):
        return self._op("microsecond")

    def nanosecond(self):
        return self._op("nanosecond")

    def truncate(self, every):
        """Floored to the start of its `every`: "second", "minute", "hour" or "day" (UTC)."""
        return self._op("floor_temporal", every)


def _kernel(name):
    def run(*args):
        return _dispatch(name, args)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"The host's `{name}` kernel (as pyarrow.compute.{name})."
    return run


# The kernels whose arguments are pyarrow.compute's, in its order.
_SAME_AS_PYARROW = (
    "utf8_length", "binary_length", "utf8_lower", "utf8_upper", "utf8_trim_whitespace",
    "utf8_ltrim_whitespace", "utf8_rtrim_whitespace", "utf8_trim", "starts_with", "ends_with",
    "match_substring", "find_substring", "count_substring", "split_pattern", "replace_substring",
    "binary_join_element_wise", "match_substring_regex", "find_substring_regex", "count_substring_regex",
    "replace_substring_regex", "split_pattern_regex", "add", "add_checked", "subtract", "subtract_checked",
    "multiply", "multiply_checked", "divide", "remainder", "negate", "abs", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "min_element_wise", "max_element_wise", "year", "quarter",
    "month", "day", "day_of_week", "day_of_year", "hour", "minute", "second", "millisecond", "microsecond",
    "nanosecond", "and_", "or_", "and_kleene", "or_kleene", "xor", "invert", "is_null", "is_valid",
    "fill_null", "coalesce", "if_else", "filter", "take", "hash_64", "sha256",
)

for _name in _SAME_AS_PYARROW:
    # pyarrow spells `and` and `or` with an underscore, as Python keywords.
    globals()[_name] = _kernel(_name.rstrip("_"))


def utf8_slice_codeunits(strings, start, stop=None):
    """Characters `start` to `stop` (exclusive) of each string."""
    return _dispatch("utf8_slice_codeunits", (strings, start, stop))


def extract_regex(strings, pattern, group=1):
    """The text of group `group` of the first match of `pattern`; null for no match."""
    return _dispatch("extract_regex", (strings, pattern, group))


def cast(values, target_type):
    """`values` as `target_type` (a `quiver_sdk.types` type or its name)."""
    return _dispatch("cast", (values, target_type if isinstance(target_type, str) else target_type.name))


def floor_temporal(values, multiple=1, unit="day"):
    """Each timestamp floored to the start of its `unit` (UTC)."""
    if multiple != 1:
        raise KernelError(f"floor_temporal floors to one {unit}, not {multiple}")
    return _dispatch("floor_temporal", (values, unit))


class when:  # noqa: N801 - Polars' name
    """`when(cond).then(a).otherwise(b)`: pyarrow's `if_else(cond, a, b)`."""

    __slots__ = ("_condition", "_then")

    def __init__(self, condition):
        self._condition = condition
        self._then = None

    def then(self, value):
        self._then = value
        return self

    def otherwise(self, value):
        return _dispatch("if_else", (self._condition, self._then, value))
