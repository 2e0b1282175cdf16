package quiver

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// How Go values of scalar functions map to Arrow columns. Go generics
// cannot ask a type parameter what it is, so each mapping is a type switch
// over the Go types a scalar function may take or return.

// elem is the Arrow side of a parameter or result type.
type elem struct {
	arrow arrow.DataType
	// also is a second column type a parameter accepts (large utf8 or
	// large binary for string and []byte), else nil.
	also arrow.DataType
	// nullable: a pointer type, which sees nulls as nil.
	nullable bool
}

func (e elem) accepts(t arrow.DataType) bool {
	return arrow.TypeEqual(t, e.arrow) || (e.also != nil && arrow.TypeEqual(t, e.also))
}

func (e elem) String() string {
	if e.also != nil {
		return fmt.Sprintf("%s or %s", e.arrow, e.also)
	}
	return e.arrow.String()
}

func elemOf[T any]() elem {
	var zero T
	switch any(zero).(type) {
	case int8, *int8:
		return elem{arrow: arrow.PrimitiveTypes.Int8, nullable: isPointer(zero)}
	case int16, *int16:
		return elem{arrow: arrow.PrimitiveTypes.Int16, nullable: isPointer(zero)}
	case int32, *int32:
		return elem{arrow: arrow.PrimitiveTypes.Int32, nullable: isPointer(zero)}
	case int64, *int64:
		return elem{arrow: arrow.PrimitiveTypes.Int64, nullable: isPointer(zero)}
	case uint8, *uint8:
		return elem{arrow: arrow.PrimitiveTypes.Uint8, nullable: isPointer(zero)}
	case uint16, *uint16:
		return elem{arrow: arrow.PrimitiveTypes.Uint16, nullable: isPointer(zero)}
	case uint32, *uint32:
		return elem{arrow: arrow.PrimitiveTypes.Uint32, nullable: isPointer(zero)}
	case uint64, *uint64:
		return elem{arrow: arrow.PrimitiveTypes.Uint64, nullable: isPointer(zero)}
	case float32, *float32:
		return elem{arrow: arrow.PrimitiveTypes.Float32, nullable: isPointer(zero)}
	case float64, *float64:
		return elem{arrow: arrow.PrimitiveTypes.Float64, nullable: isPointer(zero)}
	case bool, *bool:
		return elem{arrow: arrow.FixedWidthTypes.Boolean, nullable: isPointer(zero)}
	case string, *string:
		return elem{arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, isPointer(zero)}
	case []byte, *[]byte:
		return elem{arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary, isPointer(zero)}
	}
	panic(fmt.Sprintf("quiver: scalar functions cannot take or return %T; use Go integers, floats, bool, string or []byte, or pointers to them", zero))
}

func isPointer(v any) bool {
	switch v.(type) {
	case *int8, *int16, *int32, *int64, *uint8, *uint16, *uint32, *uint64, *float32, *float64, *bool, *string, *[]byte:
		return true
	}
	return false
}

// readerOf reads row values of column c as A: for a pointer A, nil for null.
func readerOf[A any](c arrow.Array) func(int) A {
	var zero A
	switch any(zero).(type) {
	case *int8:
		return any(pointerReader[int8](c)).(func(int) A)
	case *int16:
		return any(pointerReader[int16](c)).(func(int) A)
	case *int32:
		return any(pointerReader[int32](c)).(func(int) A)
	case *int64:
		return any(pointerReader[int64](c)).(func(int) A)
	case *uint8:
		return any(pointerReader[uint8](c)).(func(int) A)
	case *uint16:
		return any(pointerReader[uint16](c)).(func(int) A)
	case *uint32:
		return any(pointerReader[uint32](c)).(func(int) A)
	case *uint64:
		return any(pointerReader[uint64](c)).(func(int) A)
	case *float32:
		return any(pointerReader[float32](c)).(func(int) A)
	case *float64:
		return any(pointerReader[float64](c)).(func(int) A)
	case *bool:
		return any(pointerReader[bool](c)).(func(int) A)
	case *string:
		return any(pointerReader[string](c)).(func(int) A)
	case *[]byte:
		return any(pointerReader[[]byte](c)).(func(int) A)
	}
	return c.(interface{ Value(int) A }).Value
}

func pointerReader[T any](c arrow.Array) func(int) *T {
	value := c.(interface{ Value(int) T }).Value
	return func(row int) *T {
		if c.IsNull(row) {
			return nil
		}
		v := value(row)
		return &v
	}
}

// sink appends results of type R to a column.
type sink[R any] struct {
	builder array.Builder
	append  func(R)
}

func sinkOf[R any]() sink[R] {
	var zero R
	m := memory.DefaultAllocator
	switch any(zero).(type) {
	case int8:
		return plainSink[int8, R](array.NewInt8Builder(m))
	case *int8:
		return pointerSink[int8, R](array.NewInt8Builder(m))
	case int16:
		return plainSink[int16, R](array.NewInt16Builder(m))
	case *int16:
		return pointerSink[int16, R](array.NewInt16Builder(m))
	case int32:
		return plainSink[int32, R](array.NewInt32Builder(m))
	case *int32:
		return pointerSink[int32, R](array.NewInt32Builder(m))
	case int64:
		return plainSink[int64, R](array.NewInt64Builder(m))
	case *int64:
		return pointerSink[int64, R](array.NewInt64Builder(m))
	case uint8:
		return plainSink[uint8, R](array.NewUint8Builder(m))
	case *uint8:
		return pointerSink[uint8, R](array.NewUint8Builder(m))
	case uint16:
		return plainSink[uint16, R](array.NewUint16Builder(m))
	case *uint16:
		return pointerSink[uint16, R](array.NewUint16Builder(m))
	case uint32:
		return plainSink[uint32, R](array.NewUint32Builder(m))
	case *uint32:
		return pointerSink[uint32, R](array.NewUint32Builder(m))
	case uint64:
		return plainSink[uint64, R](array.NewUint64Builder(m))
	case *uint64:
		return pointerSink[uint64, R](array.NewUint64Builder(m))
	case float32:
		return plainSink[float32, R](array.NewFloat32Builder(m))
	case *float32:
		return pointerSink[float32, R](array.NewFloat32Builder(m))
	case float64:
		return plainSink[float64, R](array.NewFloat64Builder(m))
	case *float64:
		return pointerSink[float64, R](array.NewFloat64Builder(m))
	case bool:
		return plainSink[bool, R](array.NewBooleanBuilder(m))
	case *bool:
		return pointerSink[bool, R](array.NewBooleanBuilder(m))
	case string:
		return plainSink[string, R](array.NewStringBuilder(m))
	case *string:
		return pointerSink[string, R](array.NewStringBuilder(m))
	case []byte:
		return plainSink[[]byte, R](array.NewBinaryBuilder(m, arrow.BinaryTypes.Binary))
	case *[]byte:
		return pointerSink[[]byte, R](array.NewBinaryBuilder(m, arrow.BinaryTypes.Binary))
	}
	panic(fmt.Sprintf("quiver: scalar functions cannot return %T", zero))
}

func plainSink[T, R any](b appender[T]) sink[R] {
	return sink[R]{b, any(b.Append).(func(R))}
}

func pointerSink[T, R any](b appender[T]) sink[R] {
	return sink[R]{b, any(func(v *T) {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(*v)
		}
	}).(func(R))}
}
