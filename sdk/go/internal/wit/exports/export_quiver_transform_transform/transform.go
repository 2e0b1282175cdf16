//go:build wasip1

// Package export_quiver_transform_transform implements the contract's
// transform interface, as wit-bindgen's exports expect it, over the
// instance quiver.Serve set up. Its name is the one wit-bindgen imports.
package export_quiver_transform_transform

import (
	"runtime/debug"

	"quiver.dev/quiver"
	types "quiver.dev/quiver/internal/wit/imports/quiver_transform_types"

	wit "go.bytecodealliance.org/pkg/wit/types"
)

type (
	PluginInfo = types.PluginInfo
	FieldNode  = types.FieldNode
	Output     = types.Output
	Error      = types.Error
)

// The host lowers every argument through cabi_realloc, where the component
// model forbids calls out of the component, and a collection started by an
// allocation there reads the wall clock and traps. So the collector runs
// only inside calls: each call turns it on, at Go's default pace, and off
// again before it returns.
func init() { debug.SetGCPercent(-1) }

// collecting turns the collector on for the length of a call:
// `defer collecting()()`.
func collecting() func() {
	debug.SetGCPercent(100)
	return func() { debug.SetGCPercent(-1) }
}

func instance() (*quiver.Instance, *Error) {
	if i := quiver.Served(); i != nil {
		return i, nil
	}
	return nil, &Error{Kind: types.ErrorKind_Failed, Message: "no plugin is served: call quiver.Serve(plugin) from an init function"}
}

func contractError(err error) Error {
	return Error{Kind: uint8(quiver.KindOf(err)), Message: err.Error()}
}

func Describe() PluginInfo {
	i, _ := instance()
	if i == nil {
		return PluginInfo{Name: "unserved", Description: "no plugin is served: call quiver.Serve(plugin) from an init function"}
	}
	p := i.Plugin()
	info := PluginInfo{Name: p.Name, Version: p.Version, Description: p.Description}
	for _, t := range p.Transforms() {
		keys := make([]types.ConfigKey, len(t.Config))
		for k, c := range t.Config {
			keys[k] = types.ConfigKey{Name: c.Name, Description: c.Description, Required: c.Required, DefaultValue: wit.None[string]()}
			if c.Default != nil {
				keys[k].DefaultValue = wit.Some(*c.Default)
			}
		}
		info.Transforms = append(info.Transforms, types.TransformInfo{
			Name: t.Name, Kind: uint8(t.Kind), Description: t.Description, ConfigKeys: keys,
		})
	}
	return info
}

func Open(name string, config []wit.Tuple2[string, string]) wit.Result[wit.Unit, Error] {
	defer collecting()()
	i, fail := instance()
	if fail != nil {
		return wit.Err[wit.Unit](*fail)
	}
	pairs := make([][2]string, len(config))
	for k, c := range config {
		pairs[k] = [2]string{c.F0, c.F1}
	}
	if err := i.Open(name, pairs); err != nil {
		return wit.Err[wit.Unit](contractError(err))
	}
	return wit.Ok[wit.Unit, Error](wit.Unit{})
}

func Bind(schema []uint8) wit.Result[[]uint8, Error] {
	defer collecting()()
	i, fail := instance()
	if fail != nil {
		return wit.Err[[]uint8](*fail)
	}
	out, err := i.Bind(schema)
	if err != nil {
		return wit.Err[[]uint8](contractError(err))
	}
	return wit.Ok[[]uint8, Error](out)
}

func result(out *quiver.WireOutput, err error) wit.Result[Output, Error] {
	if err != nil {
		return wit.Err[Output](contractError(err))
	}
	return wit.Ok[Output, Error](lower(out))
}

func lower(out *quiver.WireOutput) Output {
	nodes := make([]FieldNode, len(out.Batch.Nodes))
	for k, n := range out.Batch.Nodes {
		nodes[k] = FieldNode(n)
	}
	rejections := make([]types.Rejection, len(out.Rejections))
	for k, r := range out.Rejections {
		rejections[k] = types.Rejection(r)
	}
	origin := wit.None[[]uint32]()
	if out.Origin != nil {
		origin = wit.Some(out.Origin)
	}
	batch := types.Batch{NumRows: out.Batch.NumRows, Nodes: nodes, Buffers: out.Batch.Buffers}
	return Output{Batch: batch, Rejections: rejections, Origin: origin}
}

func Process(numRows uint64, nodes []FieldNode, buffers [][]uint8) wit.Result[Output, Error] {
	defer collecting()()
	i, fail := instance()
	if fail != nil {
		return wit.Err[Output](*fail)
	}
	wire := &quiver.WireBatch{NumRows: numRows, Nodes: make([]quiver.FieldNode, len(nodes)), Buffers: buffers}
	for k, n := range nodes {
		wire.Nodes[k] = quiver.FieldNode(n)
	}
	return result(i.Process(wire))
}

func ProcessIpc(stream []uint8) wit.Result[Output, Error] {
	defer collecting()()
	i, fail := instance()
	if fail != nil {
		return wit.Err[Output](*fail)
	}
	return result(i.ProcessIPC(stream))
}

func Finish() wit.Result[wit.Option[Output], Error] {
	defer collecting()()
	i, fail := instance()
	if fail != nil {
		return wit.Err[wit.Option[Output]](*fail)
	}
	out, err := i.Finish()
	if err != nil {
		return wit.Err[wit.Option[Output]](contractError(err))
	}
	if out == nil {
		return wit.Ok[wit.Option[Output], Error](wit.None[Output]())
	}
	return wit.Ok[wit.Option[Output], Error](wit.Some(lower(out)))
}
