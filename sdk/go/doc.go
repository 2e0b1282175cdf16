// Package quiver is the Go SDK for Quiver plugins: WebAssembly components
// that transform Apache Arrow record batches inside Quiver's sandbox.
//
// A plugin is a main package that declares a Plugin and serves it from
// init. A transform is either a scalar function of typed Go values (Func1,
// Func2, Func3), called once per row, or a Transform over whole
// arrow.RecordBatch values:
//
//	var plugin = quiver.NewPlugin("gcd", "0.1.0", "Greatest common divisor of two int32 columns")
//
//	func init() {
//		plugin.Scalar(quiver.ScalarSpec{Name: "gcd", Args: []string{"a", "b"}, Output: "c"}, quiver.Func2(gcd))
//		quiver.Serve(plugin)
//	}
//
//	func gcd(a, b int32) (int32, error) { ... }
//
//	func main() {}
//
// `quiver plugin build` compiles it with Go's own GOOS=wasip1 port into a
// component of the quiver:transform contract; `quiver plugin test` runs its
// Go tests natively, where package quivertest drives the plugin through the
// same wire forms the host uses.
package quiver
