/**
 * `gcd`: the greatest common divisor of int32 columns `a` and `b`, appended
 * as `c`. The same function as the Rust plugin: JavaScript's `%` truncates
 * toward zero like Rust's, so signs come out alike.
 */
import { Plugin, types } from 'quiver-sdk';

export const plugin = new Plugin('gcd', '0.1.0', 'Greatest common divisor of two int32 columns');

/** Greatest common divisor of a and b, by Euclid's loop. */
export function gcd(a, b) {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

plugin.scalar(
  'gcd',
  {
    args: { a: types.int32, b: types.int32 },
    output: ['c', types.int32],
    description: "Greatest common divisor of a and b, by Euclid's loop.",
  },
  gcd,
);
