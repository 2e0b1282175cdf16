/* Tests of `gcd`, run natively by `quiver plugin test`. */
#include "quiver_testing.h"

int32_t gcd(int32_t a, int32_t b);

int main(void) {
  QUIVER_CHECK(gcd(12, 18) == 6, "gcd(12, 18) = 6");
  QUIVER_CHECK(gcd(7, 0) == 7, "gcd(7, 0) = 7");
  QUIVER_CHECK(gcd(0, 0) == 0, "gcd(0, 0) = 0");
  QUIVER_CHECK(gcd(-12, 18) == 6, "gcd(-12, 18) = 6, signs as Rust's %");
  QUIVER_CHECK(gcd(12, -18) == -6, "gcd(12, -18) = -6");

  static const char* const NAMES[] = {"a", "b"};
  static const enum ArrowType TYPES[] = {NANOARROW_TYPE_INT32, NANOARROW_TYPE_INT32};
  struct ArrowSchema schema;
  struct ArrowArray batch;
  QUIVER_CHECK(quiver_test_batch(&schema, &batch, 2, NAMES, TYPES) == 0, "the input batch is made");
  /* a: 12, null, 9; b: 18, 4, null */
  ArrowArrayAppendInt(batch.children[0], 12);
  ArrowArrayAppendNull(batch.children[0], 1);
  ArrowArrayAppendInt(batch.children[0], 9);
  ArrowArrayAppendInt(batch.children[1], 18);
  ArrowArrayAppendInt(batch.children[1], 4);
  ArrowArrayAppendNull(batch.children[1], 1);
  QUIVER_CHECK(quiver_test_finish(&batch, 3) == 0, "the input batch is finished");

  QuiverError error = {0};
  QuiverRun* run = quiver_run_open("gcd", NULL, 0, &schema, &error);
  QUIVER_CHECK(run != NULL, error.message);
  QuiverRunOutput* out = run ? quiver_run_process(run, &batch, &error) : NULL;
  QUIVER_CHECK(out != NULL, error.message);
  if (out) {
    const struct ArrowArrayView* c = quiver_run_output_column(out, "c");
    QUIVER_CHECK(quiver_run_output_rows(out) == 3 && c != NULL, "three rows with column c");
    QUIVER_CHECK(c && ArrowArrayViewGetIntUnsafe(c, 0) == 6, "c = 6 on row 0");
    QUIVER_CHECK(c && ArrowArrayViewIsNull(c, 1) && ArrowArrayViewIsNull(c, 2), "null in, null out");
    QUIVER_CHECK(quiver_run_output_rejections(out) == 0, "no row is refused");
  }
  quiver_run_output_free(out);
  quiver_run_close(run);

  /* A missing column is named. */
  static const char* const WRONG[] = {"a", "x"};
  struct ArrowSchema other;
  quiver_test_batch(&other, NULL, 2, WRONG, TYPES);
  QUIVER_CHECK(quiver_run_open("gcd", NULL, 0, &other, &error) == NULL && error.kind == QUIVER_SCHEMA_MISMATCH,
               "a batch without `b` is refused at bind");
  other.release(&other);
  batch.release(&batch);
  schema.release(&schema);
  return quiver_test_done();
}
