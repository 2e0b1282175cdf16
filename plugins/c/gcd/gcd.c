/*
 * `gcd`: the greatest common divisor of int32 columns `a` and `b`, appended
 * as `c`. C's `%` truncates toward zero like Rust's, so signs come out alike.
 */
#include "quiver.h"

/** Greatest common divisor of a and b, by Euclid's loop. */
int32_t gcd(int32_t a, int32_t b) {
  while (b != 0) {
    int32_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

static QuiverScalarResult gcd_row(const QuiverValue* args, QuiverValue* result, const char** reason) {
  (void)reason;
  result->i = gcd((int32_t)args[0].i, (int32_t)args[1].i);
  return QUIVER_VALUE;
}

static const char* const PARAMS[] = {"a", "b"};
static const enum ArrowType TYPES[] = {NANOARROW_TYPE_INT32, NANOARROW_TYPE_INT32};
static const QuiverScalar GCD = {PARAMS, TYPES, 2, "c", NANOARROW_TYPE_INT32, gcd_row};
static const QuiverTransform TRANSFORMS[] = {
    {.name = "gcd", .kind = QUIVER_SCALAR, .description = "Greatest common divisor of a and b, by Euclid's loop.",
     .scalar = &GCD},
};
static const QuiverPlugin PLUGIN = {"gcd", "0.1.0", "Greatest common divisor of two int32 columns", TRANSFORMS, 1};

const QuiverPlugin* quiver_plugin(void) { return &PLUGIN; }
