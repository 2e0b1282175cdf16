package quiver

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FieldNode is the contract's field-node: one array of a batch, in
// depth-first order, owning BufferCount entries of the batch's buffers
// (validity first, empty when there are no nulls).
type FieldNode struct {
	Length      uint64
	NullCount   uint64
	Offset      uint64
	NullOffset  uint64
	BufferCount uint32
}

// WireBatch is the contract's batch: a record batch as field nodes and
// Arrow buffers.
type WireBatch struct {
	NumRows uint64
	Nodes   []FieldNode
	Buffers [][]byte
}

// ReadSchema is the schema of an IPC stream that holds a schema message.
func ReadSchema(ipcBytes []byte) (*arrow.Schema, error) {
	reader, err := ipc.NewReader(bytes.NewReader(ipcBytes))
	if err != nil {
		return nil, SchemaErrorf("the input schema is not an Arrow IPC stream: %v", err)
	}
	defer reader.Release()
	schema := reader.Schema()
	for _, f := range schema.Fields() {
		if !Supported(f.Type) {
			return nil, SchemaErrorf("column `%s` is %s, which the Go SDK cannot read", f.Name, f.Type)
		}
	}
	return schema, nil
}

// WriteSchema is an IPC stream that holds schema alone.
func WriteSchema(schema *arrow.Schema) ([]byte, error) {
	var out bytes.Buffer
	w := ipc.NewWriter(&out, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("writing the schema as IPC: %w", err)
	}
	return out.Bytes(), nil
}

// Supported says whether the SDK reads and writes columns of type t.
func Supported(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	case arrow.DICTIONARY:
		d := t.(*arrow.DictionaryType)
		return arrow.IsInteger(d.IndexType.ID()) && Supported(d.ValueType)
	}
	return false
}

type cursor struct {
	batch        *WireBatch
	node, buffer int
}

func (c *cursor) next(column string, t arrow.DataType) (arrow.ArrayData, error) {
	if c.node >= len(c.batch.Nodes) {
		return nil, invalidCallf("the batch has no field node for column `%s`", column)
	}
	n := c.batch.Nodes[c.node]
	c.node++
	count := int(n.BufferCount)
	if c.buffer+count > len(c.batch.Buffers) {
		return nil, invalidCallf("column `%s`: the batch lacks buffers", column)
	}
	raw := c.batch.Buffers[c.buffer : c.buffer+count]
	c.buffer += count
	if count == 0 {
		return nil, invalidCallf("column `%s`: its field node owns no buffers", column)
	}
	buffers := make([]*memory.Buffer, count)
	buffers[0] = bitmap(raw[0], n)
	for i := 1; i < count; i++ {
		buffers[i] = memory.NewBufferBytes(raw[i])
	}
	nulls := int(n.NullCount)
	if buffers[0] == nil {
		nulls = 0
	}
	if dict, ok := t.(*arrow.DictionaryType); ok {
		values, err := c.next(column, dict.ValueType)
		if err != nil {
			return nil, err
		}
		defer values.Release()
		return array.NewDataWithDictionary(t, int(n.Length), buffers, nulls, int(n.Offset), values.(*array.Data)), nil
	}
	return array.NewData(t, int(n.Length), buffers, nil, nulls, int(n.Offset)), nil
}

// bitmap is the validity buffer of a node, re-aligned when its bit offset
// differs from its slot offset (arrow-go keeps one offset for both).
func bitmap(raw []byte, n FieldNode) *memory.Buffer {
	if len(raw) == 0 || n.NullCount == 0 {
		return nil
	}
	if n.NullOffset == n.Offset {
		return memory.NewBufferBytes(raw)
	}
	out := make([]byte, bitutil.BytesForBits(int64(n.Offset+n.Length)))
	bitutil.CopyBitmap(raw, int(n.NullOffset), int(n.Length), out, int(n.Offset))
	return memory.NewBufferBytes(out)
}

// FromWire views a wire batch of schema as a record batch; the buffers
// are wrapped, not copied.
func FromWire(schema *arrow.Schema, batch *WireBatch) (arrow.RecordBatch, error) {
	c := cursor{batch: batch}
	columns := make([]arrow.Array, len(schema.Fields()))
	for i, f := range schema.Fields() {
		data, err := c.next(f.Name, f.Type)
		if err != nil {
			return nil, err
		}
		if uint64(data.Len()) != batch.NumRows {
			return nil, invalidCallf("column `%s` has %d rows, the batch %d", f.Name, data.Len(), batch.NumRows)
		}
		columns[i] = array.MakeFromData(data)
		data.Release()
	}
	if c.node != len(batch.Nodes) || c.buffer != len(batch.Buffers) {
		return nil, invalidCallf("the batch has %d field nodes and %d buffers, the schema uses %d and %d",
			len(batch.Nodes), len(batch.Buffers), c.node, c.buffer)
	}
	return array.NewRecordBatch(schema, columns, int64(batch.NumRows)), nil
}

// ToWire lays a record batch out as field nodes and buffers. Buffers are
// handed over as they are, offsets included, not copied.
func ToWire(batch arrow.RecordBatch) *WireBatch {
	out := &WireBatch{NumRows: uint64(batch.NumRows())}
	for _, column := range batch.Columns() {
		out.add(column.Data())
	}
	return out
}

func (w *WireBatch) add(data arrow.ArrayData) {
	buffers := data.Buffers()
	node := FieldNode{
		Length:      uint64(data.Len()),
		NullCount:   uint64(data.NullN()),
		Offset:      uint64(data.Offset()),
		NullOffset:  uint64(data.Offset()),
		BufferCount: uint32(len(buffers)),
	}
	w.Nodes = append(w.Nodes, node)
	for i, b := range buffers {
		if b == nil || (i == 0 && node.NullCount == 0) {
			w.Buffers = append(w.Buffers, nil)
		} else {
			w.Buffers = append(w.Buffers, b.Bytes())
		}
	}
	if data.DataType().ID() == arrow.DICTIONARY {
		w.add(data.Dictionary())
	}
}
