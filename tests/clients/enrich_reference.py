"""The `enrich` plugin's contract computed in plain Python, to check what
the package and Spark return: one output row per input row, or None when
the row is refused (a negative `duration_ms`)."""


def enrich_row(r):
    """enrich of one row (a dict with `ts` a datetime in UTC); None when it is refused."""
    if r["duration_ms"] is not None and r["duration_ms"] < 0:
        return None
    domain = depth = None
    url = r["url"]
    if url is not None and "://" in url:
        after = url[url.index("://") + 3 :]
        end = min([after.index(c) for c in "/?#" if c in after] or [len(after)])
        rest = after[end:]
        path = rest[: min([rest.index(c) for c in "?#" if c in rest] or [len(rest)])]
        domain, depth = after[:end], len([s for s in path.split("/") if s])
    hour = None if r["ts"] is None else r["ts"].hour
    keep = ("event_id", "user_id", "country")
    return {**{k: r[k] for k in keep}, "domain": domain, "path_depth": depth, "hour": hour}
