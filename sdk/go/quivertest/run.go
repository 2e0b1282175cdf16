// Package quivertest runs a plugin the way the host does, natively, for a
// plugin's own Go tests: every batch crosses the contract's wire forms
// (the schema as IPC, batches as field nodes and buffers) both ways.
package quivertest

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"quiver.dev/quiver"
)

// Run is one opened and bound transform of a plugin.
type Run struct {
	instance *quiver.Instance
	// Output is the schema the transform answered at bind.
	Output *arrow.Schema
}

// Open opens transform name of p with config and binds input.
func Open(p *quiver.Plugin, name string, config map[string]string, input *arrow.Schema) (*Run, error) {
	i := quiver.NewInstance(p)
	var pairs [][2]string
	for k, v := range config {
		pairs = append(pairs, [2]string{k, v})
	}
	if err := i.Open(name, pairs); err != nil {
		return nil, err
	}
	schema, err := quiver.WriteSchema(input)
	if err != nil {
		return nil, err
	}
	answer, err := i.Bind(schema)
	if err != nil {
		return nil, err
	}
	output, err := quiver.ReadSchema(answer)
	if err != nil {
		return nil, fmt.Errorf("the schema bind answered does not read back: %w", err)
	}
	return &Run{i, output}, nil
}

// Process runs one batch through the transform.
func (r *Run) Process(batch arrow.RecordBatch) (*quiver.Output, error) {
	out, err := r.instance.Process(quiver.ToWire(batch))
	if err != nil {
		return nil, err
	}
	return r.lift(out)
}

// Finish ends the stream; nil when the transform emits nothing.
func (r *Run) Finish() (*quiver.Output, error) {
	out, err := r.instance.Finish()
	if err != nil || out == nil {
		return nil, err
	}
	return r.lift(out)
}

func (r *Run) lift(out *quiver.WireOutput) (*quiver.Output, error) {
	batch, err := quiver.FromWire(r.Output, out.Batch)
	if err != nil {
		return nil, fmt.Errorf("the output batch does not read back: %w", err)
	}
	return &quiver.Output{Batch: batch, Rejections: out.Rejections, Origin: out.Origin}, nil
}
