"""Kernel conformance: every kernel of contract 0.2 run by quiver (through the
Python SDK's `kernels` plugin, in a real `quiver run`) against
pyarrow.compute over the same columns, computed here.

    python kernels.py QUIVER KERNELS.wasm WORKDIR

The input is an Arrow IPC file of batches of 3,001 rows, none and one, cut by
the source into slices of 1,000 rows (arrays with offsets), with nulls,
unicode, empty strings and strings longer than 64 KiB. Exits non-zero,
listing each kernel whose values differ from pyarrow's.
"""

import hashlib
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LONG = "ü" * 40_000  # 80,000 bytes
WORDS = ["Straße", "  padded  ", "", "日本語のテキスト", "a/b/c", "x.org?q=1", "AbC", "ŉ", "ab-ab-ab", "\t tab \n"]


def column_s(n, shift):
    """Strings with nulls, and every 250th over 64 KiB (40,000 ü, 2 bytes each)."""
    def value(i):
        if (i + shift) % 7 == 0:
            return None
        if (i + shift) % 250 == 3:
            return LONG + WORDS[i % len(WORDS)]
        return WORDS[(i * 3 + shift) % len(WORDS)]

    return [value(i) for i in range(n)]


def inputs(n, shift):
    """One batch of every column the calls read."""
    ints = [None if (i + shift) % 5 == 0 else (i * 7_919 + shift) % 20_001 - 10_000 for i in range(n)]
    divisors = [None if (i + shift) % 6 == 0 else ((i * 31 + shift) % 97 or 1) * (-1 if i % 3 == 0 else 1) for i in range(n)]
    floats = [None if (i + shift) % 4 == 0 else ((i * 13 + shift) % 1_000) / 8 - 60 for i in range(n)]
    bools = [None if (i + shift) % 3 == 0 else (i + shift) % 2 == 0 for i in range(n)]
    bools2 = [None if (i + shift) % 5 == 1 else (i * 7) % 3 == 0 for i in range(n)]
    # Before and after the epoch, to the millisecond.
    ts = [None if (i + shift) % 9 == 0 else (i * 3_600_017_311 + shift * 86_400_000) - 20_000_000_000_000 for i in range(n)]
    # `take`'s indices point into the slice of 1,000 rows the source cuts.
    index = [(i * 17 + shift) % min(1000, n - i // 1000 * 1000) for i in range(n)]
    return pa.record_batch(
        {
            "s": pa.array(column_s(n, shift), pa.string()),
            "t": pa.array(column_s(n, shift + 3), pa.string()),
            "i": pa.array(ints, pa.int64()),
            "j": pa.array(divisors, pa.int64()),
            "f": pa.array(floats, pa.float64()),
            "b": pa.array(bools, pa.bool_()),
            "c": pa.array(bools2, pa.bool_()),
            "ts": pa.array(ts, pa.timestamp("ms")),
            "idx": pa.array(index, pa.int64()),
        }
    )


def c(name):
    return {"col": name}


def extract(strings, pattern):
    """pyarrow's extract_regex gives a struct of named groups; quiver, group 1's text."""
    return pc.struct_field(pc.extract_regex(strings, "(?P<g>" + pattern + ")" if "(" not in pattern else pattern.replace("(", "(?P<g>", 1)), [0])


def sha256(strings):
    return pa.array([None if s is None else hashlib.sha256(s.encode()).hexdigest() for s in strings.to_pylist()])


def truncated_remainder(a, b):
    # Rust's `%`, which arrow-rs and pyarrow share: the sign of the dividend.
    def rem(x, y):
        if x is None or y is None:
            return None
        r = abs(x) % abs(y)
        return -r if x < 0 else r

    return pa.array([rem(x, y) for x, y in zip(a.to_pylist(), b.to_pylist())], pa.int64())


# [output, kernel, quiver's arguments, what pyarrow computes from the input table].
CALLS = [
    ("utf8_length", "utf8_length", [c("s")], lambda t: pc.utf8_length(t["s"])),
    ("binary_length", "binary_length", [c("s")], lambda t: pc.binary_length(t["s"])),
    ("utf8_lower", "utf8_lower", [c("s")], lambda t: pc.utf8_lower(t["s"])),
    ("utf8_upper", "utf8_upper", [c("s")], lambda t: pc.utf8_upper(t["s"])),
    ("trim_ws", "utf8_trim_whitespace", [c("s")], lambda t: pc.utf8_trim_whitespace(t["s"])),
    ("ltrim_ws", "utf8_ltrim_whitespace", [c("s")], lambda t: pc.utf8_ltrim_whitespace(t["s"])),
    ("rtrim_ws", "utf8_rtrim_whitespace", [c("s")], lambda t: pc.utf8_rtrim_whitespace(t["s"])),
    ("trim", "utf8_trim", [c("s"), " aü"], lambda t: pc.utf8_trim(t["s"], " aü")),
    ("starts_with", "starts_with", [c("s"), "ab"], lambda t: pc.starts_with(t["s"], "ab")),
    ("ends_with", "ends_with", [c("s"), "ab"], lambda t: pc.ends_with(t["s"], "ab")),
    ("match_substring", "match_substring", [c("s"), "/b"], lambda t: pc.match_substring(t["s"], "/b")),
    ("find_substring", "find_substring", [c("s"), "テ"], lambda t: pc.find_substring(t["s"], "テ")),
    ("count_substring", "count_substring", [c("s"), "ab"], lambda t: pc.count_substring(t["s"], "ab")),
    ("slice", "utf8_slice_codeunits", [c("s"), 1, 4], lambda t: pc.utf8_slice_codeunits(t["s"], 1, 4)),
    ("slice_open", "utf8_slice_codeunits", [c("s"), 2, None], lambda t: pc.utf8_slice_codeunits(t["s"], 2)),
    ("replace", "replace_substring", [c("s"), "ab", "XY"], lambda t: pc.replace_substring(t["s"], "ab", "XY")),
    ("join", "binary_join_element_wise", [c("s"), c("t"), "|"], lambda t: pc.binary_join_element_wise(t["s"], t["t"], "|")),
    ("match_regex", "match_substring_regex", [c("s"), "^[a-z]+-"], lambda t: pc.match_substring_regex(t["s"], "^[a-z]+-")),
    ("find_regex", "find_substring_regex", [c("s"), "[/?]"], lambda t: pc.find_substring_regex(t["s"], "[/?]")),
    ("count_regex", "count_substring_regex", [c("s"), "[a-z]b"], lambda t: pc.count_substring_regex(t["s"], "[a-z]b")),
    ("extract", "extract_regex", [c("s"), "/([^/]*)", 1], lambda t: extract(t["s"], "/([^/]*)")),
    # Every match starts with `ab`, but not at its first occurrence in `ab-ab-ab`.
    ("extract_later", "extract_regex", [c("s"), "(ab)$", 1], lambda t: extract(t["s"], "(ab)$")),
    ("replace_regex", "replace_substring_regex", [c("s"), "a(b)", "<\\1>"], lambda t: pc.replace_substring_regex(t["s"], "a(b)", "<\\1>")),
    ("add", "add", [c("i"), c("j")], lambda t: pc.add(t["i"], t["j"])),
    ("add_scalar", "add", [c("i"), 5], lambda t: pc.add(t["i"], 5)),
    ("add_checked", "add_checked", [c("i"), c("j")], lambda t: pc.add_checked(t["i"], t["j"])),
    ("subtract", "subtract", [c("i"), c("j")], lambda t: pc.subtract(t["i"], t["j"])),
    ("subtract_checked", "subtract_checked", [c("i"), 7], lambda t: pc.subtract_checked(t["i"], 7)),
    ("multiply", "multiply", [c("i"), c("j")], lambda t: pc.multiply(t["i"], t["j"])),
    ("multiply_checked", "multiply_checked", [c("i"), -3], lambda t: pc.multiply_checked(t["i"], -3)),
    ("divide", "divide", [c("i"), c("j")], lambda t: pc.divide(t["i"], t["j"])),
    ("divide_float", "divide", [c("f"), 4.0], lambda t: pc.divide(t["f"], 4.0)),
    ("remainder", "remainder", [c("i"), c("j")], lambda t: truncated_remainder(t["i"], t["j"])),
    ("negate", "negate", [c("i")], lambda t: pc.negate(t["i"])),
    ("abs", "abs", [c("f")], lambda t: pc.abs(t["f"])),
    ("equal", "equal", [c("s"), c("t")], lambda t: pc.equal(t["s"], t["t"])),
    ("not_equal", "not_equal", [c("i"), 0], lambda t: pc.not_equal(t["i"], 0)),
    ("less", "less", [c("i"), c("j")], lambda t: pc.less(t["i"], t["j"])),
    ("less_equal", "less_equal", [c("f"), 0.5], lambda t: pc.less_equal(t["f"], 0.5)),
    ("greater", "greater", [c("s"), "b"], lambda t: pc.greater(t["s"], "b")),
    ("greater_equal", "greater_equal", [c("ts"), c("ts")], lambda t: pc.greater_equal(t["ts"], t["ts"])),
    ("min", "min_element_wise", [c("i"), c("j")], lambda t: pc.min_element_wise(t["i"], t["j"])),
    ("max", "max_element_wise", [c("i"), c("j")], lambda t: pc.max_element_wise(t["i"], t["j"])),
    ("cast_int32", "cast", [c("j"), "int32"], lambda t: pc.cast(t["j"], pa.int32())),
    ("cast_string", "cast", [c("i"), "string"], lambda t: pc.cast(t["i"], pa.string())),
    ("cast_float", "cast", [c("i"), "double"], lambda t: pc.cast(t["i"], pa.float64())),
    ("cast_utc", "cast", [c("ts"), "timestamp[ms, tz=UTC]"], lambda t: pc.cast(t["ts"], pa.timestamp("ms", "UTC"))),
    ("year", "year", [c("ts")], lambda t: pc.year(t["ts"])),
    ("quarter", "quarter", [c("ts")], lambda t: pc.quarter(t["ts"])),
    ("month", "month", [c("ts")], lambda t: pc.month(t["ts"])),
    ("day", "day", [c("ts")], lambda t: pc.day(t["ts"])),
    ("day_of_week", "day_of_week", [c("ts")], lambda t: pc.day_of_week(t["ts"])),
    ("day_of_year", "day_of_year", [c("ts")], lambda t: pc.day_of_year(t["ts"])),
    ("hour", "hour", [c("ts")], lambda t: pc.hour(t["ts"])),
    ("minute", "minute", [c("ts")], lambda t: pc.minute(t["ts"])),
    ("second", "second", [c("ts")], lambda t: pc.second(t["ts"])),
    ("millisecond", "millisecond", [c("ts")], lambda t: pc.millisecond(t["ts"])),
    ("microsecond", "microsecond", [c("ts")], lambda t: pc.microsecond(t["ts"])),
    ("nanosecond", "nanosecond", [c("ts")], lambda t: pc.nanosecond(t["ts"])),
    ("floor_hour", "floor_temporal", [c("ts"), "hour"], lambda t: pc.floor_temporal(t["ts"], unit="hour")),
    ("floor_day", "floor_temporal", [c("ts"), "day"], lambda t: pc.floor_temporal(t["ts"], unit="day")),
    ("and", "and", [c("b"), c("c")], lambda t: pc.and_(t["b"], t["c"])),
    ("or", "or", [c("b"), c("c")], lambda t: pc.or_(t["b"], t["c"])),
    ("and_kleene", "and_kleene", [c("b"), c("c")], lambda t: pc.and_kleene(t["b"], t["c"])),
    ("or_kleene", "or_kleene", [c("b"), c("c")], lambda t: pc.or_kleene(t["b"], t["c"])),
    ("xor", "xor", [c("b"), c("c")], lambda t: pc.xor(t["b"], t["c"])),
    ("invert", "invert", [c("b")], lambda t: pc.invert(t["b"])),
    ("is_null", "is_null", [c("s")], lambda t: pc.is_null(t["s"])),
    ("is_valid", "is_valid", [c("i")], lambda t: pc.is_valid(t["i"])),
    ("fill_null", "fill_null", [c("s"), "∅"], lambda t: pc.fill_null(t["s"], "∅")),
    ("coalesce", "coalesce", [c("i"), c("j"), 0], lambda t: pc.coalesce(t["i"], t["j"], 0)),
    ("if_else", "if_else", [c("b"), c("s"), c("t")], lambda t: pc.if_else(t["b"], t["s"], t["t"])),
    ("if_else_null", "if_else", [c("c"), c("i"), None], lambda t: pc.if_else(t["c"], t["i"], pa.scalar(None, pa.int64()))),
    ("take", "take", [c("s"), c("idx")], lambda t: pc.take(t["s"], t["idx"])),
    ("sha256", "sha256", [c("s")], lambda t: sha256(t["s"])),
]


def main():
    quiver, wasm, work = sys.argv[1:4]
    batches = [inputs(3_001, 0), inputs(0, 1), inputs(1, 2), inputs(2_500, 3)]
    schema = batches[0].schema
    source = os.path.join(work, "in.arrow")
    with pa.ipc.new_file(source, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    calls = json.dumps([[out, kernel, args] for out, kernel, args, _ in CALLS])
    pipeline = os.path.join(work, "pipeline.toml")
    with open(pipeline, "w") as f:
        f.write(
            f"""[source]
format = "ipc"
path = "in.arrow"
batch_rows = 1000

[[transform]]
plugin = "{wasm}"
config = {{ calls = {json.dumps(calls)} }}

[sink]
format = "parquet"
path = "out/"
"""
        )
    run = subprocess.run([quiver, "run", "--no-progress", pipeline], cwd=work, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"quiver run failed:\n{run.stdout}\n{run.stderr}")

    # The source's row order is kept: the files in name order are the input's rows.
    out_dir = os.path.join(work, "out")
    files = sorted(f for f in os.listdir(out_dir) if f.endswith(".parquet"))
    got = pa.concat_tables([pq.read_table(os.path.join(out_dir, f)) for f in files])
    # pyarrow computes over the same slices, as `take` needs.
    pieces = []
    for batch in batches:
        for start in range(0, batch.num_rows, 1000):
            pieces.append(batch.slice(start, 1000))
    wrong = []
    for out, kernel, _, expected in CALLS:
        want = []
        for piece in pieces:
            want.extend(expected(pa.Table.from_batches([piece])).to_pylist())
        values = got[out].to_pylist()
        if values != want:
            first = next(i for i, (a, b) in enumerate(zip(values, want)) if a != b) if len(values) == len(want) else None
            detail = (
                f"{len(values)} rows against {len(want)}"
                if first is None
                else f"row {first}: quiver {_short(values[first])}, pyarrow {_short(want[first])}"
            )
            wrong.append(f"{out} ({kernel}): {detail}")
    print(f"{len(CALLS)} kernel calls over {got.num_rows} rows in {len(pieces)} slices")
    if wrong:
        sys.exit("differ from pyarrow.compute:\n" + "\n".join(wrong))


def _short(value):
    text = repr(value)
    return text if len(text) < 80 else text[:60] + f"... ({len(text)} chars)"


if __name__ == "__main__":
    main()
