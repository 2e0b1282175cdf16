/*
 * The C SDK's core, independent of the wire: configuration, outputs, the
 * take kernel and scalar transforms. guest.c bridges it to the contract.
 */
#include "quiver_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int quiver_fail(QuiverError* error, QuiverErrorKind kind, const char* format, ...) {
  va_list args;
  va_start(args, format);
  error->kind = kind;
  vsnprintf(error->message, sizeof(error->message), format, args);
  va_end(args);
  return -1;
}

const char* quiver_config_get(const QuiverConfig* config, const char* key) {
  for (size_t i = 0; i < config->count; i++) {
    if (strcmp(config->keys[i], key) == 0) return config->values[i];
  }
  return NULL;
}

void quiver_config_free(QuiverConfig* config) {
  for (size_t i = 0; i < config->count; i++) {
    free(config->keys[i]);
    free(config->values[i]);
  }
  free(config->keys);
  free(config->values);
  memset(config, 0, sizeof(*config));
}

static void config_put(QuiverConfig* config, const char* key, const char* value) {
  for (size_t i = 0; i < config->count; i++) {
    if (strcmp(config->keys[i], key) == 0) {
      free(config->values[i]);
      config->values[i] = strdup(value);
      return;
    }
  }
  config->keys = realloc(config->keys, (config->count + 1) * sizeof(char*));
  config->values = realloc(config->values, (config->count + 1) * sizeof(char*));
  config->keys[config->count] = strdup(key);
  config->values[config->count] = strdup(value);
  config->count++;
}

/* The keys a scalar transform takes: `args` and `output`, defaults from its declaration. */
static QuiverConfigKey scalar_keys[2];
static char scalar_default_args[1024];

size_t quiver_config_keys(const QuiverTransform* t, const QuiverConfigKey** keys) {
  if (t->scalar == NULL) {
    *keys = t->config_keys;
    return t->config_key_count;
  }
  scalar_default_args[0] = 0;
  for (size_t i = 0; i < t->scalar->count; i++) {
    if (i) strncat(scalar_default_args, ",", sizeof(scalar_default_args) - strlen(scalar_default_args) - 1);
    strncat(scalar_default_args, t->scalar->params[i], sizeof(scalar_default_args) - strlen(scalar_default_args) - 1);
  }
  scalar_keys[0] = (QuiverConfigKey){"args", "comma-separated input columns, one per parameter", false,
                                     scalar_default_args};
  scalar_keys[1] = (QuiverConfigKey){"output", "the output column (replaced if present)", false, t->scalar->output};
  *keys = scalar_keys;
  return 2;
}

int quiver_config_check(const QuiverTransform* t, const char* const* keys, const char* const* values, size_t count,
                        QuiverConfig* config, QuiverError* error) {
  const QuiverConfigKey* declared;
  size_t declared_count = quiver_config_keys(t, &declared);
  for (size_t i = 0; i < count; i++) {
    bool known = false;
    for (size_t k = 0; k < declared_count; k++) known = known || strcmp(declared[k].name, keys[i]) == 0;
    if (!known) {
      char names[512] = "";
      for (size_t k = 0; k < declared_count; k++) {
        if (k) strncat(names, ", ", sizeof(names) - strlen(names) - 1);
        strncat(names, declared[k].name, sizeof(names) - strlen(names) - 1);
      }
      return quiver_fail(error, QUIVER_INVALID_CONFIG, "`%s` has no config key `%s` (it takes: %s)", t->name, keys[i],
                         declared_count ? names : "none");
    }
    config_put(config, keys[i], values[i]);
  }
  for (size_t k = 0; k < declared_count; k++) {
    if (quiver_config_get(config, declared[k].name)) continue;
    if (declared[k].required) {
      return quiver_fail(error, QUIVER_INVALID_CONFIG, "`%s` needs config key `%s`: %s", t->name, declared[k].name,
                         declared[k].description);
    }
    if (declared[k].default_value) config_put(config, declared[k].name, declared[k].default_value);
  }
  return 0;
}

int64_t quiver_column_index(const struct ArrowSchema* schema, const char* name) {
  for (int64_t i = 0; i < schema->n_children; i++) {
    if (schema->children[i]->name && strcmp(schema->children[i]->name, name) == 0) return i;
  }
  return -1;
}

/* ---- outputs ---- */

void quiver_output_init(QuiverOutput* output, const struct ArrowSchema* schema, int64_t num_rows) {
  memset(output, 0, sizeof(*output));
  output->schema = schema;
  output->num_rows = num_rows;
  output->columns = calloc(schema->n_children ? schema->n_children : 1, sizeof(QuiverColumn));
}

void quiver_output_free(QuiverOutput* output) {
  if (output->columns) {
    for (int64_t i = 0; i < output->schema->n_children; i++) {
      if (output->columns[i].array.release) output->columns[i].array.release(&output->columns[i].array);
    }
  }
  for (size_t i = 0; i < output->rejection_count; i++) free(output->rejections[i].reason);
  free(output->rejections);
  free(output->origin);
  free(output->columns);
  memset(output, 0, sizeof(*output));
}

const struct ArrowSchema* quiver_output_schema(const QuiverOutput* output) { return output->schema; }

static int check_column(QuiverOutput* output, int64_t column, QuiverError* error) {
  if (column < 0 || column >= output->schema->n_children) {
    return quiver_fail(error, QUIVER_FAILED, "output column %lld does not exist: the output schema has %lld",
                       (long long)column, (long long)output->schema->n_children);
  }
  QuiverColumn* c = &output->columns[column];
  if (c->array.release) c->array.release(&c->array);
  c->pass = -1;
  return 0;
}

int quiver_output_start(QuiverOutput* output, int64_t column, struct ArrowArray* array, QuiverError* error) {
  if (column < 0 || column >= output->schema->n_children) return check_column(output, column, error);
  struct ArrowError e;
  if (ArrowArrayInitFromSchema(array, output->schema->children[column], &e) != NANOARROW_OK ||
      ArrowArrayStartAppending(array) != NANOARROW_OK) {
    return quiver_fail(error, QUIVER_FAILED, "output column `%s`: %s", output->schema->children[column]->name,
                       e.message);
  }
  return 0;
}

int quiver_output_set(QuiverOutput* output, int64_t column, struct ArrowArray* array, QuiverError* error) {
  if (check_column(output, column, error)) return -1;
  ArrowArrayMove(array, &output->columns[column].array);
  return 0;
}

/* Appends row `row` of `view` to `array`, by storage type. */
static ArrowErrorCode append_row(struct ArrowArray* array, const struct ArrowArrayView* view, int64_t row) {
  if (ArrowArrayViewIsNull(view, row)) return ArrowArrayAppendNull(array, 1);
  switch (view->storage_type) {
    case NANOARROW_TYPE_UINT8:
    case NANOARROW_TYPE_UINT16:
    case NANOARROW_TYPE_UINT32:
    case NANOARROW_TYPE_UINT64:
      return ArrowArrayAppendUInt(array, ArrowArrayViewGetUIntUnsafe(view, row));
    case NANOARROW_TYPE_FLOAT:
    case NANOARROW_TYPE_DOUBLE:
      return ArrowArrayAppendDouble(array, ArrowArrayViewGetDoubleUnsafe(view, row));
    case NANOARROW_TYPE_STRING:
    case NANOARROW_TYPE_LARGE_STRING:
    case NANOARROW_TYPE_BINARY:
    case NANOARROW_TYPE_LARGE_BINARY:
      return ArrowArrayAppendBytes(array, ArrowArrayViewGetBytesUnsafe(view, row));
    default:
      return ArrowArrayAppendInt(array, ArrowArrayViewGetIntUnsafe(view, row));
  }
}

int quiver_take(const struct ArrowSchema* field, const struct ArrowArrayView* view, const uint8_t* keep,
                struct ArrowArray* out, QuiverError* error) {
  struct ArrowError e;
  if (ArrowArrayInitFromSchema(out, field, &e) != NANOARROW_OK || ArrowArrayStartAppending(out) != NANOARROW_OK) {
    return quiver_fail(error, QUIVER_FAILED, "column `%s`: %s", field->name, e.message);
  }
  for (int64_t row = 0; row < view->length; row++) {
    if (keep && !keep[row]) continue;
    if (append_row(out, view, row) != NANOARROW_OK) {
      return quiver_fail(error, QUIVER_FAILED, "column `%s`: cannot copy row %lld", field->name, (long long)row);
    }
  }
  if (ArrowArrayFinishBuildingDefault(out, &e) != NANOARROW_OK) {
    return quiver_fail(error, QUIVER_FAILED, "column `%s`: %s", field->name, e.message);
  }
  return 0;
}

int quiver_output_pass(QuiverOutput* output, int64_t column, const QuiverBatch* batch, int64_t input,
                       const uint8_t* keep, QuiverError* error) {
  if (check_column(output, column, error)) return -1;
  if (input < 0 || input >= batch->num_columns) {
    return quiver_fail(error, QUIVER_FAILED, "input column %lld does not exist", (long long)input);
  }
  if (keep == NULL) {
    output->columns[column].pass = input;
    return 0;
  }
  return quiver_take(batch->schema->children[input], batch->columns[input], keep, &output->columns[column].array,
                     error);
}

int quiver_output_reject(QuiverOutput* output, int64_t row, const char* reason) {
  if (output->rejection_count == output->rejection_capacity) {
    output->rejection_capacity = output->rejection_capacity ? output->rejection_capacity * 2 : 16;
    output->rejections = realloc(output->rejections, output->rejection_capacity * sizeof(QuiverRejection));
  }
  output->rejections[output->rejection_count++] = (QuiverRejection){(uint32_t)row, strdup(reason)};
  return 0;
}

int quiver_output_origin(QuiverOutput* output, const uint32_t* rows, int64_t count) {
  free(output->origin);
  output->origin = malloc((count ? count : 1) * sizeof(uint32_t));
  memcpy(output->origin, rows, count * sizeof(uint32_t));
  output->origin_count = count;
  output->has_origin = true;
  return 0;
}

/* ---- scalar transforms ---- */

typedef struct ScalarState {
  const QuiverTransform* t;
  int64_t* inputs;
  int64_t replace;
  char* output_name;
  char** args;
} ScalarState;

static void scalar_close(void* state) {
  ScalarState* s = state;
  if (!s) return;
  for (size_t i = 0; i < s->t->scalar->count; i++) free(s->args[i]);
  free(s->args);
  free(s->inputs);
  free(s->output_name);
  free(s);
}

void* quiver_scalar_open(const QuiverTransform* t, const QuiverConfig* config, QuiverError* error) {
  ScalarState* s = calloc(1, sizeof(ScalarState));
  s->t = t;
  s->args = calloc(t->scalar->count, sizeof(char*));
  s->inputs = calloc(t->scalar->count, sizeof(int64_t));
  s->output_name = strdup(quiver_config_get(config, "output"));
  char* list = strdup(quiver_config_get(config, "args"));
  size_t n = 0;
  for (char *save = NULL, *arg = strtok_r(list, ",", &save); arg; arg = strtok_r(NULL, ",", &save), n++) {
    while (*arg == ' ') arg++;
    char* end = arg + strlen(arg);
    while (end > arg && end[-1] == ' ') *--end = 0;
    if (n < t->scalar->count) s->args[n] = strdup(arg);
  }
  free(list);
  if (n != t->scalar->count) {
    quiver_fail(error, QUIVER_INVALID_CONFIG, "config key `args` names %zu columns, `%s` takes %zu", n, t->name,
                t->scalar->count);
    scalar_close(s);
    return NULL;
  }
  if (!s->output_name[0]) {
    quiver_fail(error, QUIVER_INVALID_CONFIG, "config key `output` must name a column");
    scalar_close(s);
    return NULL;
  }
  return s;
}

void quiver_scalar_close(void* state) { scalar_close(state); }

int quiver_scalar_bind(void* state, const struct ArrowSchema* input, struct ArrowSchema* output, QuiverError* error) {
  ScalarState* s = state;
  const QuiverScalar* sc = s->t->scalar;
  for (size_t i = 0; i < sc->count; i++) {
    int64_t at = quiver_column_index(input, s->args[i]);
    if (at < 0) {
      return quiver_fail(error, QUIVER_SCHEMA_MISMATCH, "`%s` needs input column `%s` (%s), which is missing",
                         s->t->name, s->args[i], ArrowTypeString(sc->types[i]));
    }
    struct ArrowSchemaView view;
    struct ArrowError e;
    if (ArrowSchemaViewInit(&view, input->children[at], &e) != NANOARROW_OK || view.type != sc->types[i]) {
      return quiver_fail(error, QUIVER_SCHEMA_MISMATCH, "`%s` needs input column `%s` to be %s, it is %s", s->t->name,
                         s->args[i], ArrowTypeString(sc->types[i]), input->children[at]->format);
    }
    s->inputs[i] = at;
  }
  s->replace = quiver_column_index(input, s->output_name);
  int64_t n = input->n_children + (s->replace < 0 ? 1 : 0);
  if (ArrowSchemaInitFromType(output, NANOARROW_TYPE_STRUCT) != NANOARROW_OK ||
      ArrowSchemaAllocateChildren(output, n) != NANOARROW_OK) {
    return quiver_fail(error, QUIVER_FAILED, "out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    struct ArrowSchema* child = output->children[i];
    if (i == s->replace || i == input->n_children) {
      ArrowSchemaInitFromType(child, sc->result);
      ArrowSchemaSetName(child, s->output_name);
    } else if (ArrowSchemaDeepCopy(input->children[i], child) != NANOARROW_OK) {
      return quiver_fail(error, QUIVER_FAILED, "out of memory");
    }
  }
  if (input->metadata) ArrowSchemaSetMetadata(output, input->metadata);
  return 0;
}

static void read_value(const struct ArrowArrayView* view, int64_t row, QuiverValue* v) {
  switch (view->storage_type) {
    case NANOARROW_TYPE_UINT8:
    case NANOARROW_TYPE_UINT16:
    case NANOARROW_TYPE_UINT32:
    case NANOARROW_TYPE_UINT64:
      v->u = ArrowArrayViewGetUIntUnsafe(view, row);
      break;
    case NANOARROW_TYPE_FLOAT:
    case NANOARROW_TYPE_DOUBLE:
      v->f = ArrowArrayViewGetDoubleUnsafe(view, row);
      break;
    case NANOARROW_TYPE_STRING:
    case NANOARROW_TYPE_LARGE_STRING:
    case NANOARROW_TYPE_BINARY:
    case NANOARROW_TYPE_LARGE_BINARY: {
      struct ArrowBufferView b = ArrowArrayViewGetBytesUnsafe(view, row);
      v->s.data = b.data.as_char;
      v->s.size_bytes = b.size_bytes;
      break;
    }
    default:
      v->i = ArrowArrayViewGetIntUnsafe(view, row);
  }
}

static ArrowErrorCode append_value(struct ArrowArray* array, enum ArrowType type, const QuiverValue* v) {
  switch (type) {
    case NANOARROW_TYPE_UINT8:
    case NANOARROW_TYPE_UINT16:
    case NANOARROW_TYPE_UINT32:
    case NANOARROW_TYPE_UINT64:
      return ArrowArrayAppendUInt(array, v->u);
    case NANOARROW_TYPE_FLOAT:
    case NANOARROW_TYPE_DOUBLE:
      return ArrowArrayAppendDouble(array, v->f);
    case NANOARROW_TYPE_STRING:
    case NANOARROW_TYPE_LARGE_STRING:
    case NANOARROW_TYPE_BINARY:
    case NANOARROW_TYPE_LARGE_BINARY:
      return ArrowArrayAppendString(array, v->s);
    default:
      return ArrowArrayAppendInt(array, v->i);
  }
}

int quiver_scalar_process(void* state, const QuiverBatch* batch, QuiverOutput* output, QuiverError* error) {
  ScalarState* s = state;
  const QuiverScalar* sc = s->t->scalar;
  int64_t result_column = s->replace < 0 ? batch->num_columns : s->replace;
  struct ArrowArray result;
  if (quiver_output_start(output, result_column, &result, error)) return -1;
  ArrowArrayReserve(&result, batch->num_rows);
  QuiverValue args[16];
  if (sc->count > 16) return quiver_fail(error, QUIVER_FAILED, "a scalar takes at most 16 parameters");
  uint8_t* keep = NULL;
  for (int64_t row = 0; row < batch->num_rows; row++) {
    bool null = false;
    for (size_t i = 0; i < sc->count; i++) {
      const struct ArrowArrayView* view = batch->columns[s->inputs[i]];
      if (ArrowArrayViewIsNull(view, row)) {
        null = true;
        break;
      }
      read_value(view, row, &args[i]);
    }
    QuiverValue value;
    const char* reason = NULL;
    QuiverScalarResult made = null ? QUIVER_NULL : sc->fn(args, &value, &reason);
    ArrowErrorCode code = NANOARROW_OK;
    if (made == QUIVER_VALUE) {
      code = append_value(&result, sc->result, &value);
    } else if (made == QUIVER_NULL) {
      code = ArrowArrayAppendNull(&result, 1);
    } else {
      /* A placeholder keeps the result aligned with the input until the refused rows are dropped. */
      code = ArrowArrayAppendNull(&result, 1);
      quiver_output_reject(output, row, reason ? reason : "refused");
      if (!keep) {
        keep = malloc(batch->num_rows ? batch->num_rows : 1);
        memset(keep, 1, batch->num_rows);
      }
      keep[row] = 0;
    }
    if (code != NANOARROW_OK) {
      result.release(&result);
      free(keep);
      return quiver_fail(error, QUIVER_FAILED, "`%s`: cannot append the result of row %lld", s->t->name,
                         (long long)row);
    }
  }
  struct ArrowError e;
  if (ArrowArrayFinishBuildingDefault(&result, &e) != NANOARROW_OK) {
    result.release(&result);
    free(keep);
    return quiver_fail(error, QUIVER_FAILED, "`%s`: %s", s->t->name, e.message);
  }
  int status = 0;
  for (int64_t i = 0; i < batch->num_columns && !status; i++) {
    if (i != s->replace) status = quiver_output_pass(output, i, batch, i, keep, error);
  }
  if (!status && keep) {
    struct ArrowArrayView view;
    ArrowArrayViewInitFromSchema(&view, output->schema->children[result_column], &e);
    ArrowArrayViewSetArray(&view, &result, &e);
    struct ArrowArray kept;
    status = quiver_take(output->schema->children[result_column], &view, keep, &kept, error);
    ArrowArrayViewReset(&view);
    result.release(&result);
    if (!status) ArrowArrayMove(&kept, &result);
  }
  free(keep);
  if (status) {
    if (result.release) result.release(&result);
    return -1;
  }
  return quiver_output_set(output, result_column, &result, error);
}

int quiver_transform_open(const char* name, const char* const* keys, const char* const* values, size_t count,
                          const QuiverTransform** t, QuiverConfig* config, void** state, QuiverError* error) {
  const QuiverPlugin* p = quiver_plugin();
  *t = NULL;
  *state = NULL;
  const QuiverTransform* found = NULL;
  for (size_t i = 0; i < p->transform_count && !found; i++) {
    if (strcmp(p->transforms[i].name, name) == 0) found = &p->transforms[i];
  }
  if (!found) return quiver_fail(error, QUIVER_INVALID_CONFIG, "plugin `%s` has no transform `%s`", p->name, name);
  if (quiver_config_check(found, keys, values, count, config, error)) {
    quiver_config_free(config);
    return -1;
  }
  error->message[0] = 0;
  if (found->scalar) {
    *state = quiver_scalar_open(found, config, error);
  } else if (found->open) {
    *state = found->open(config, error);
  }
  if (error->message[0]) {
    quiver_transform_close(found, *state);
    *state = NULL;
    quiver_config_free(config);
    return -1;
  }
  *t = found;
  return 0;
}

void quiver_transform_close(const QuiverTransform* t, void* state) {
  if (state) (t->scalar ? quiver_scalar_close : t->close ? t->close : free)(state);
}

int quiver_transform_bind(const QuiverTransform* t, void* state, const struct ArrowSchema* input,
                          struct ArrowSchema* output, QuiverError* error) {
  if (t->scalar) return quiver_scalar_bind(state, input, output, error);
  if (t->bind) return t->bind(state, input, output, error);
  return ArrowSchemaDeepCopy(input, output) == NANOARROW_OK ? 0 : quiver_fail(error, QUIVER_FAILED, "out of memory");
}

int quiver_transform_process(const QuiverTransform* t, void* state, const QuiverBatch* batch, QuiverOutput* output,
                             QuiverError* error) {
  if (t->scalar) return quiver_scalar_process(state, batch, output, error);
  if (t->process) return t->process(state, batch, output, error);
  return quiver_fail(error, QUIVER_FAILED, "transform `%s` has no process", t->name);
}
