/* Tests of `enrich`, run natively by `quiver plugin test`. */
#include <string.h>

#include "quiver_testing.h"

static bool is_string(const struct ArrowArrayView* view, int64_t row, const char* want) {
  struct ArrowStringView s = ArrowArrayViewGetStringUnsafe(view, row);
  return !ArrowArrayViewIsNull(view, row) && s.size_bytes == (int64_t)strlen(want) &&
         memcmp(s.data, want, s.size_bytes) == 0;
}

int main(void) {
  static const char* const NAMES[] = {"event_id", "user_id", "ts", "url", "duration_ms", "country"};
  static const enum ArrowType TYPES[] = {NANOARROW_TYPE_INT64,  NANOARROW_TYPE_INT64, NANOARROW_TYPE_TIMESTAMP,
                                         NANOARROW_TYPE_STRING, NANOARROW_TYPE_INT32, NANOARROW_TYPE_STRING};
  struct ArrowSchema schema;
  struct ArrowArray batch;
  QUIVER_CHECK(quiver_test_batch(&schema, &batch, 6, NAMES, TYPES) == 0, "the batch is made");
  const int64_t ids[] = {1, 2, 3}, users[] = {10, 20, 30}, ts[] = {3600000 * 5, 0, -1}, durations[] = {5, -1, 7};
  const char* urls[] = {"https://a.example/x/y", "https://b.example/", NULL};
  const char* countries[] = {"DE", "FR", "JP"};
  for (int row = 0; row < 3; row++) {
    ArrowArrayAppendInt(batch.children[0], ids[row]);
    ArrowArrayAppendInt(batch.children[1], users[row]);
    ArrowArrayAppendInt(batch.children[2], ts[row]);
    if (urls[row]) {
      ArrowArrayAppendString(batch.children[3], ArrowCharView(urls[row]));
    } else {
      ArrowArrayAppendNull(batch.children[3], 1);
    }
    ArrowArrayAppendInt(batch.children[4], durations[row]);
    ArrowArrayAppendString(batch.children[5], ArrowCharView(countries[row]));
  }
  QUIVER_CHECK(quiver_test_finish(&batch, 3) == 0, "the batch is finished");

  QuiverError error = {0};
  QuiverRun* run = quiver_run_open("enrich", NULL, 0, &schema, &error);
  QUIVER_CHECK(run != NULL, error.message);
  QuiverRunOutput* out = run ? quiver_run_process(run, &batch, &error) : NULL;
  QUIVER_CHECK(out != NULL, error.message);
  if (out) {
    const struct ArrowArrayView* domain = quiver_run_output_column(out, "domain");
    const struct ArrowArrayView* depth = quiver_run_output_column(out, "path_depth");
    const struct ArrowArrayView* hour = quiver_run_output_column(out, "hour");
    const struct ArrowArrayView* id = quiver_run_output_column(out, "event_id");
    const struct ArrowArrayView* country = quiver_run_output_column(out, "country");
    QUIVER_CHECK(quiver_run_output_rows(out) == 2 && domain && depth && hour && id && country,
                 "two rows and every output column");
    if (domain && depth && hour && id && country) {
      QUIVER_CHECK(ArrowArrayViewGetIntUnsafe(id, 0) == 1 && ArrowArrayViewGetIntUnsafe(id, 1) == 3,
                   "events 1 and 3 remain");
      QUIVER_CHECK(is_string(domain, 0, "a.example") && ArrowArrayViewIsNull(domain, 1), "domains");
      QUIVER_CHECK(ArrowArrayViewGetIntUnsafe(depth, 0) == 2 && ArrowArrayViewIsNull(depth, 1), "path depths");
      QUIVER_CHECK(ArrowArrayViewGetIntUnsafe(hour, 0) == 5 && ArrowArrayViewGetIntUnsafe(hour, 1) == 23,
                   "UTC hours, before 1970 too");
      QUIVER_CHECK(is_string(country, 0, "DE") && is_string(country, 1, "JP"), "countries pass through");
    }
    QUIVER_CHECK(quiver_run_output_rejections(out) == 1 && quiver_run_output_rejected_row(out, 0) == 1 &&
                     strcmp(quiver_run_output_reason(out, 0), "negative duration_ms") == 0,
                 "row 1 is refused for its negative duration");
  }
  quiver_run_output_free(out);
  quiver_run_close(run);
  batch.release(&batch);
  schema.release(&schema);
  return quiver_test_done();
}
