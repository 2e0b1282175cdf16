"""`enrich` in plain Python over values (the version of `plugins/python/enrich`
that does not use the host's kernels): clickstream enrichment, with exactly
the semantics of the Rust plugin.

Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
`duration_ms` int32, `country` utf8 (other columns are dropped). Rows with
`duration_ms < 0` are refused with reason `negative duration_ms`. Output:
`event_id`, `user_id`, `domain` (after the first `://`, up to the first
`/`, `?` or `#`), `path_depth` (non-empty `/` segments of the path, which
runs from the end of the host to the first `?` or `#`), `hour` (UTC hour of
`ts`), `country`. A null `url`, or one without `://`, gives null `domain`
and `path_depth`.
"""

import re
from array import array
from itertools import compress

from quiver_sdk import Batch, Column, Field, Output, Plugin, Schema, Transform, schema_error
from quiver_sdk import types as T

plugin = Plugin("enrich", "0.1.0", "Clickstream enrichment: domain, path depth and hour of each event")

INPUTS = [
    ("event_id", T.int64),
    ("user_id", T.int64),
    ("ts", T.timestamp("ms")),
    ("url", T.utf8),
    ("duration_ms", T.int32),
    ("country", T.utf8),
]

# The first `://`, the host after it, then the path up to `?` or `#`.
URL = re.compile(r"://([^/?#]*)([^?#]*)")
# A non-empty path segment begins after a `/` with anything but `/`.
SEGMENT_START = re.compile(r"/[^/]")
MS_PER_HOUR = 3_600_000

# The same, over many URLs joined by newlines: one match per line, with the
# `://` marker group empty when the line has none.
URL_LINES = re.compile(r"^(?:[^\n]*?(://)([^/?#\n]*)([^?#\n]*))?[^\n]*$", re.MULTILINE)
SEGMENT_START_LINES = re.compile(r"/[^/\n]")
NOT_MARK = re.compile(r"[^\x01\n]+")


def split_url(url):
    """(domain, path depth) of a URL, or None when it has no `://`."""
    m = URL.search(url)
    if m is None:
        return None
    return m.group(1), len(SEGMENT_START.findall(m.group(2)))


def split_urls(urls):
    """(domains, depths) of many URLs (None for a null one), None where a URL
    has no `://`: the regular expressions run once over all the URLs, in C."""
    if not urls:
        return [], []
    text = "\n".join(["" if u is None else u for u in urls])
    if text.count("\n") != len(urls) - 1 or "\x01" in text:
        # A URL holds a newline (or the marker): one at a time.
        parts = [None if u is None else split_url(u) for u in urls]
        return [None if p is None else p[0] for p in parts], [None if p is None else p[1] for p in parts]
    matches = URL_LINES.findall(text)
    domains = [m[1] if m[0] else None for m in matches]
    # Each segment start becomes a mark, everything else but the newlines goes:
    # a line's length is then its path's depth.
    marks = NOT_MARK.sub("", SEGMENT_START_LINES.sub("\x01", "\n".join([m[2] for m in matches])))
    depths = list(map(len, marks.split("\n")))
    if None in domains:
        depths = [None if d is None else n for d, n in zip(domains, depths)]
    return domains, depths


@plugin.transform(kind="map")
class Enrich(Transform):
    """Adds domain, path_depth and hour; refuses negative durations"""

    def bind(self, schema):
        self.columns = []
        for name, expected in INPUTS:
            i = schema.index(name)
            if i is None:
                raise schema_error(f"enrich needs input column `{name}` ({expected}), which is missing")
            found = schema.fields[i].type
            # Any time zone: the values are UTC instants either way.
            same = (found.type_id == T.TIMESTAMP and found.unit == "ms") if name == "ts" else found == expected
            if not same:
                raise schema_error(f"enrich needs input column `{name}` to be {expected}, it is {found}")
            self.columns.append(i)
        field = lambda k: schema.fields[self.columns[k]]  # noqa: E731
        self.schema = Schema([
            field(0),
            field(1),
            Field("domain", T.utf8),
            Field("path_depth", T.int32),
            Field("hour", T.int32),
            field(5),
        ])
        return self.schema

    def process(self, batch):
        event_id, user_id, ts, url, duration, country = (batch.columns[i] for i in self.columns)
        rows = batch.num_rows
        durations = duration.values
        refused = [row for row in range(rows) if durations[row] < 0] if rows and min(durations) < 0 else []
        if refused and duration.valid is not None:
            refused = [row for row in refused if duration.valid[row]]
        keep = None
        if refused:
            mask = bytearray(b"\x01" * rows)
            for row in refused:
                mask[row] = 0
            keep = bytes(mask)

        urls = url.to_pylist()
        stamps = ts.values
        ts_valid = ts.valid
        if keep is not None:
            urls = list(compress(urls, keep))
            stamps = list(compress(stamps, keep))
            ts_valid = bytes(compress(ts_valid, keep)) if ts_valid is not None else None
        domains, depths = split_urls(urls)
        domain = Column.from_pylist(T.utf8, domains)
        depth = Column.from_pylist(T.int32, depths)
        hours = array("i", [(t // MS_PER_HOUR) % 24 for t in stamps])
        hour = Column.from_array(T.int32, hours, ts_valid)

        def passed(column):
            return column if keep is None else column.filter(keep)

        out = Batch(self.schema, [passed(event_id), passed(user_id), domain, depth, hour, passed(country)])
        return Output(out, [(row, "negative duration_ms") for row in refused])
