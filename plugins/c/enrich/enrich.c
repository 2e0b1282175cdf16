/*
 * `enrich`: clickstream enrichment, with exactly the semantics of the Rust plugin.
 *
 * Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
 * `duration_ms` int32, `country` utf8 (other columns are dropped). Rows with
 * `duration_ms < 0` are refused with reason `negative duration_ms`. Output:
 * `event_id`, `user_id`, `domain` (after the first `://`, up to the first
 * `/`, `?` or `#`), `path_depth` (non-empty `/` segments of the path, which
 * runs from the end of the host to the first `?` or `#`), `hour` (UTC hour
 * of `ts`), `country`. A null `url`, or one without `://`, gives null
 * `domain` and `path_depth`.
 */
#include <stdlib.h>
#include <string.h>

#include "quiver.h"

enum { EVENT_ID, USER_ID, TS, URL, DURATION, COUNTRY, INPUTS };
static const char* const NAMES[INPUTS] = {"event_id", "user_id", "ts", "url", "duration_ms", "country"};
static const enum ArrowType TYPES[INPUTS] = {NANOARROW_TYPE_INT64,  NANOARROW_TYPE_INT64, NANOARROW_TYPE_TIMESTAMP,
                                             NANOARROW_TYPE_STRING, NANOARROW_TYPE_INT32, NANOARROW_TYPE_STRING};

typedef struct Enrich {
  int64_t columns[INPUTS];
} Enrich;

/* Splits `url` into its domain and path depth; false when it has no `://`. */
static bool split_url(struct ArrowStringView url, struct ArrowStringView* domain, int32_t* depth) {
  const char* s = url.data;
  int64_t n = url.size_bytes;
  int64_t start = -1;
  for (int64_t i = 0; i + 2 < n; i++) {
    if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
      start = i + 3;
      break;
    }
  }
  if (start < 0) return false;
  int64_t host_end = start;
  while (host_end < n && s[host_end] != '/' && s[host_end] != '?' && s[host_end] != '#') host_end++;
  int64_t path_end = host_end;
  while (path_end < n && s[path_end] != '?' && s[path_end] != '#') path_end++;
  int32_t segments = 0;
  for (int64_t i = host_end; i < path_end; i++) {
    if (s[i] != '/' && (i == host_end || s[i - 1] == '/')) segments++;
  }
  domain->data = s + start;
  domain->size_bytes = host_end - start;
  *depth = segments;
  return true;
}

/* UTC hour of a millisecond timestamp, before 1970 too. */
static int32_t utc_hour(int64_t ts) {
  int64_t hours = ts / 3600000 - (ts % 3600000 < 0 ? 1 : 0);
  int64_t hour = hours % 24;
  return (int32_t)(hour < 0 ? hour + 24 : hour);
}

static void* enrich_open(const QuiverConfig* config, QuiverError* error) {
  (void)config;
  (void)error;
  return calloc(1, sizeof(Enrich));
}

static int enrich_bind(void* state, const struct ArrowSchema* input, struct ArrowSchema* output, QuiverError* error) {
  Enrich* e = state;
  for (int i = 0; i < INPUTS; i++) {
    int64_t at = quiver_column_index(input, NAMES[i]);
    if (at < 0) {
      return quiver_fail(error, QUIVER_SCHEMA_MISMATCH, "enrich needs input column `%s` (%s), which is missing",
                         NAMES[i], ArrowTypeString(TYPES[i]));
    }
    struct ArrowSchemaView view;
    struct ArrowError ae;
    // Any time zone: the values are UTC instants either way.
    bool same = ArrowSchemaViewInit(&view, input->children[at], &ae) == NANOARROW_OK && view.type == TYPES[i] &&
                (i != TS || view.time_unit == NANOARROW_TIME_UNIT_MILLI);
    if (!same) {
      return quiver_fail(error, QUIVER_SCHEMA_MISMATCH, "enrich needs input column `%s` to be %s, it is `%s`",
                         NAMES[i], i == TS ? "timestamp(ms)" : ArrowTypeString(TYPES[i]), input->children[at]->format);
    }
    e->columns[i] = at;
  }
  ArrowSchemaInitFromType(output, NANOARROW_TYPE_STRUCT);
  ArrowSchemaAllocateChildren(output, 6);
  ArrowSchemaDeepCopy(input->children[e->columns[EVENT_ID]], output->children[0]);
  ArrowSchemaDeepCopy(input->children[e->columns[USER_ID]], output->children[1]);
  ArrowSchemaInitFromType(output->children[2], NANOARROW_TYPE_STRING);
  ArrowSchemaSetName(output->children[2], "domain");
  ArrowSchemaInitFromType(output->children[3], NANOARROW_TYPE_INT32);
  ArrowSchemaSetName(output->children[3], "path_depth");
  ArrowSchemaInitFromType(output->children[4], NANOARROW_TYPE_INT32);
  ArrowSchemaSetName(output->children[4], "hour");
  ArrowSchemaDeepCopy(input->children[e->columns[COUNTRY]], output->children[5]);
  return 0;
}

static int enrich_process(void* state, const QuiverBatch* batch, QuiverOutput* output, QuiverError* error) {
  Enrich* e = state;
  const struct ArrowArrayView* ts = batch->columns[e->columns[TS]];
  const struct ArrowArrayView* url = batch->columns[e->columns[URL]];
  const struct ArrowArrayView* duration = batch->columns[e->columns[DURATION]];
  int64_t rows = batch->num_rows;

  uint8_t* keep = NULL;
  for (int64_t row = 0; row < rows; row++) {
    if (!ArrowArrayViewIsNull(duration, row) && ArrowArrayViewGetIntUnsafe(duration, row) < 0) {
      quiver_output_reject(output, row, "negative duration_ms");
      if (!keep) {
        keep = malloc(rows);
        memset(keep, 1, rows);
      }
      keep[row] = 0;
    }
  }
  struct ArrowArray domain, depth, hour;
  if (quiver_output_start(output, 2, &domain, error) || quiver_output_start(output, 3, &depth, error) ||
      quiver_output_start(output, 4, &hour, error)) {
    free(keep);
    return -1;
  }
  ArrowArrayReserve(&depth, rows);
  ArrowArrayReserve(&hour, rows);
  int status = 0;
  for (int64_t row = 0; row < rows && !status; row++) {
    if (keep && !keep[row]) continue;
    struct ArrowStringView d;
    int32_t n;
    if (!ArrowArrayViewIsNull(url, row) && split_url(ArrowArrayViewGetStringUnsafe(url, row), &d, &n)) {
      status |= ArrowArrayAppendString(&domain, d) | ArrowArrayAppendInt(&depth, n);
    } else {
      status |= ArrowArrayAppendNull(&domain, 1) | ArrowArrayAppendNull(&depth, 1);
    }
    status |= ArrowArrayViewIsNull(ts, row) ? ArrowArrayAppendNull(&hour, 1)
                                            : ArrowArrayAppendInt(&hour, utc_hour(ArrowArrayViewGetIntUnsafe(ts, row)));
  }
  struct ArrowError ae;
  if (status || ArrowArrayFinishBuildingDefault(&domain, &ae) || ArrowArrayFinishBuildingDefault(&depth, &ae) ||
      ArrowArrayFinishBuildingDefault(&hour, &ae)) {
    domain.release(&domain);
    depth.release(&depth);
    hour.release(&hour);
    free(keep);
    return quiver_fail(error, QUIVER_FAILED, "enrich cannot build its output");
  }
  quiver_output_set(output, 2, &domain, error);
  quiver_output_set(output, 3, &depth, error);
  quiver_output_set(output, 4, &hour, error);
  status = quiver_output_pass(output, 0, batch, e->columns[EVENT_ID], keep, error) ||
           quiver_output_pass(output, 1, batch, e->columns[USER_ID], keep, error) ||
           quiver_output_pass(output, 5, batch, e->columns[COUNTRY], keep, error);
  free(keep);
  return status ? -1 : 0;
}

static const QuiverTransform TRANSFORMS[] = {
    {.name = "enrich",
     .kind = QUIVER_MAP,
     .description = "Adds domain, path_depth and hour; refuses negative durations",
     .open = enrich_open,
     .close = free,
     .bind = enrich_bind,
     .process = enrich_process},
};
static const QuiverPlugin PLUGIN = {"enrich", "0.1.0", "Clickstream enrichment: domain, path depth and hour of each event",
                                    TRANSFORMS, 1};

const QuiverPlugin* quiver_plugin(void) { return &PLUGIN; }
