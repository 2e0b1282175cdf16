package main

import (
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"quiver.dev/quiver"
	"quiver.dev/quiver/quivertest"
)

func TestSplitURL(t *testing.T) {
	cases := []struct {
		url    string
		domain string
		depth  int32
		ok     bool
	}{
		{"https://shop.example.com/a/b/c?x=1#f", "shop.example.com", 3, true},
		{"http://x.org", "x.org", 0, true},
		{"http://x.org//a//b/", "x.org", 2, true},
		{"http://x.org?q=/a/b", "x.org", 0, true},
		{"https://bücher.de/straße/ü", "bücher.de", 2, true},
		{"mailto:someone", "", 0, false},
	}
	for _, c := range cases {
		domain, depth, ok := splitURL(c.url)
		if domain != c.domain || depth != c.depth || ok != c.ok {
			t.Errorf("splitURL(%q) = %q, %d, %v", c.url, domain, depth, ok)
		}
	}
}

func TestHoursAreUTCBefore1970Too(t *testing.T) {
	for ts, want := range map[int64]int32{0: 0, msPerHour*25 + 1: 1, -1: 23} {
		if got := utcHour(ts); got != want {
			t.Errorf("utcHour(%d) = %d, want %d", ts, got, want)
		}
	}
	if utcHour(math.MinInt64) != utcHour(math.MinInt64+1) {
		t.Error("the earliest instants disagree")
	}
}

func TestABatchWithARefusedRowAndANullURL(t *testing.T) {
	field := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	schema := arrow.NewSchema([]arrow.Field{
		field("event_id", arrow.PrimitiveTypes.Int64),
		field("user_id", arrow.PrimitiveTypes.Int64),
		field("ts", arrow.FixedWidthTypes.Timestamp_ms),
		field("url", arrow.BinaryTypes.String),
		field("duration_ms", arrow.PrimitiveTypes.Int32),
		field("country", arrow.BinaryTypes.String),
	}, nil)
	run, err := quivertest.Open(plugin, "enrich", nil, schema)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := quivertest.Batch(schema, map[string][]any{
		"event_id":    {1, 2, 3},
		"user_id":     {10, 20, 30},
		"ts":          {msPerHour * 5, 0, -1},
		"url":         {"https://a.example/x/y", "https://b.example/", nil},
		"duration_ms": {5, -1, 7},
		"country":     {"DE", "FR", "JP"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Process(batch)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]any{
		"event_id":   {int64(1), int64(3)},
		"user_id":    {int64(10), int64(30)},
		"domain":     {"a.example", nil},
		"path_depth": {int64(2), nil},
		"hour":       {int64(5), int64(23)},
		"country":    {"DE", "JP"},
	}
	if got := quivertest.Columns(out.Batch); !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
	if want := []quiver.Rejection{{Row: 1, Reason: "negative duration_ms"}}; !reflect.DeepEqual(out.Rejections, want) {
		t.Errorf("rejections = %v, want %v", out.Rejections, want)
	}
}

func TestAMissingColumnIsNamed(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "event_id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	_, err := quivertest.Open(plugin, "enrich", nil, schema)
	if err == nil || quiver.KindOf(err) != quiver.SchemaMismatch {
		t.Fatalf("err = %v, want a schema mismatch", err)
	}
}
