package quiver

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ScalarSpec declares a scalar transform: a function of one row whose
// result becomes column Output (replaced if the input has it).
type ScalarSpec struct {
	Name        string
	Description string
	// Args names the input column of each parameter, in order. Config key
	// `args` renames them, `output` renames Output.
	Args   []string
	Output string
}

// ScalarFunc is a Go function of one row, made by Func1, Func2 or Func3.
type ScalarFunc interface {
	params() []elem
	result() elem
	// bind makes the function's runner over the argument columns.
	bind() runner
}

// runner computes the result column over argument columns of rows rows,
// skipping rows where a column of skip is null; the result has a null
// where a row was skipped or refused.
type runner func(args, skip []arrow.Array, rows int) (arrow.Array, []Rejection)

// Func1 is fn as a scalar function. Parameters and results are Go
// integers, floats, bool, string or []byte. A null argument gives a null
// result without a call, unless the parameter is a pointer (nil for null);
// a pointer result gives null for nil. An error refuses the row, with the
// error's text as the reason.
func Func1[A, R any](fn func(A) (R, error)) ScalarFunc {
	return scalarFunc{[]elem{elemOf[A]()}, elemOf[R](), func() runner {
		return func(args, skip []arrow.Array, rows int) (arrow.Array, []Rejection) {
			a := readerOf[A](args[0])
			return call(rows, skip, func(row int) (R, error) { return fn(a(row)) })
		}
	}}
}

// Func2 is fn as a scalar function of two columns; see Func1.
func Func2[A, B, R any](fn func(A, B) (R, error)) ScalarFunc {
	return scalarFunc{[]elem{elemOf[A](), elemOf[B]()}, elemOf[R](), func() runner {
		return func(args, skip []arrow.Array, rows int) (arrow.Array, []Rejection) {
			a, b := readerOf[A](args[0]), readerOf[B](args[1])
			return call(rows, skip, func(row int) (R, error) { return fn(a(row), b(row)) })
		}
	}}
}

// Func3 is fn as a scalar function of three columns; see Func1.
func Func3[A, B, C, R any](fn func(A, B, C) (R, error)) ScalarFunc {
	return scalarFunc{[]elem{elemOf[A](), elemOf[B](), elemOf[C]()}, elemOf[R](), func() runner {
		return func(args, skip []arrow.Array, rows int) (arrow.Array, []Rejection) {
			a, b, c := readerOf[A](args[0]), readerOf[B](args[1]), readerOf[C](args[2])
			return call(rows, skip, func(row int) (R, error) { return fn(a(row), b(row), c(row)) })
		}
	}}
}

type scalarFunc struct {
	in   []elem
	out  elem
	make func() runner
}

func (f scalarFunc) params() []elem { return f.in }
func (f scalarFunc) result() elem   { return f.out }
func (f scalarFunc) bind() runner   { return f.make() }

// call runs fn on every row but those where a column of skip is null.
func call[R any](rows int, skip []arrow.Array, fn func(row int) (R, error)) (arrow.Array, []Rejection) {
	out := sinkOf[R]()
	defer out.builder.Release()
	out.builder.Reserve(rows)
	var rejections []Rejection
rows:
	for row := 0; row < rows; row++ {
		for _, a := range skip {
			if a.IsNull(row) {
				out.builder.AppendNull()
				continue rows
			}
		}
		v, err := fn(row)
		if err != nil {
			rejections = append(rejections, Rejection{uint32(row), err.Error()})
			out.builder.AppendNull()
			continue
		}
		out.append(v)
	}
	return out.builder.NewArray(), rejections
}

// Scalar offers fn as scalar transform spec.Name.
func (p *Plugin) Scalar(spec ScalarSpec, fn ScalarFunc) *Plugin {
	params := fn.params()
	if len(spec.Args) != len(params) {
		panic(fmt.Sprintf("scalar `%s` names %d columns for %d parameters", spec.Name, len(spec.Args), len(params)))
	}
	keys := []ConfigKey{
		{Name: "args", Description: "comma-separated input columns, one per parameter", Default: Default(strings.Join(spec.Args, ","))},
		{Name: "output", Description: "the output column (replaced if present)", Default: Default(spec.Output)},
	}
	t := TransformSpec{Name: spec.Name, Kind: ScalarKind, Description: spec.Description, Config: keys}
	return p.Transform(t, func(c Config) (Transform, error) {
		args := strings.Split(c["args"], ",")
		for k := range args {
			args[k] = strings.TrimSpace(args[k])
		}
		if len(args) != len(params) {
			return nil, ConfigErrorf("config key `args` names %d columns, `%s` takes %d (%s)",
				len(args), spec.Name, len(params), strings.Join(spec.Args, ", "))
		}
		if c["output"] == "" {
			return nil, ConfigErrorf("config key `output` must name a column")
		}
		return &scalarTransform{name: spec.Name, fn: fn, args: args, output: c["output"]}, nil
	})
}

type scalarTransform struct {
	name    string
	fn      ScalarFunc
	args    []string
	output  string
	indices []int
	replace int
	schema  *arrow.Schema
	run     runner
}

func (s *scalarTransform) Bind(input *arrow.Schema) (*arrow.Schema, error) {
	s.indices = make([]int, len(s.args))
	for k, column := range s.args {
		want := s.fn.params()[k]
		found := input.FieldIndices(column)
		if len(found) == 0 {
			return nil, SchemaErrorf("`%s` needs input column `%s` (%s), which is missing", s.name, column, want)
		}
		t := input.Field(found[0]).Type
		if !want.accepts(t) {
			return nil, SchemaErrorf("`%s` needs input column `%s` to be %s, it is %s", s.name, column, want, t)
		}
		s.indices[k] = found[0]
	}
	fields := append([]arrow.Field(nil), input.Fields()...)
	field := arrow.Field{Name: s.output, Type: s.fn.result().arrow, Nullable: true}
	s.replace = -1
	if found := input.FieldIndices(s.output); len(found) > 0 {
		s.replace = found[0]
		fields[s.replace] = field
	} else {
		fields = append(fields, field)
	}
	meta := input.Metadata()
	s.schema = arrow.NewSchema(fields, &meta)
	s.run = s.fn.bind()
	return s.schema, nil
}

func (s *scalarTransform) Process(batch arrow.RecordBatch) (Output, error) {
	args := make([]arrow.Array, len(s.indices))
	var skip []arrow.Array
	for k, i := range s.indices {
		args[k] = batch.Column(i)
		if args[k].NullN() > 0 && !s.fn.params()[k].nullable {
			skip = append(skip, args[k])
		}
	}
	result, rejections := s.run(args, skip, int(batch.NumRows()))
	columns := append([]arrow.Array(nil), batch.Columns()...)
	if s.replace < 0 {
		columns = append(columns, result)
	} else {
		columns[s.replace] = result
	}
	out := array.NewRecordBatch(s.schema, columns, batch.NumRows())
	return Output{Batch: DropRejected(out, rejections), Rejections: rejections}, nil
}

func (s *scalarTransform) Finish() (*Output, error) { return nil, nil }
