// Command gcd is the `gcd` plugin: the greatest common divisor of int32
// columns `a` and `b`, appended as `c`. Go's `%` truncates toward zero like
// Rust's, so signs come out alike.
package main

import "quiver.dev/quiver"

var plugin = quiver.NewPlugin("gcd", "0.1.0", "Greatest common divisor of two int32 columns")

func init() {
	plugin.Scalar(quiver.ScalarSpec{
		Name:        "gcd",
		Description: "Greatest common divisor of a and b, by Euclid's loop.",
		Args:        []string{"a", "b"},
		Output:      "c",
	}, quiver.Func2(gcd))
	quiver.Serve(plugin)
}

// gcd is the greatest common divisor of a and b, by Euclid's loop.
func gcd(a, b int32) (int32, error) {
	for b != 0 {
		a, b = b, a%b
	}
	return a, nil
}

func main() {}
