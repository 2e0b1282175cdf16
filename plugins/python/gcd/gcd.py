"""`gcd`: the greatest common divisor of int32 columns `a` and `b`, appended as `c`.

The same function as the Rust plugin: Euclid's loop over truncating
remainders, so signs come out as Rust's `%` gives them, one Python call
per row. `plugins/python/gcd-columns` is the same function over whole
columns, run by the host's kernels.
"""

from quiver_sdk import Plugin
from quiver_sdk.types import int32

plugin = Plugin("gcd", "0.1.0", "Greatest common divisor of two int32 columns")


@plugin.scalar(output="c")
def gcd(a: int32, b: int32) -> int32:
    """Greatest common divisor of a and b, by Euclid's loop."""
    while b:
        # Rust's `%` truncates toward zero; Python's floors.
        r = abs(a) % abs(b)
        a, b = b, -r if a < 0 else r
    return a
