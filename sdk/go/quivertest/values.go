package quivertest

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batch builds a batch of schema from Go values, one slice per column by
// name, nil for null: Go integers for integer, date and timestamp
// columns, float64 or float32 for floats, bool, string, and []byte.
func Batch(schema *arrow.Schema, columns map[string][]any) (arrow.RecordBatch, error) {
	rows := -1
	arrays := make([]arrow.Array, schema.NumFields())
	for k, f := range schema.Fields() {
		values, ok := columns[f.Name]
		if !ok {
			return nil, fmt.Errorf("no values for column `%s`", f.Name)
		}
		if rows >= 0 && len(values) != rows {
			return nil, fmt.Errorf("column `%s` has %d values, the others %d", f.Name, len(values), rows)
		}
		rows = len(values)
		b := array.NewBuilder(memory.DefaultAllocator, f.Type)
		for row, v := range values {
			if err := appendValue(b, v); err != nil {
				return nil, fmt.Errorf("column `%s`, row %d: %w", f.Name, row, err)
			}
		}
		arrays[k] = b.NewArray()
		b.Release()
	}
	return array.NewRecordBatch(schema, arrays, int64(max(rows, 0))), nil
}

func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.Int8Builder:
		return whole(v, func(n int64) { b.Append(int8(n)) })
	case *array.Int16Builder:
		return whole(v, func(n int64) { b.Append(int16(n)) })
	case *array.Int32Builder:
		return whole(v, func(n int64) { b.Append(int32(n)) })
	case *array.Int64Builder:
		return whole(v, func(n int64) { b.Append(n) })
	case *array.Uint8Builder:
		return whole(v, func(n int64) { b.Append(uint8(n)) })
	case *array.Uint16Builder:
		return whole(v, func(n int64) { b.Append(uint16(n)) })
	case *array.Uint32Builder:
		return whole(v, func(n int64) { b.Append(uint32(n)) })
	case *array.Uint64Builder:
		if u, ok := v.(uint64); ok {
			b.Append(u)
			return nil
		}
		return whole(v, func(n int64) { b.Append(uint64(n)) })
	case *array.Date32Builder:
		return whole(v, func(n int64) { b.Append(arrow.Date32(n)) })
	case *array.Date64Builder:
		return whole(v, func(n int64) { b.Append(arrow.Date64(n)) })
	case *array.TimestampBuilder:
		return whole(v, func(n int64) { b.Append(arrow.Timestamp(n)) })
	case *array.Float32Builder:
		switch f := v.(type) {
		case float32:
			b.Append(f)
			return nil
		case float64:
			b.Append(float32(f))
			return nil
		}
	case *array.Float64Builder:
		if f, ok := v.(float64); ok {
			b.Append(f)
			return nil
		}
	case *array.BooleanBuilder:
		if f, ok := v.(bool); ok {
			b.Append(f)
			return nil
		}
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			b.Append(s)
			return nil
		}
	case *array.LargeStringBuilder:
		if s, ok := v.(string); ok {
			b.Append(s)
			return nil
		}
	case *array.BinaryBuilder:
		if s, ok := v.([]byte); ok {
			b.Append(s)
			return nil
		}
	}
	return fmt.Errorf("%v (%T) does not fit the column's type", v, v)
}

func whole(v any, append func(int64)) error {
	switch n := v.(type) {
	case int:
		append(int64(n))
	case int8:
		append(int64(n))
	case int16:
		append(int64(n))
	case int32:
		append(int64(n))
	case int64:
		append(n)
	case uint8:
		append(int64(n))
	case uint16:
		append(int64(n))
	case uint32:
		append(int64(n))
	default:
		return fmt.Errorf("%v (%T) is not an integer", v, v)
	}
	return nil
}

// Values are the Go values of column c, nil for null: int64 for
// integers, dates and timestamps (uint64 for uint64), float64 for floats,
// bool, string, and []byte.
func Values(c arrow.Array) []any {
	out := make([]any, c.Len())
	for row := range out {
		if c.IsNull(row) {
			continue
		}
		switch c := c.(type) {
		case *array.Int8:
			out[row] = int64(c.Value(row))
		case *array.Int16:
			out[row] = int64(c.Value(row))
		case *array.Int32:
			out[row] = int64(c.Value(row))
		case *array.Int64:
			out[row] = c.Value(row)
		case *array.Uint8:
			out[row] = int64(c.Value(row))
		case *array.Uint16:
			out[row] = int64(c.Value(row))
		case *array.Uint32:
			out[row] = int64(c.Value(row))
		case *array.Uint64:
			out[row] = c.Value(row)
		case *array.Date32:
			out[row] = int64(c.Value(row))
		case *array.Date64:
			out[row] = int64(c.Value(row))
		case *array.Timestamp:
			out[row] = int64(c.Value(row))
		case *array.Float32:
			out[row] = float64(c.Value(row))
		case *array.Float64:
			out[row] = c.Value(row)
		case *array.Boolean:
			out[row] = c.Value(row)
		case *array.String:
			out[row] = c.Value(row)
		case *array.LargeString:
			out[row] = c.Value(row)
		case *array.Binary:
			out[row] = c.Value(row)
		case *array.LargeBinary:
			out[row] = c.Value(row)
		default:
			out[row] = c.ValueStr(row)
		}
	}
	return out
}

// Columns are the values of every column of batch, by name.
func Columns(batch arrow.RecordBatch) map[string][]any {
	out := make(map[string][]any, batch.NumCols())
	for k, f := range batch.Schema().Fields() {
		out[f.Name] = Values(batch.Column(k))
	}
	return out
}
