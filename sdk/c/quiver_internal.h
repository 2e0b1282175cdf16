/* What quiver.c shares with guest.c and testing.c; not for plugin authors. */
#ifndef QUIVER_INTERNAL_H
#define QUIVER_INTERNAL_H

#include "quiver.h"

struct QuiverConfig {
  char** keys;
  char** values;
  size_t count;
};

typedef struct QuiverColumn {
  /** An array the SDK owns, or released (release == NULL) when passing through. */
  struct ArrowArray array;
  /** The input column passed through whole, or -1. */
  int64_t pass;
} QuiverColumn;

typedef struct QuiverRejection {
  uint32_t row;
  char* reason;
} QuiverRejection;

struct QuiverOutput {
  const struct ArrowSchema* schema;
  int64_t num_rows;
  QuiverColumn* columns;
  QuiverRejection* rejections;
  size_t rejection_count, rejection_capacity;
  uint32_t* origin;
  int64_t origin_count;
  bool has_origin;
};

void quiver_config_free(QuiverConfig* config);
size_t quiver_config_keys(const QuiverTransform* t, const QuiverConfigKey** keys);
int quiver_config_check(const QuiverTransform* t, const char* const* keys, const char* const* values, size_t count,
                        QuiverConfig* config, QuiverError* error);
void quiver_output_init(QuiverOutput* output, const struct ArrowSchema* schema, int64_t num_rows);
void quiver_output_free(QuiverOutput* output);
int quiver_take(const struct ArrowSchema* field, const struct ArrowArrayView* view, const uint8_t* keep,
                struct ArrowArray* out, QuiverError* error);
void* quiver_scalar_open(const QuiverTransform* t, const QuiverConfig* config, QuiverError* error);
void quiver_scalar_close(void* state);
int quiver_scalar_bind(void* state, const struct ArrowSchema* input, struct ArrowSchema* output, QuiverError* error);
int quiver_scalar_process(void* state, const QuiverBatch* batch, QuiverOutput* output, QuiverError* error);

/* A transform of quiver_plugin() and its state, whatever its kind: what the
 * component's exports (guest.c) and the native test harness (testing.c)
 * both drive. */

/* Opens transform `name` with `count` configuration pairs: sets `*t`, `config`
 * and `*state`, or fails leaving `*t` NULL and nothing to free. */
int quiver_transform_open(const char* name, const char* const* keys, const char* const* values, size_t count,
                          const QuiverTransform** t, QuiverConfig* config, void** state, QuiverError* error);
void quiver_transform_close(const QuiverTransform* t, void* state);
int quiver_transform_bind(const QuiverTransform* t, void* state, const struct ArrowSchema* input,
                          struct ArrowSchema* output, QuiverError* error);
int quiver_transform_process(const QuiverTransform* t, void* state, const QuiverBatch* batch, QuiverOutput* output,
                             QuiverError* error);

#endif
