package main

import (
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"quiver.dev/quiver/quivertest"
)

func TestEuclid(t *testing.T) {
	for _, c := range [][3]int32{{12, 18, 6}, {7, 0, 7}, {0, 0, 0}, {-12, 18, 6}, {12, -18, -6}} {
		if got, _ := gcd(c[0], c[1]); got != c[2] {
			t.Errorf("gcd(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

func TestBatchWithNulls(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	run, err := quivertest.Open(plugin, "gcd", nil, schema)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := quivertest.Batch(schema, map[string][]any{"a": {12, nil, 9}, "b": {18, 4, nil}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Process(batch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := quivertest.Values(out.Batch.Column(2)), []any{int64(6), nil, nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("c = %v, want %v", got, want)
	}
	if len(out.Rejections) != 0 {
		t.Errorf("rejections = %v, want none", out.Rejections)
	}
}
