/* The native test harness (quiver_testing.h): the SDK's code, without the
 * component's wire form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quiver_internal.h"
#include "quiver_testing.h"

struct QuiverRun {
  const QuiverTransform* t;
  QuiverConfig config;
  void* state;
  struct ArrowSchema input, output;
};

struct QuiverRunOutput {
  QuiverOutput output;
  /* Views of each output column: of the array the SDK built, or of the input column passed through. */
  struct ArrowArrayView* views;
  int64_t columns;
};

void quiver_log(int level, const char* message) {
  static const char* const NAMES[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
  fprintf(stderr, "%s %s\n", NAMES[level < 0 || level > 4 ? 4 : level], message);
}

QuiverRun* quiver_run_open(const char* name, const char* const* config, size_t count,
                           const struct ArrowSchema* input, QuiverError* error) {
  QuiverRun* run = calloc(1, sizeof(QuiverRun));
  char** keys = calloc(count + 1, sizeof(char*));
  const char** values = calloc(count + 1, sizeof(char*));
  for (size_t i = 0; i < count; i++) {
    keys[i] = strdup(config[i]);
    char* eq = strchr(keys[i], '=');
    values[i] = eq ? eq + 1 : "";
    if (eq) *eq = 0;
  }
  int status = quiver_transform_open(name, (const char* const*)keys, values, count, &run->t, &run->config,
                                     &run->state, error);
  for (size_t i = 0; i < count; i++) free(keys[i]);
  free(keys);
  free(values);
  if (!status && ArrowSchemaDeepCopy(input, &run->input) != NANOARROW_OK) {
    status = quiver_fail(error, QUIVER_FAILED, "cannot copy the input schema");
  }
  if (!status) status = quiver_transform_bind(run->t, run->state, &run->input, &run->output, error);
  if (status) {
    quiver_run_close(run);
    return NULL;
  }
  return run;
}

const struct ArrowSchema* quiver_run_schema(const QuiverRun* run) { return &run->output; }

void quiver_run_close(QuiverRun* run) {
  if (!run) return;
  if (run->t) quiver_transform_close(run->t, run->state);
  if (run->input.release) run->input.release(&run->input);
  if (run->output.release) run->output.release(&run->output);
  quiver_config_free(&run->config);
  free(run);
}

/* Views of the output's columns, for the checks. */
static QuiverRunOutput* finish_output(QuiverRunOutput* out, struct ArrowArrayView* inputs, QuiverError* error) {
  out->columns = out->output.schema->n_children;
  out->views = calloc(out->columns ? out->columns : 1, sizeof(struct ArrowArrayView));
  struct ArrowError ae;
  for (int64_t i = 0; i < out->columns; i++) {
    QuiverColumn* c = &out->output.columns[i];
    if (c->array.release) {
      if (ArrowArrayViewInitFromSchema(&out->views[i], out->output.schema->children[i], &ae) != NANOARROW_OK ||
          ArrowArrayViewSetArray(&out->views[i], &c->array, &ae) != NANOARROW_OK) {
        quiver_fail(error, QUIVER_FAILED, "output column %lld is not valid: %s", (long long)i, ae.message);
        quiver_run_output_free(out);
        return NULL;
      }
    } else if (c->pass >= 0 && inputs) {
      out->views[i] = inputs[c->pass];
      /* Shared with the input: not reset twice. */
      out->views[i].array = NULL;
    } else {
      quiver_fail(error, QUIVER_FAILED, "output column %lld was never set", (long long)i);
      quiver_run_output_free(out);
      return NULL;
    }
  }
  return out;
}

QuiverRunOutput* quiver_run_process(QuiverRun* run, const struct ArrowArray* batch, QuiverError* error) {
  int64_t columns = run->input.n_children;
  struct ArrowArrayView* views = calloc(columns ? columns : 1, sizeof(struct ArrowArrayView));
  struct ArrowArrayView** ptrs = calloc(columns ? columns : 1, sizeof(struct ArrowArrayView*));
  struct ArrowError ae;
  int status = batch->n_children == columns
                   ? 0
                   : quiver_fail(error, QUIVER_INVALID_CALL, "the batch has %lld columns, the schema %lld",
                                 (long long)batch->n_children, (long long)columns);
  for (int64_t i = 0; !status && i < columns; i++) {
    ptrs[i] = &views[i];
    if (ArrowArrayViewInitFromSchema(&views[i], run->input.children[i], &ae) != NANOARROW_OK ||
        ArrowArrayViewSetArray(&views[i], batch->children[i], &ae) != NANOARROW_OK) {
      status = quiver_fail(error, QUIVER_INVALID_CALL, "column %lld does not match the schema: %s", (long long)i,
                           ae.message);
    }
  }
  QuiverRunOutput* out = NULL;
  if (!status) {
    out = calloc(1, sizeof(QuiverRunOutput));
    QuiverBatch b = {batch->length, columns, &run->input, ptrs};
    quiver_output_init(&out->output, &run->output, batch->length);
    status = quiver_transform_process(run->t, run->state, &b, &out->output, error);
    if (status) {
      quiver_run_output_free(out);
      out = NULL;
    } else {
      out = finish_output(out, views, error);
    }
  }
  /* Views passed through keep pointing at the batch, which the caller still owns. */
  free(ptrs);
  if (!out) {
    for (int64_t i = 0; i < columns; i++) ArrowArrayViewReset(&views[i]);
    free(views);
  }
  return out;
}

QuiverRunOutput* quiver_run_finish(QuiverRun* run, QuiverError* error) {
  error->message[0] = 0;
  if (run->t->scalar || !run->t->finish) return NULL;
  QuiverRunOutput* out = calloc(1, sizeof(QuiverRunOutput));
  quiver_output_init(&out->output, &run->output, 0);
  bool emitted = false;
  if (run->t->finish(run->state, &out->output, &emitted, error) || !emitted) {
    quiver_run_output_free(out);
    return NULL;
  }
  return finish_output(out, NULL, error);
}

int64_t quiver_run_output_rows(const QuiverRunOutput* out) {
  for (int64_t i = 0; i < out->columns; i++) return out->views[i].length;
  return out->output.num_rows;
}

const struct ArrowArrayView* quiver_run_output_column(const QuiverRunOutput* out, const char* name) {
  int64_t i = quiver_column_index(out->output.schema, name);
  return i < 0 ? NULL : &out->views[i];
}

size_t quiver_run_output_rejections(const QuiverRunOutput* out) { return out->output.rejection_count; }

uint32_t quiver_run_output_rejected_row(const QuiverRunOutput* out, size_t i) {
  return out->output.rejections[i].row;
}

const char* quiver_run_output_reason(const QuiverRunOutput* out, size_t i) {
  return out->output.rejections[i].reason;
}

void quiver_run_output_free(QuiverRunOutput* out) {
  if (!out) return;
  for (int64_t i = 0; out->views && i < out->columns; i++) {
    if (out->views[i].array) ArrowArrayViewReset(&out->views[i]);
  }
  free(out->views);
  quiver_output_free(&out->output);
  free(out);
}

int quiver_test_batch(struct ArrowSchema* schema, struct ArrowArray* array, size_t count, const char* const* names,
                      const enum ArrowType* types) {
  ArrowSchemaInit(schema);
  if (ArrowSchemaSetTypeStruct(schema, (int64_t)count) != NANOARROW_OK) return -1;
  for (size_t i = 0; i < count; i++) {
    int set = types[i] == NANOARROW_TYPE_TIMESTAMP
                  ? ArrowSchemaSetTypeDateTime(schema->children[i], types[i], NANOARROW_TIME_UNIT_MILLI, NULL)
                  : ArrowSchemaSetType(schema->children[i], types[i]);
    if (set != NANOARROW_OK ||
        ArrowSchemaSetName(schema->children[i], names[i]) != NANOARROW_OK) {
      return -1;
    }
  }
  if (!array) return 0;
  if (ArrowArrayInitFromSchema(array, schema, NULL) != NANOARROW_OK) return -1;
  return ArrowArrayStartAppending(array) == NANOARROW_OK ? 0 : -1;
}

int quiver_test_finish(struct ArrowArray* array, int64_t rows) {
  array->length = rows;
  return ArrowArrayFinishBuildingDefault(array, NULL) == NANOARROW_OK ? 0 : -1;
}

static int checks, failures;

void quiver_test_check(bool ok, const char* what, const char* file, int line) {
  checks++;
  if (!ok) {
    failures++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
  }
}

int quiver_test_done(void) {
  if (failures) {
    printf("FAILED: %d of %d checks\n", failures, checks);
    return 1;
  }
  printf("passed: %d checks\n", checks);
  return 0;
}
