/**
 * The Arrow types Quiver's JavaScript SDK reads and writes, as Arrow JS
 * `DataType`s, and `nullable(t)` to mark a scalar parameter that sees nulls.
 */
import * as arrow from 'apache-arrow';

export const int8 = new arrow.Int8();
export const int16 = new arrow.Int16();
export const int32 = new arrow.Int32();
export const int64 = new arrow.Int64();
export const uint8 = new arrow.Uint8();
export const uint16 = new arrow.Uint16();
export const uint32 = new arrow.Uint32();
export const uint64 = new arrow.Uint64();
export const float32 = new arrow.Float32();
export const float64 = new arrow.Float64();
export const bool = new arrow.Bool();
export const utf8 = new arrow.Utf8();
export const largeUtf8 = new arrow.LargeUtf8();
export const binary = new arrow.Binary();
export const largeBinary = new arrow.LargeBinary();
export const date32 = new arrow.DateDay();
export const date64 = new arrow.DateMillisecond();

const UNITS = {
  s: arrow.TimeUnit.SECOND,
  ms: arrow.TimeUnit.MILLISECOND,
  us: arrow.TimeUnit.MICROSECOND,
  ns: arrow.TimeUnit.NANOSECOND,
};

/** A timestamp type: `unit` is `s`, `ms`, `us` or `ns`; `timezone` optional. */
export function timestamp(unit, timezone = null) {
  if (!(unit in UNITS)) throw new TypeError(`timestamp unit must be one of s, ms, us, ns, not ${unit}`);
  return new arrow.Timestamp(UNITS[unit], timezone);
}

/** Marks a scalar parameter that is called with `null` instead of skipping the row. */
export function nullable(type) {
  return { nullable: true, type };
}

/** Whether the SDK can carry columns of `type` (dictionaries: of what it can carry). */
export function isSupported(type) {
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int:
    case T.Float:
      return type.typeId !== T.Float || type.precision !== arrow.Precision.HALF;
    case T.Bool:
    case T.Utf8:
    case T.LargeUtf8:
    case T.Binary:
    case T.LargeBinary:
    case T.Date:
    case T.Timestamp:
      return true;
    case T.Dictionary:
      return isSupported(type.dictionary) && !type.isOrdered;
    default:
      return false;
  }
}

/** Whether two types are the same Arrow type (time zones included). */
export function sameType(a, b) {
  return arrow.util.compareTypes(a, b);
}
