package quiver

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind is what a transform does to the stream; the host plans stages by it.
type Kind uint8

const (
	// Map: batch in, batch out; the row count may change.
	Map Kind = iota
	// Filter drops rows; the output schema is the input schema.
	Filter
	// ScalarKind: a function over named columns whose result is appended
	// as a column. Plugin.Scalar declares these.
	ScalarKind
	// Aggregate keeps state across batches and emits its result from
	// Finish; the host feeds it every batch, in order, through one instance.
	Aggregate
)

// ConfigKey is one configuration key a transform accepts.
type ConfigKey struct {
	Name        string
	Description string
	Required    bool
	// Default is the value used when the key is not given; nil for none.
	Default *string
}

// Default is a pointer to value, for ConfigKey.Default.
func Default(value string) *string { return &value }

// Config is a transform's checked configuration: the keys given, plus the
// defaults of those that were not.
type Config map[string]string

// Transform is a transform over whole batches. Embed Base for the methods
// a transform does not need.
type Transform interface {
	// Bind agrees on the schemas before any data: it gets the input schema
	// and answers with the output schema, or a SchemaErrorf naming the
	// column at fault.
	Bind(input *arrow.Schema) (*arrow.Schema, error)
	// Process transforms one batch of the bound input schema.
	Process(batch arrow.RecordBatch) (Output, error)
	// Finish ends the stream; an aggregate returns what it holds, others nil.
	Finish() (*Output, error)
}

// Base gives a Transform the defaults: Bind keeps the schema, Finish
// emits nothing.
type Base struct{}

// Bind answers with the input schema.
func (Base) Bind(input *arrow.Schema) (*arrow.Schema, error) { return input, nil }

// Finish emits nothing.
func (Base) Finish() (*Output, error) { return nil, nil }

// Rejection is a row a transform refuses: the host routes it to the
// dead-letter output with the row's original columns and the reason.
type Rejection struct {
	// Row is the index of the row in the input batch.
	Row    uint32
	Reason string
}

// Output is the result of Process or Finish.
type Output struct {
	Batch      arrow.RecordBatch
	Rejections []Rejection
	// Origin gives, for each output row, the input row it comes from. Nil
	// means: the input rows in order, less the rejected ones (from Finish:
	// no input row in particular).
	Origin []uint32
}

// TransformSpec declares a batch transform.
type TransformSpec struct {
	Name        string
	Kind        Kind
	Description string
	Config      []ConfigKey
}

type entry struct {
	spec TransformSpec
	make func(Config) (Transform, error)
}

// Plugin is what a plugin offers: its name, version, description and
// transforms.
type Plugin struct {
	Name        string
	Version     string
	Description string
	entries     []entry
}

// NewPlugin declares a plugin without transforms; add them with Transform
// and Scalar.
func NewPlugin(name, version, description string) *Plugin {
	return &Plugin{Name: name, Version: version, Description: description}
}

// Transform offers a batch transform: make builds one instance of it from
// its checked configuration (return a ConfigErrorf for values it cannot
// use).
func (p *Plugin) Transform(spec TransformSpec, make func(Config) (Transform, error)) *Plugin {
	for _, e := range p.entries {
		if e.spec.Name == spec.Name {
			panic(fmt.Sprintf("plugin `%s` already has a transform `%s`", p.Name, spec.Name))
		}
	}
	p.entries = append(p.entries, entry{spec, make})
	return p
}

func (p *Plugin) find(name string) (*entry, error) {
	names := make([]string, len(p.entries))
	for i := range p.entries {
		if p.entries[i].spec.Name == name {
			return &p.entries[i], nil
		}
		names[i] = p.entries[i].spec.Name
	}
	return nil, ConfigErrorf("plugin `%s` has no transform `%s` (it has: %s)", p.Name, name, strings.Join(names, ", "))
}

// open checks pairs against the declared keys, fills in defaults and
// makes the transform.
func (e *entry) open(pairs [][2]string) (Transform, error) {
	config := Config{}
	names := make([]string, len(e.spec.Config))
	for i, k := range e.spec.Config {
		names[i] = k.Name
	}
	for _, pair := range pairs {
		known := false
		for _, name := range names {
			known = known || name == pair[0]
		}
		if !known {
			list := strings.Join(names, ", ")
			if list == "" {
				list = "none"
			}
			return nil, ConfigErrorf("`%s` has no config key `%s` (it takes: %s)", e.spec.Name, pair[0], list)
		}
		config[pair[0]] = pair[1]
	}
	for _, k := range e.spec.Config {
		if _, given := config[k.Name]; given {
			continue
		}
		if k.Required {
			return nil, ConfigErrorf("`%s` needs config key `%s`: %s", e.spec.Name, k.Name, k.Description)
		}
		if k.Default != nil {
			config[k.Name] = *k.Default
		}
	}
	return e.make(config)
}

// Transforms are the declared transforms, in order.
func (p *Plugin) Transforms() []TransformSpec {
	specs := make([]TransformSpec, len(p.entries))
	for k, e := range p.entries {
		specs[k] = e.spec
	}
	return specs
}
