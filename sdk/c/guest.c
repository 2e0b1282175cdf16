/*
 * The bridge between wit-bindgen's C bindings of the contract (plugin.h,
 * generated at build time) and the author's `quiver_plugin()`. Input
 * buffers are viewed where the canonical ABI put them; whole input columns
 * passed through go back as the same allocations, moved, not copied.
 */
#include <stdlib.h>
#include <string.h>

#include "nanoarrow/nanoarrow_ipc.h"
#include "plugin.h"
#include "quiver_internal.h"

typedef exports_quiver_transform_transform_error_t WireError;
typedef exports_quiver_transform_transform_output_t WireOutput;

/* The opened transform and the schemas agreed at bind: one stream per instance. */
static struct {
  const QuiverTransform* t;
  void* state;
  QuiverConfig config;
  struct ArrowSchema input, output;
  bool bound;
  int64_t columns;
  struct ArrowArrayView* views;
  struct ArrowArrayView** view_ptrs;
} S;

void quiver_log(int level, const char* message) {
  plugin_string_t text;
  plugin_string_set(&text, message);
  quiver_transform_host_log((quiver_transform_host_level_t)level, &text);
}

static void dup(plugin_string_t* s, const char* text) { plugin_string_dup(s, text ? text : ""); }

static bool fail(WireError* err, const QuiverError* e) {
  err->kind = (quiver_transform_types_error_kind_t)e->kind;
  dup(&err->message, e->message);
  return false;
}

static bool fail_with(WireError* err, QuiverErrorKind kind, const char* message) {
  QuiverError e;
  quiver_fail(&e, kind, "%s", message);
  return fail(err, &e);
}

void exports_quiver_transform_transform_describe(exports_quiver_transform_transform_plugin_info_t* ret) {
  const QuiverPlugin* p = quiver_plugin();
  dup(&ret->name, p->name);
  dup(&ret->version, p->version);
  dup(&ret->description, p->description);
  ret->transforms.len = p->transform_count;
  ret->transforms.ptr = calloc(p->transform_count ? p->transform_count : 1, sizeof(*ret->transforms.ptr));
  for (size_t i = 0; i < p->transform_count; i++) {
    const QuiverTransform* t = &p->transforms[i];
    quiver_transform_types_transform_info_t* info = &ret->transforms.ptr[i];
    dup(&info->name, t->name);
    info->kind = (quiver_transform_types_transform_kind_t)(t->scalar ? QUIVER_SCALAR : t->kind);
    dup(&info->description, t->description);
    const QuiverConfigKey* keys;
    size_t n = quiver_config_keys(t, &keys);
    info->config_keys.len = n;
    info->config_keys.ptr = calloc(n ? n : 1, sizeof(*info->config_keys.ptr));
    for (size_t k = 0; k < n; k++) {
      dup(&info->config_keys.ptr[k].name, keys[k].name);
      dup(&info->config_keys.ptr[k].description, keys[k].description);
      info->config_keys.ptr[k].required = keys[k].required;
      info->config_keys.ptr[k].default_value.is_some = keys[k].default_value != NULL;
      if (keys[k].default_value) dup(&info->config_keys.ptr[k].default_value.val, keys[k].default_value);
    }
  }
}

static char* cstr(const plugin_string_t* s) {
  char* out = malloc(s->len + 1);
  memcpy(out, s->ptr, s->len);
  out[s->len] = 0;
  return out;
}

/* The views over the input columns, of the schema bound last. */
static void free_views(void) {
  for (int64_t i = 0; i < S.columns; i++) ArrowArrayViewReset(&S.views[i]);
  free(S.views);
  free(S.view_ptrs);
  S.views = NULL;
  S.view_ptrs = NULL;
  S.columns = 0;
}

static void reset(void) {
  if (S.t) quiver_transform_close(S.t, S.state);
  free_views();
  if (S.input.release) S.input.release(&S.input);
  if (S.output.release) S.output.release(&S.output);
  quiver_config_free(&S.config);
  memset(&S, 0, sizeof(S));
}

bool exports_quiver_transform_transform_open(plugin_string_t* transform, plugin_list_tuple2_string_string_t* config,
                                             WireError* err) {
  reset();
  char* name = cstr(transform);
  char** keys = calloc(config->len + 1, sizeof(char*));
  char** values = calloc(config->len + 1, sizeof(char*));
  for (size_t i = 0; i < config->len; i++) {
    keys[i] = cstr(&config->ptr[i].f0);
    values[i] = cstr(&config->ptr[i].f1);
  }
  QuiverError e = {0};
  int status = quiver_transform_open(name, (const char* const*)keys, (const char* const*)values, config->len, &S.t,
                                     &S.config, &S.state, &e);
  for (size_t i = 0; i < config->len; i++) {
    free(keys[i]);
    free(values[i]);
  }
  free(keys);
  free(values);
  free(name);
  plugin_string_free(transform);
  plugin_list_tuple2_string_string_free(config);
  return status ? fail(err, &e) : true;
}

static bool supported(const struct ArrowSchema* field) {
  struct ArrowSchemaView view;
  struct ArrowError e;
  if (ArrowSchemaViewInit(&view, field, &e) != NANOARROW_OK || field->dictionary) return false;
  switch (view.type) {
    case NANOARROW_TYPE_BOOL:
    case NANOARROW_TYPE_INT8:
    case NANOARROW_TYPE_INT16:
    case NANOARROW_TYPE_INT32:
    case NANOARROW_TYPE_INT64:
    case NANOARROW_TYPE_UINT8:
    case NANOARROW_TYPE_UINT16:
    case NANOARROW_TYPE_UINT32:
    case NANOARROW_TYPE_UINT64:
    case NANOARROW_TYPE_FLOAT:
    case NANOARROW_TYPE_DOUBLE:
    case NANOARROW_TYPE_STRING:
    case NANOARROW_TYPE_LARGE_STRING:
    case NANOARROW_TYPE_BINARY:
    case NANOARROW_TYPE_LARGE_BINARY:
    case NANOARROW_TYPE_DATE32:
    case NANOARROW_TYPE_DATE64:
    case NANOARROW_TYPE_TIMESTAMP:
      return true;
    default:
      return false;
  }
}

static void free_list(struct ArrowBufferAllocator* allocator, uint8_t* ptr, int64_t size) {
  (void)allocator;
  (void)size;
  free(ptr);
}

/* A reader of the IPC stream in `bytes`, which it takes over (no copy), or -1 with the reason. */
static int read_stream(plugin_list_u8_t* bytes, struct ArrowArrayStream* stream, QuiverError* e) {
  struct ArrowBuffer buffer;
  ArrowBufferInit(&buffer);
  ArrowBufferSetAllocator(&buffer, ArrowBufferDeallocator(free_list, NULL));
  buffer.data = bytes->ptr;
  buffer.size_bytes = buffer.capacity_bytes = (int64_t)bytes->len;
  *bytes = (plugin_list_u8_t){NULL, 0};
  struct ArrowIpcInputStream in;
  if (ArrowIpcInputStreamInitBuffer(&in, &buffer) != NANOARROW_OK) {
    ArrowBufferReset(&buffer);
    return quiver_fail(e, QUIVER_FAILED, "out of memory");
  }
  if (ArrowIpcArrayStreamReaderInit(stream, &in, NULL) != NANOARROW_OK) {
    in.release(&in);
    return quiver_fail(e, QUIVER_INVALID_CALL, "not an Arrow IPC stream");
  }
  return 0;
}

bool exports_quiver_transform_transform_bind(plugin_list_u8_t* input_schema, plugin_list_u8_t* ret, WireError* err) {
  QuiverError e = {0};
  if (!S.t) {
    plugin_list_u8_free(input_schema);
    return fail_with(err, QUIVER_INVALID_CALL, "bind called before open");
  }
  struct ArrowArrayStream stream;
  if (read_stream(input_schema, &stream, &e)) return fail(err, &e);
  if (S.input.release) S.input.release(&S.input);
  if (S.output.release) S.output.release(&S.output);
  int status = stream.get_schema(&stream, &S.input);
  stream.release(&stream);
  if (status != NANOARROW_OK) return fail_with(err, QUIVER_SCHEMA_MISMATCH, "the input schema cannot be read");
  for (int64_t i = 0; i < S.input.n_children; i++) {
    if (!supported(S.input.children[i])) {
      quiver_fail(&e, QUIVER_SCHEMA_MISMATCH, "column `%s` is of Arrow format `%s`, which the C SDK cannot read",
                  S.input.children[i]->name, S.input.children[i]->format);
      return fail(err, &e);
    }
  }
  if (quiver_transform_bind(S.t, S.state, &S.input, &S.output, &e)) return fail(err, &e);

  struct ArrowBuffer out;
  ArrowBufferInit(&out);
  struct ArrowIpcOutputStream os;
  struct ArrowIpcWriter writer;
  struct ArrowError ae;
  if (ArrowIpcOutputStreamInitBuffer(&os, &out) != NANOARROW_OK || ArrowIpcWriterInit(&writer, &os) != NANOARROW_OK) {
    return fail_with(err, QUIVER_FAILED, "out of memory");
  }
  status = ArrowIpcWriterWriteSchema(&writer, &S.output, &ae) == NANOARROW_OK &&
           ArrowIpcWriterWriteArrayView(&writer, NULL, &ae) == NANOARROW_OK;
  ArrowIpcWriterReset(&writer);
  if (!status) {
    ArrowBufferReset(&out);
    quiver_fail(&e, QUIVER_FAILED, "the output schema cannot be written: %s", ae.message);
    return fail(err, &e);
  }
  ret->ptr = out.data;
  ret->len = (size_t)out.size_bytes;

  free_views();
  S.columns = S.input.n_children;
  S.views = calloc(S.columns ? S.columns : 1, sizeof(struct ArrowArrayView));
  S.view_ptrs = calloc(S.columns ? S.columns : 1, sizeof(struct ArrowArrayView*));
  for (int64_t i = 0; i < S.columns; i++) {
    ArrowArrayViewInitFromSchema(&S.views[i], S.input.children[i], &ae);
    S.view_ptrs[i] = &S.views[i];
  }
  S.bound = true;
  return true;
}

static void no_release(struct ArrowArray* array) { array->release = NULL; }

/* A validity bitmap starting at bit `offset`, from one starting at `from` (the wire allows both). */
static uint8_t* realign(const uint8_t* bits, int64_t from, int64_t offset, int64_t length) {
  uint8_t* out = calloc((size_t)((offset + length + 7) / 8 + 1), 1);
  for (int64_t i = 0; i < length; i++) {
    if (ArrowBitGet(bits, from + i)) ArrowBitSet(out, offset + i);
  }
  return out;
}

typedef struct WireColumn {
  size_t first_buffer, buffer_count;
  uint8_t* realigned;
} WireColumn;

/* Views each input column over the wire buffers; records where each column's buffers are. */
static int view_wire(const exports_quiver_transform_transform_list_field_node_t* nodes,
                     const plugin_list_list_u8_t* buffers, WireColumn* wire, QuiverError* e) {
  if (nodes->len != (size_t)S.columns) {
    return quiver_fail(e, QUIVER_INVALID_CALL, "the batch has %zu field nodes for %lld columns", nodes->len,
                       (long long)S.columns);
  }
  size_t next = 0;
  for (int64_t i = 0; i < S.columns; i++) {
    const quiver_transform_types_field_node_t* node = &nodes->ptr[i];
    if (next + node->buffer_count > buffers->len || node->buffer_count > 3) {
      return quiver_fail(e, QUIVER_INVALID_CALL, "column `%s`: the batch lacks buffers", S.input.children[i]->name);
    }
    const void* data[3] = {NULL, NULL, NULL};
    for (uint32_t b = 0; b < node->buffer_count; b++) {
      data[b] = buffers->ptr[next + b].len ? buffers->ptr[next + b].ptr : NULL;
    }
    wire[i] = (WireColumn){next, node->buffer_count, NULL};
    if (data[0] && node->null_offset != node->offset) {
      wire[i].realigned = realign(data[0], (int64_t)node->null_offset, (int64_t)node->offset, (int64_t)node->length);
      data[0] = wire[i].realigned;
    }
    if (node->null_count == 0) data[0] = NULL;
    next += node->buffer_count;
    struct ArrowArray array = {
        .length = (int64_t)node->length,
        .null_count = (int64_t)node->null_count,
        .offset = (int64_t)node->offset,
        .n_buffers = node->buffer_count,
        .buffers = data,
        .release = no_release,
    };
    struct ArrowError ae;
    if (ArrowArrayViewSetArray(&S.views[i], &array, &ae) != NANOARROW_OK) {
      return quiver_fail(e, QUIVER_INVALID_CALL, "column `%s`: %s", S.input.children[i]->name, ae.message);
    }
  }
  return 0;
}

static plugin_list_u8_t take_buffer(struct ArrowBuffer* buffer) {
  plugin_list_u8_t list = {buffer->data, (size_t)buffer->size_bytes};
  if (!buffer->size_bytes) {
    ArrowBufferReset(buffer);
    list.ptr = NULL;
  }
  buffer->data = NULL;
  buffer->size_bytes = buffer->capacity_bytes = 0;
  return list;
}

/* The wire form of `output`: owned arrays give their buffers up, passed columns move the input lists. */
static int to_wire(QuiverOutput* output, const WireColumn* wire, const exports_quiver_transform_transform_list_field_node_t* in_nodes,
                   plugin_list_list_u8_t* in_buffers, WireOutput* ret, QuiverError* e) {
  int64_t n = output->schema->n_children;
  int64_t rows = -1;
  size_t buffer_total = 0;
  bool* moved = calloc(S.columns ? S.columns : 1, sizeof(bool));
  for (int64_t i = 0; i < n; i++) {
    QuiverColumn* c = &output->columns[i];
    if (c->pass >= 0 && (!wire || moved[c->pass])) {
      /* No wire buffers to move (IPC input), or moved already: copy. */
      if (quiver_take(S.input.children[c->pass], &S.views[c->pass], NULL, &c->array, e)) {
        free(moved);
        return -1;
      }
      c->pass = -1;
    } else if (c->pass >= 0) {
      moved[c->pass] = true;
    }
    if (c->pass < 0 && !c->array.release) {
      free(moved);
      return quiver_fail(e, QUIVER_FAILED, "output column `%s` was never set", output->schema->children[i]->name);
    }
    int64_t length = c->pass >= 0 ? (int64_t)in_nodes->ptr[c->pass].length : c->array.length;
    if (rows >= 0 && length != rows) {
      free(moved);
      return quiver_fail(e, QUIVER_FAILED, "output column `%s` has %lld rows, the ones before it %lld",
                         output->schema->children[i]->name, (long long)length, (long long)rows);
    }
    rows = length;
    buffer_total += c->pass >= 0 ? wire[c->pass].buffer_count : (size_t)c->array.n_buffers;
  }
  free(moved);
  if (rows < 0) rows = output->num_rows;
  ret->batch.num_rows = (uint64_t)rows;
  ret->batch.nodes.len = (size_t)n;
  ret->batch.nodes.ptr = calloc(n ? n : 1, sizeof(quiver_transform_types_field_node_t));
  ret->batch.buffers.len = buffer_total;
  ret->batch.buffers.ptr = calloc(buffer_total ? buffer_total : 1, sizeof(plugin_list_u8_t));
  size_t next = 0;
  for (int64_t i = 0; i < n; i++) {
    QuiverColumn* c = &output->columns[i];
    if (c->pass >= 0) {
      const WireColumn* w = &wire[c->pass];
      ret->batch.nodes.ptr[i] = in_nodes->ptr[c->pass];
      for (size_t b = 0; b < w->buffer_count; b++) {
        ret->batch.buffers.ptr[next++] = in_buffers->ptr[w->first_buffer + b];
        in_buffers->ptr[w->first_buffer + b] = (plugin_list_u8_t){NULL, 0};
      }
      continue;
    }
    struct ArrowArray* a = &c->array;
    ret->batch.nodes.ptr[i] = (quiver_transform_types_field_node_t){
        (uint64_t)a->length, (uint64_t)a->null_count, (uint64_t)a->offset, (uint64_t)a->offset,
        (uint32_t)a->n_buffers};
    for (int64_t b = 0; b < a->n_buffers; b++) {
      struct ArrowBuffer* buffer = b == 0 ? &ArrowArrayValidityBitmap(a)->buffer : ArrowArrayBuffer(a, b);
      if (b == 0 && a->null_count == 0) {
        ret->batch.buffers.ptr[next++] = (plugin_list_u8_t){NULL, 0};
      } else {
        ret->batch.buffers.ptr[next++] = take_buffer(buffer);
      }
    }
  }
  ret->rejections.len = output->rejection_count;
  ret->rejections.ptr = calloc(output->rejection_count ? output->rejection_count : 1,
                               sizeof(quiver_transform_types_rejection_t));
  for (size_t r = 0; r < output->rejection_count; r++) {
    ret->rejections.ptr[r].row = output->rejections[r].row;
    dup(&ret->rejections.ptr[r].reason, output->rejections[r].reason);
  }
  ret->origin.is_some = output->has_origin;
  if (output->has_origin) {
    ret->origin.val.ptr = output->origin;
    ret->origin.val.len = (size_t)output->origin_count;
    output->origin = NULL;
  }
  return 0;
}

bool exports_quiver_transform_transform_process(uint64_t num_rows,
                                                exports_quiver_transform_transform_list_field_node_t* nodes,
                                                plugin_list_list_u8_t* buffers, WireOutput* ret, WireError* err) {
  QuiverError e = {0};
  WireColumn* wire = calloc(S.columns ? S.columns : 1, sizeof(WireColumn));
  QuiverOutput output = {0};
  int status = !S.bound ? quiver_fail(&e, QUIVER_INVALID_CALL, "process called before bind")
                        : view_wire(nodes, buffers, wire, &e);
  if (!status) {
    QuiverBatch batch = {(int64_t)num_rows, S.columns, &S.input, S.view_ptrs};
    quiver_output_init(&output, &S.output, (int64_t)num_rows);
    status = quiver_transform_process(S.t, S.state, &batch, &output, &e);
    if (!status) status = to_wire(&output, wire, nodes, buffers, ret, &e);
    quiver_output_free(&output);
  }
  for (int64_t i = 0; i < S.columns; i++) free(wire[i].realigned);
  free(wire);
  exports_quiver_transform_transform_list_field_node_free(nodes);
  plugin_list_list_u8_free(buffers);
  return status ? fail(err, &e) : true;
}

bool exports_quiver_transform_transform_process_ipc(plugin_list_u8_t* ipc, WireOutput* ret, WireError* err) {
  QuiverError e = {0};
  if (!S.bound) {
    plugin_list_u8_free(ipc);
    return fail_with(err, QUIVER_INVALID_CALL, "process-ipc called before bind");
  }
  struct ArrowArrayStream stream;
  if (read_stream(ipc, &stream, &e)) return fail(err, &e);
  int status = 0;
  struct ArrowArray array = {0};
  struct ArrowArray extra = {0};
  struct ArrowError ae;
  if (stream.get_next(&stream, &array) != NANOARROW_OK || !array.release) {
    status = quiver_fail(&e, QUIVER_INVALID_CALL, "process-ipc got a stream without a record batch");
  } else if (stream.get_next(&stream, &extra) == NANOARROW_OK && extra.release) {
    status = quiver_fail(&e, QUIVER_INVALID_CALL, "process-ipc takes one record batch per stream in the C SDK");
    extra.release(&extra);
  }
  for (int64_t i = 0; !status && i < S.columns; i++) {
    if (i >= array.n_children || ArrowArrayViewSetArray(&S.views[i], array.children[i], &ae) != NANOARROW_OK) {
      status = quiver_fail(&e, QUIVER_INVALID_CALL, "process-ipc: column %lld does not match the bound schema",
                           (long long)i);
    }
  }
  if (!status) {
    QuiverOutput output;
    QuiverBatch batch = {array.length, S.columns, &S.input, S.view_ptrs};
    quiver_output_init(&output, &S.output, array.length);
    status = quiver_transform_process(S.t, S.state, &batch, &output, &e);
    if (!status) status = to_wire(&output, NULL, NULL, NULL, ret, &e);
    quiver_output_free(&output);
  }
  if (array.release) array.release(&array);
  stream.release(&stream);
  return status ? fail(err, &e) : true;
}

bool exports_quiver_transform_transform_finish(exports_quiver_transform_transform_option_output_t* ret,
                                               WireError* err) {
  ret->is_some = false;
  if (!S.bound || S.t->scalar || !S.t->finish) return true;
  QuiverError e = {0};
  QuiverOutput output;
  quiver_output_init(&output, &S.output, 0);
  bool emitted = false;
  int status = S.t->finish(S.state, &output, &emitted, &e);
  if (!status && emitted) {
    status = to_wire(&output, NULL, NULL, NULL, &ret->val, &e);
    ret->is_some = status == 0;
  }
  quiver_output_free(&output);
  return status ? fail(err, &e) : true;
}
