// Command enrich is the `enrich` plugin: clickstream enrichment, with
// exactly the semantics of the Rust plugin.
//
// Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
// `duration_ms` int32, `country` utf8 (other columns are dropped). Rows
// with `duration_ms < 0` are refused with reason `negative duration_ms`.
// Output: `event_id`, `user_id`, `domain` (after the first `://`, up to the
// first `/`, `?` or `#`), `path_depth` (non-empty `/` segments of the path,
// which runs from the end of the host to the first `?` or `#`), `hour` (UTC
// hour of `ts`), `country`. A null `url`, or one without `://`, gives null
// `domain` and `path_depth`.
package main

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"quiver.dev/quiver"
)

var plugin = quiver.NewPlugin("enrich", "0.1.0", "Clickstream enrichment: domain, path depth and hour of each event")

func init() {
	plugin.Transform(quiver.TransformSpec{
		Name:        "enrich",
		Kind:        quiver.Map,
		Description: "Adds domain, path_depth and hour; refuses negative durations",
	}, func(quiver.Config) (quiver.Transform, error) { return &enrich{}, nil })
	quiver.Serve(plugin)
}

func main() {}

var inputs = []arrow.Field{
	{Name: "event_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "url", Type: arrow.BinaryTypes.String},
	{Name: "duration_ms", Type: arrow.PrimitiveTypes.Int32},
	{Name: "country", Type: arrow.BinaryTypes.String},
}

const msPerHour = 3_600_000

type enrich struct {
	quiver.Base
	columns [6]int
	schema  *arrow.Schema
}

func (e *enrich) Bind(input *arrow.Schema) (*arrow.Schema, error) {
	for k, want := range inputs {
		found := input.FieldIndices(want.Name)
		if len(found) == 0 {
			return nil, quiver.SchemaErrorf("enrich needs input column `%s` (%s), which is missing", want.Name, want.Type)
		}
		got := input.Field(found[0]).Type
		same := arrow.TypeEqual(got, want.Type)
		if want.Name == "ts" {
			// Any time zone: the values are UTC instants either way.
			ts, ok := got.(*arrow.TimestampType)
			same = ok && ts.Unit == arrow.Millisecond
		}
		if !same {
			return nil, quiver.SchemaErrorf("enrich needs input column `%s` to be %s, it is %s", want.Name, want.Type, got)
		}
		e.columns[k] = found[0]
	}
	field := func(k int) arrow.Field { return input.Field(e.columns[k]) }
	e.schema = arrow.NewSchema([]arrow.Field{
		field(0),
		field(1),
		{Name: "domain", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "path_depth", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "hour", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		field(5),
	}, nil)
	return e.schema, nil
}

func (e *enrich) Process(batch arrow.RecordBatch) (quiver.Output, error) {
	column := func(k int) arrow.Array { return batch.Column(e.columns[k]) }
	durations := column(4).(*array.Int32)
	var rejections []quiver.Rejection
	for row, d := range durations.Int32Values() {
		if d < 0 && durations.IsValid(row) {
			rejections = append(rejections, quiver.Rejection{Row: uint32(row), Reason: "negative duration_ms"})
		}
	}
	kept := quiver.Kept(int(batch.NumRows()), rejections)

	stamps := column(2).(*array.Timestamp)
	urls := column(3).(*array.String)
	domains := array.NewStringBuilder(memory.DefaultAllocator)
	depths := array.NewInt32Builder(memory.DefaultAllocator)
	hours := array.NewInt32Builder(memory.DefaultAllocator)
	defer domains.Release()
	defer depths.Release()
	defer hours.Release()
	depths.Reserve(len(kept))
	hours.Reserve(len(kept))
	for _, row := range kept {
		domain, depth, ok := "", int32(0), urls.IsValid(row)
		if ok {
			domain, depth, ok = splitURL(urls.Value(row))
		}
		if ok {
			domains.Append(domain)
			depths.Append(depth)
		} else {
			domains.AppendNull()
			depths.AppendNull()
		}
		if stamps.IsValid(row) {
			hours.Append(utcHour(int64(stamps.Value(row))))
		} else {
			hours.AppendNull()
		}
	}
	pass := func(k int) arrow.Array {
		if len(rejections) == 0 {
			return column(k)
		}
		return quiver.Take(column(k), kept)
	}
	out := []arrow.Array{pass(0), pass(1), domains.NewArray(), depths.NewArray(), hours.NewArray(), pass(5)}
	return quiver.Output{Batch: array.NewRecordBatch(e.schema, out, int64(len(kept))), Rejections: rejections}, nil
}

// splitURL is the domain and path depth of url, or false when it has no `://`.
func splitURL(url string) (string, int32, bool) {
	scheme := strings.Index(url, "://")
	if scheme < 0 {
		return "", 0, false
	}
	after := url[scheme+3:]
	hostEnd := strings.IndexAny(after, "/?#")
	if hostEnd < 0 {
		hostEnd = len(after)
	}
	path := after[hostEnd:]
	if end := strings.IndexAny(path, "?#"); end >= 0 {
		path = path[:end]
	}
	depth := int32(0)
	for segment := range strings.SplitSeq(path, "/") {
		if segment != "" {
			depth++
		}
	}
	return after[:hostEnd], depth, true
}

// utcHour is the UTC hour of a millisecond timestamp, before 1970 too.
func utcHour(ts int64) int32 {
	hours := ts / msPerHour
	if ts%msPerHour < 0 {
		hours--
	}
	return int32((hours%24 + 24) % 24)
}
