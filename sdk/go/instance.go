package quiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// WireOutput is the contract's output: a wire batch, its rejections, and
// its origin (nil for absent).
type WireOutput struct {
	Batch      *WireBatch
	Rejections []Rejection
	Origin     []uint32
}

// Instance drives one plugin through the contract's calls, in the
// contract's wire forms: the component's exports call it, and so does
// package quivertest, so tests take the path the host takes.
type Instance struct {
	plugin        *Plugin
	transform     Transform
	input, output *arrow.Schema
}

// NewInstance is an instance of p with no transform opened yet.
func NewInstance(p *Plugin) *Instance { return &Instance{plugin: p} }

// Plugin is the plugin the instance serves.
func (i *Instance) Plugin() *Plugin { return i.plugin }

var served *Instance

// Serve makes p the plugin the component exports. Call it from init: Go's
// wasip1 reactors run package initialisers, not main.
func Serve(p *Plugin) { served = NewInstance(p) }

// Served is the instance Serve set up, or nil.
func Served() *Instance { return served }

// guard turns a panic in the author's code into a Failed error, so the
// host gets a message rather than a trap.
func guard(call string, err *error) {
	if r := recover(); r != nil {
		*err = failedf("%s panicked: %v\n%s", call, r, debug.Stack())
	}
}

// Open selects transform name and configures it.
func (i *Instance) Open(name string, config [][2]string) (err error) {
	defer guard("open", &err)
	e, err := i.plugin.find(name)
	if err != nil {
		return err
	}
	t, err := e.open(config)
	if err != nil {
		return err
	}
	i.transform, i.input, i.output = t, nil, nil
	return nil
}

// Bind agrees on the schemas, as IPC streams of a schema message.
func (i *Instance) Bind(inputSchema []byte) (out []byte, err error) {
	defer guard("bind", &err)
	if i.transform == nil {
		return nil, invalidCallf("bind called before open")
	}
	input, err := ReadSchema(inputSchema)
	if err != nil {
		return nil, err
	}
	output, err := i.transform.Bind(input)
	if err != nil {
		return nil, err
	}
	if output == nil {
		return nil, failedf("bind returned no schema")
	}
	i.input, i.output = input, output
	return WriteSchema(output)
}

func (i *Instance) bound(call string) error {
	if i.input == nil {
		return invalidCallf("%s called before bind", call)
	}
	return nil
}

// Process transforms one wire batch of the bound schema.
func (i *Instance) Process(batch *WireBatch) (out *WireOutput, err error) {
	defer guard("process", &err)
	if err := i.bound("process"); err != nil {
		return nil, err
	}
	record, err := FromWire(i.input, batch)
	if err != nil {
		return nil, err
	}
	result, err := i.transform.Process(record)
	if err != nil {
		return nil, err
	}
	return i.wire(&result, "process")
}

// ProcessIPC transforms an IPC stream of one or more batches of the bound
// schema; rejection rows count across the stream's batches.
func (i *Instance) ProcessIPC(stream []byte) (out *WireOutput, err error) {
	defer guard("process-ipc", &err)
	if err := i.bound("process-ipc"); err != nil {
		return nil, err
	}
	reader, err := ipc.NewReader(bytes.NewReader(stream), ipc.WithSchema(i.input))
	if err != nil {
		return nil, invalidCallf("process-ipc got a stream it cannot read: %v", err)
	}
	defer reader.Release()
	var outputs []Output
	var firsts, counts []uint32
	first := uint32(0)
	for reader.Next() {
		batch := reader.RecordBatch()
		result, err := i.transform.Process(batch)
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, result)
		firsts = append(firsts, first)
		counts = append(counts, uint32(batch.NumRows()))
		first += uint32(batch.NumRows())
	}
	if err := reader.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, invalidCallf("process-ipc got a stream it cannot read: %v", err)
	}
	if len(outputs) == 0 {
		return nil, invalidCallf("process-ipc got a stream without a record batch")
	}
	merged, err := mergeOutputs(outputs, firsts, counts)
	if err != nil {
		return nil, err
	}
	return i.wire(merged, "process-ipc")
}

// Finish ends the stream; nil when the transform emits nothing.
func (i *Instance) Finish() (out *WireOutput, err error) {
	defer guard("finish", &err)
	if i.transform == nil || i.output == nil {
		return nil, nil
	}
	result, err := i.transform.Finish()
	if err != nil || result == nil {
		return nil, err
	}
	return i.wire(result, "finish")
}

func (i *Instance) wire(out *Output, stage string) (*WireOutput, error) {
	if out.Batch == nil {
		return nil, failedf("%s returned an Output without a batch", stage)
	}
	if !sameFields(out.Batch.Schema(), i.output) {
		return nil, failedf("%s returned %s, but bind answered %s", stage, out.Batch.Schema(), i.output)
	}
	if out.Origin != nil && len(out.Origin) != int(out.Batch.NumRows()) {
		return nil, failedf("%s returned %d origins for %d rows", stage, len(out.Origin), out.Batch.NumRows())
	}
	return &WireOutput{ToWire(out.Batch), out.Rejections, out.Origin}, nil
}

func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for k := range a.Fields() {
		if a.Field(k).Name != b.Field(k).Name || !arrow.TypeEqual(a.Field(k).Type, b.Field(k).Type) {
			return false
		}
	}
	return true
}

// mergeOutputs joins the outputs of a stream's batches, which start at
// input rows firsts and hold counts rows.
func mergeOutputs(outputs []Output, firsts, counts []uint32) (*Output, error) {
	if len(outputs) == 1 {
		return &outputs[0], nil
	}
	merged := &Output{}
	explicit := false
	for _, o := range outputs {
		explicit = explicit || o.Origin != nil
	}
	batches := make([]arrow.RecordBatch, len(outputs))
	for k, o := range outputs {
		batches[k] = o.Batch
		for _, r := range o.Rejections {
			merged.Rejections = append(merged.Rejections, Rejection{r.Row + firsts[k], r.Reason})
		}
		if !explicit {
			continue
		}
		// Once one batch spells its origin out, every batch must.
		if o.Origin != nil {
			for _, row := range o.Origin {
				merged.Origin = append(merged.Origin, row+firsts[k])
			}
		} else {
			for _, row := range Kept(int(counts[k]), o.Rejections) {
				merged.Origin = append(merged.Origin, uint32(row)+firsts[k])
			}
		}
	}
	batch, err := ConcatBatches(batches)
	if err != nil {
		return nil, fmt.Errorf("joining the outputs of a stream's batches: %w", err)
	}
	merged.Batch = batch
	return merged, nil
}
