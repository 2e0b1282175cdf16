import unittest

from quiver_sdk import Batch, Field, Schema
from quiver_sdk import types as T
from quiver_sdk.testing import Run

from enrich_rows import plugin, split_url, split_urls

SCHEMA = Schema([
    Field("event_id", T.int64), Field("user_id", T.int64), Field("ts", T.timestamp("ms", "UTC")),
    Field("url", T.utf8), Field("duration_ms", T.int32), Field("country", T.utf8),
])


class EnrichTest(unittest.TestCase):
    def test_splits_urls(self):
        self.assertEqual(split_url("https://shop.example.com/a/b/c?x=1#f"), ("shop.example.com", 3))
        self.assertEqual(split_url("http://x.org"), ("x.org", 0))
        self.assertEqual(split_url("http://x.org//a//b/"), ("x.org", 2))
        self.assertEqual(split_url("http://x.org?q=/a/b"), ("x.org", 0))
        self.assertEqual(split_url("https://bücher.de/straße/ü"), ("bücher.de", 2))
        self.assertIsNone(split_url("mailto:someone"))

    def test_many_urls_at_once_agree_with_one_at_a_time(self):
        urls = ["https://a.b/c", None, "", "x://", "no scheme", "a://b://c/d", "http://x.org//a//b/", "line\nbreak://x/y"]
        expected = [split_url(u) if u is not None else None for u in urls]
        domains, depths = split_urls(urls)
        self.assertEqual([None if d is None else (d, n) for d, n in zip(domains, depths)], expected)

    def test_refuses_negative_durations(self):
        run = Run(plugin, "enrich", SCHEMA)
        batch = Batch.from_pydict(SCHEMA, {
            "event_id": [1, 2, 3], "user_id": [7, 8, None], "ts": [0, -1, 3_600_000 * 25],
            "url": ["https://a.com/x", "https://b.com", None], "duration_ms": [5, -1, None], "country": ["DE", "FR", None],
        })
        out = run.process(batch)
        self.assertEqual(out.rejections, [(1, "negative duration_ms")])
        self.assertEqual(out.batch.to_pydict(), {
            "event_id": [1, 3], "user_id": [7, None], "domain": ["a.com", None], "path_depth": [1, None],
            "hour": [0, 1], "country": ["DE", None],
        })


if __name__ == "__main__":
    unittest.main()
