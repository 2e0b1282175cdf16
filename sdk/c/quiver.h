/*
 * Quiver's C SDK: write a transform plugin in C over nanoarrow.
 *
 * A plugin defines `quiver_plugin()`, returning its name, version and
 * transforms. Each transform is either a scalar function of one row
 * (`QuiverScalar`, the SDK does the rest) or callbacks over whole batches:
 * input columns arrive as `struct ArrowArrayView`s over the host's buffers
 * (no copy); output columns are nanoarrow `struct ArrowArray`s the SDK takes
 * over, or input columns passed through (moved, not copied, when whole).
 * `quiver plugin build` compiles it with nanoarrow for wasm32-wasi and makes
 * the component; the contract's wire form stays hidden in quiver.c.
 */
#ifndef QUIVER_H
#define QUIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nanoarrow/nanoarrow.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a transform does to the stream (the contract's transform-kind). */
typedef enum { QUIVER_MAP = 0, QUIVER_FILTER = 1, QUIVER_SCALAR = 2, QUIVER_AGGREGATE = 3 } QuiverKind;

/** Why a call failed (the contract's error-kind). */
typedef enum {
  QUIVER_INVALID_CONFIG = 0,
  QUIVER_SCHEMA_MISMATCH = 1,
  QUIVER_INVALID_CALL = 2,
  QUIVER_FAILED = 3,
} QuiverErrorKind;

/** A failed call's kind and message. */
typedef struct QuiverError {
  QuiverErrorKind kind;
  char message[1024];
} QuiverError;

/** Fills `error` (printf-style message) and returns -1, for `return quiver_fail(...)`. */
int quiver_fail(QuiverError* error, QuiverErrorKind kind, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

/** One configuration key a transform accepts. */
typedef struct QuiverConfigKey {
  const char* name;
  const char* description;
  bool required;
  /** NULL for none. */
  const char* default_value;
} QuiverConfigKey;

/** The checked configuration of an opened transform. */
typedef struct QuiverConfig QuiverConfig;

/** The value of `key`, with its default filled in, or NULL. */
const char* quiver_config_get(const QuiverConfig* config, const char* key);

/** One batch of the bound input schema, as views over the host's buffers. */
typedef struct QuiverBatch {
  int64_t num_rows;
  int64_t num_columns;
  /** The bound input schema (a struct whose children are the columns). */
  const struct ArrowSchema* schema;
  /** One view per column. */
  struct ArrowArrayView* const* columns;
} QuiverBatch;

/** What a call returns: one column per output field, rejections, origins. */
typedef struct QuiverOutput QuiverOutput;

/** The output schema agreed at bind. */
const struct ArrowSchema* quiver_output_schema(const QuiverOutput* output);

/** Starts output column `column`: `array` is initialised from its field and ready to append to. */
int quiver_output_start(QuiverOutput* output, int64_t column, struct ArrowArray* array, QuiverError* error);

/** Sets output column `column` to `array`, which the SDK takes over (finished building or not). */
int quiver_output_set(QuiverOutput* output, int64_t column, struct ArrowArray* array, QuiverError* error);

/**
 * Sets output column `column` to input column `input` of `batch`, only the
 * rows whose `keep` byte is non-zero (NULL: every row, moved without a copy).
 */
int quiver_output_pass(QuiverOutput* output, int64_t column, const QuiverBatch* batch, int64_t input,
                       const uint8_t* keep, QuiverError* error);

/** Refuses input row `row` with `reason` (copied). */
int quiver_output_reject(QuiverOutput* output, int64_t row, const char* reason);

/** Each output row's input row (copied); without it: the input rows less the rejected ones. */
int quiver_output_origin(QuiverOutput* output, const uint32_t* rows, int64_t count);

/** A value of one row for a scalar function, by the column's storage. */
typedef union QuiverValue {
  /** Signed integers, dates, timestamps, booleans. */
  int64_t i;
  /** Unsigned integers. */
  uint64_t u;
  /** Floats. */
  double f;
  /** Strings and binaries (not NUL-terminated). */
  struct ArrowStringView s;
} QuiverValue;

/** What a scalar function made of a row. */
typedef enum { QUIVER_VALUE = 0, QUIVER_NULL = 1, QUIVER_REJECT = 2 } QuiverScalarResult;

/**
 * A function of one row: reads `args` (one per parameter, never for a null
 * argument: the row's result is then null), writes `result` (strings: valid
 * until the next call) and says what it made; on QUIVER_REJECT, `reason`.
 */
typedef QuiverScalarResult (*QuiverScalarFn)(const QuiverValue* args, QuiverValue* result, const char** reason);

/** A scalar transform: typed parameters, a result column, the function. */
typedef struct QuiverScalar {
  /** Parameter names: the default input columns. */
  const char* const* params;
  /** Each parameter's Arrow type (NANOARROW_TYPE_INT32, ...). */
  const enum ArrowType* types;
  size_t count;
  /** The default output column and its type. */
  const char* output;
  enum ArrowType result;
  QuiverScalarFn fn;
} QuiverScalar;

/** One transform a plugin offers. For a scalar, set `scalar` and leave the callbacks NULL. */
typedef struct QuiverTransform {
  const char* name;
  QuiverKind kind;
  const char* description;
  const QuiverConfigKey* config_keys;
  size_t config_key_count;
  const QuiverScalar* scalar;
  /** Makes the transform's state (may return NULL when it needs none; fail through `error`). */
  void* (*open)(const QuiverConfig* config, QuiverError* error);
  /** Frees the state. */
  void (*close)(void* state);
  /** Checks `input`, fills `output` (a struct schema) with the output schema. */
  int (*bind)(void* state, const struct ArrowSchema* input, struct ArrowSchema* output, QuiverError* error);
  /** One batch: sets every output column, rejections and origins. */
  int (*process)(void* state, const QuiverBatch* batch, QuiverOutput* output, QuiverError* error);
  /** End of stream (may be NULL): sets `*emitted` when it filled `output`. */
  int (*finish)(void* state, QuiverOutput* output, bool* emitted, QuiverError* error);
} QuiverTransform;

/** What a plugin says about itself. */
typedef struct QuiverPlugin {
  const char* name;
  const char* version;
  const char* description;
  const QuiverTransform* transforms;
  size_t transform_count;
} QuiverPlugin;

/** Defined by the plugin. */
const QuiverPlugin* quiver_plugin(void);

/** Writes `message` to the host's log at `level` (0 trace .. 4 error). */
void quiver_log(int level, const char* message);

/** The index of the column named `name` in a struct schema, or -1. */
int64_t quiver_column_index(const struct ArrowSchema* schema, const char* name);

#ifdef __cplusplus
}
#endif

#endif
