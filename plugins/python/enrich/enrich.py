"""`enrich`: clickstream enrichment, with exactly the semantics of the Rust
plugin, as column expressions the host's Arrow kernels run (contract 0.2).

Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
`duration_ms` int32, `country` utf8 (other columns are neither read nor
returned). Rows with `duration_ms < 0` are refused with reason `negative
duration_ms`. Output: `event_id`, `user_id`, `domain` (after the first
`://`, up to the first `/`, `?` or `#`), `path_depth` (non-empty `/`
segments of the path, which runs from the end of the host to the first `?`
or `#`), `hour` (UTC hour of `ts`), `country`. A null `url`, or one without
`://`, gives null `domain` and `path_depth`.

`plugins/python/enrich-rows` is the same transform in Python over values.
"""

from quiver_sdk import Plugin, col
from quiver_sdk import types as T

plugin = Plugin("enrich", "0.2.0", "Clickstream enrichment: domain, path depth and hour of each event")

url = col("url")
# The path runs from the end of the host to the first `?` or `#`; a
# non-empty segment begins after a `/` with anything but `/`. Written so that
# each character has one way to match (the path starts at the first `/`),
# which lets the regex engine extract the group in one pass over a 40 KB URL.
path = url.str.extract(r"://[^/?#]*((?:/[^?#]*)?)", 1)

plugin.select(
    "enrich",
    {
        "event_id": col("event_id"),
        "user_id": col("user_id"),
        "domain": url.str.extract(r"://([^/?#]*)", 1),
        "path_depth": path.str.count_matches(r"/[^/]").cast(T.int32),
        # An instant's hour in UTC, whatever zone the column is labelled with.
        "hour": col("ts").cast(T.timestamp("ms", "UTC")).dt.hour().cast(T.int32),
        "country": col("country"),
    },
    reject={"negative duration_ms": col("duration_ms") < 0},
    expect={
        "event_id": T.int64,
        "user_id": T.int64,
        "ts": T.timestamp("ms", "*"),
        "url": T.utf8,
        "duration_ms": T.int32,
        "country": T.utf8,
    },
    description="Adds domain, path_depth and hour; refuses negative durations",
)
