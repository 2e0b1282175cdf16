/*
 * Tests of a C plugin, run natively by `quiver plugin test DIR`: each test
 * file in the manifest's `tests` is a program with its own `main`, linked
 * with the plugin's sources, the SDK and a native nanoarrow. A run opens and
 * binds a transform and processes batches through the same SDK code the
 * component runs (configuration checks, scalar functions, outputs, takes).
 */
#ifndef QUIVER_TESTING_H
#define QUIVER_TESTING_H

#include "quiver.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One opened and bound transform. */
typedef struct QuiverRun QuiverRun;

/** What one `quiver_run_process` or `quiver_run_finish` gave. */
typedef struct QuiverRunOutput QuiverRunOutput;

/**
 * Opens transform `name` of `quiver_plugin()` with `config` (`"key=value"`
 * strings, `count` of them) and binds `input` (a struct schema, not taken
 * over). NULL on failure, with `error` filled.
 */
QuiverRun* quiver_run_open(const char* name, const char* const* config, size_t count,
                           const struct ArrowSchema* input, QuiverError* error);

/** The output schema the transform answered at bind. */
const struct ArrowSchema* quiver_run_schema(const QuiverRun* run);

/** Processes `batch` (a struct array of the input schema, not taken over). NULL on failure. */
QuiverRunOutput* quiver_run_process(QuiverRun* run, const struct ArrowArray* batch, QuiverError* error);

/** Ends the stream: NULL with an empty `error` when the transform emits nothing. */
QuiverRunOutput* quiver_run_finish(QuiverRun* run, QuiverError* error);

void quiver_run_close(QuiverRun* run);

int64_t quiver_run_output_rows(const QuiverRunOutput* out);

/** Output column `name`, as a view; NULL if there is none. */
const struct ArrowArrayView* quiver_run_output_column(const QuiverRunOutput* out, const char* name);

size_t quiver_run_output_rejections(const QuiverRunOutput* out);

/** The row and reason of rejection `i`. */
uint32_t quiver_run_output_rejected_row(const QuiverRunOutput* out, size_t i);
const char* quiver_run_output_reason(const QuiverRunOutput* out, size_t i);

void quiver_run_output_free(QuiverRunOutput* out);

/**
 * Makes `schema` a struct schema of `count` nullable columns named `names`
 * of types `types` (NANOARROW_TYPE_TIMESTAMP: milliseconds, no time zone;
 * other parameters through nanoarrow's ArrowSchemaSetType* on the children,
 * with `array` NULL, then ArrowArrayInitFromSchema); `array` (if not NULL)
 * an empty struct array of it,
 * ready to append to each child and finish with `quiver_test_finish`.
 */
int quiver_test_batch(struct ArrowSchema* schema, struct ArrowArray* array, size_t count, const char* const* names,
                      const enum ArrowType* types);

/** Finishes a batch built by appending `rows` values to every child of `array`. */
int quiver_test_finish(struct ArrowArray* array, int64_t rows);

/** Checks `ok`; a failure prints `what` with the file and line and is counted. */
#define QUIVER_CHECK(ok, what) quiver_test_check((ok), (what), __FILE__, __LINE__)
void quiver_test_check(bool ok, const char* what, const char* file, int line);

/** Prints the tally; the exit status for `main`: 0 when every check passed. */
int quiver_test_done(void);

#ifdef __cplusplus
}
#endif

#endif
