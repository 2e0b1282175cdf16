package quiver

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Kernels arrow-go leaves to its large compute package, which would
// double a plugin's size: take, drop rejected rows, concatenate batches.

type appender[T any] interface {
	array.Builder
	Append(T)
}

// takeAs gathers rows of a, whose values are T, through a's own builder.
func takeAs[T any, B appender[T]](a arrow.Array, rows []int) arrow.Array {
	src := a.(interface{ Value(int) T })
	b := array.NewBuilder(memory.DefaultAllocator, a.DataType()).(B)
	defer b.Release()
	b.Reserve(len(rows))
	for _, r := range rows {
		if a.IsNull(r) {
			b.AppendNull()
		} else {
			b.Append(src.Value(r))
		}
	}
	return b.NewArray()
}

// Take is the rows of a at indices rows, in that order.
func Take(a arrow.Array, rows []int) arrow.Array {
	switch a.DataType().ID() {
	case arrow.INT8:
		return takeAs[int8, *array.Int8Builder](a, rows)
	case arrow.INT16:
		return takeAs[int16, *array.Int16Builder](a, rows)
	case arrow.INT32:
		return takeAs[int32, *array.Int32Builder](a, rows)
	case arrow.INT64:
		return takeAs[int64, *array.Int64Builder](a, rows)
	case arrow.UINT8:
		return takeAs[uint8, *array.Uint8Builder](a, rows)
	case arrow.UINT16:
		return takeAs[uint16, *array.Uint16Builder](a, rows)
	case arrow.UINT32:
		return takeAs[uint32, *array.Uint32Builder](a, rows)
	case arrow.UINT64:
		return takeAs[uint64, *array.Uint64Builder](a, rows)
	case arrow.FLOAT32:
		return takeAs[float32, *array.Float32Builder](a, rows)
	case arrow.FLOAT64:
		return takeAs[float64, *array.Float64Builder](a, rows)
	case arrow.BOOL:
		return takeAs[bool, *array.BooleanBuilder](a, rows)
	case arrow.STRING:
		return takeAs[string, *array.StringBuilder](a, rows)
	case arrow.LARGE_STRING:
		return takeAs[string, *array.LargeStringBuilder](a, rows)
	case arrow.BINARY, arrow.LARGE_BINARY:
		return takeAs[[]byte, *array.BinaryBuilder](a, rows)
	case arrow.DATE32:
		return takeAs[arrow.Date32, *array.Date32Builder](a, rows)
	case arrow.DATE64:
		return takeAs[arrow.Date64, *array.Date64Builder](a, rows)
	case arrow.TIMESTAMP:
		return takeAs[arrow.Timestamp, *array.TimestampBuilder](a, rows)
	case arrow.DICTIONARY:
		d := a.(*array.Dictionary)
		indices := Take(d.Indices(), rows)
		defer indices.Release()
		return array.NewDictionaryArray(a.DataType(), indices, d.Dictionary())
	}
	panic(fmt.Sprintf("quiver.Take: %s columns are not supported", a.DataType()))
}

// TakeBatch is the rows of batch at indices rows, in that order.
func TakeBatch(batch arrow.RecordBatch, rows []int) arrow.RecordBatch {
	columns := make([]arrow.Array, batch.NumCols())
	for k, c := range batch.Columns() {
		columns[k] = Take(c, rows)
	}
	return array.NewRecordBatch(batch.Schema(), columns, int64(len(rows)))
}

// Kept is the rows 0..numRows that rejections do not name, in order.
func Kept(numRows int, rejections []Rejection) []int {
	refused := make([]bool, numRows)
	for _, r := range rejections {
		if int(r.Row) < numRows {
			refused[r.Row] = true
		}
	}
	kept := make([]int, 0, numRows-len(rejections))
	for row, out := range refused {
		if !out {
			kept = append(kept, row)
		}
	}
	return kept
}

// DropRejected is batch less the rows rejections name; batch itself when
// there are none.
func DropRejected(batch arrow.RecordBatch, rejections []Rejection) arrow.RecordBatch {
	if len(rejections) == 0 {
		return batch
	}
	return TakeBatch(batch, Kept(int(batch.NumRows()), rejections))
}

// ConcatBatches joins batches of one schema, in order.
func ConcatBatches(batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := batches[0].Schema()
	columns := make([]arrow.Array, schema.NumFields())
	rows := int64(0)
	for _, b := range batches {
		rows += b.NumRows()
	}
	for k := range columns {
		parts := make([]arrow.Array, len(batches))
		for i, b := range batches {
			parts[i] = b.Column(k)
		}
		joined, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("column `%s`: %w", schema.Field(k).Name, err)
		}
		columns[k] = joined
	}
	return array.NewRecordBatch(schema, columns, rows), nil
}
