//! Temporal kernels: the parts of dates and times are arrow-arith's
//! `date_part` (in the column's time zone, as pyarrow's); arrow-rs has no
//! truncation, so `floor_temporal` floors the instants here, in UTC.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::temporal::{DatePart, date_part};
use arrow::datatypes::{
    DataType, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use super::{Args, KernelResult, arrow_error};

/// `year`, `month`, `day`, `hour` and the other parts, as int32.
pub(super) fn part(name: &str, args: &Args) -> KernelResult {
    args.count(1)?;
    let part = match name {
        "year" => DatePart::Year,
        "quarter" => DatePart::Quarter,
        "month" => DatePart::Month,
        "day" => DatePart::Day,
        // pyarrow's day_of_week counts from Monday = 0, as arrow's.
        "day_of_week" => DatePart::DayOfWeekMonday0,
        "day_of_year" => DatePart::DayOfYear,
        "hour" => DatePart::Hour,
        "minute" => DatePart::Minute,
        "second" => DatePart::Second,
        "millisecond" => DatePart::Millisecond,
        "microsecond" => DatePart::Microsecond,
        "nanosecond" => DatePart::Nanosecond,
        _ => unreachable!("dispatched by name"),
    };
    let column = args.column(0)?;
    if let Some(found) = time_of_day_in_utc(part, column)? {
        return Ok(found);
    }
    let found = date_part(column, part).map_err(arrow_error)?;
    Ok(match part {
        // arrow-rs counts them within the second; pyarrow, within the
        // millisecond and the microsecond.
        DatePart::Microsecond | DatePart::Nanosecond => {
            Arc::new(found.as_primitive::<Int32Type>().unary::<_, Int32Type>(|v| v % 1_000))
        }
        _ => found,
    })
}

/// Whether a timestamp's zone is UTC by one of its names.
pub(super) fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "+00:00" | "Z" | "Etc/UTC")
}

/// The hour, minute or second of timestamps in UTC or without a zone, by
/// arithmetic on the instants: what `date_part` gives, without converting
/// each value through chrono (and a zone lookup), which costs ten times more.
fn time_of_day_in_utc(part: DatePart, column: &ArrayRef) -> Result<Option<ArrayRef>, String> {
    let DataType::Timestamp(unit, tz) = column.data_type() else { return Ok(None) };
    if tz.as_deref().is_some_and(|tz| !is_utc(tz)) {
        return Ok(None);
    }
    let (seconds, modulo) = match part {
        DatePart::Hour => (3_600, 24),
        DatePart::Minute => (60, 60),
        DatePart::Second => (1, 60),
        _ => return Ok(None),
    };
    let step = seconds * per_second(unit);
    // A timestamp is an i64 of its unit: the same buffer, read as one.
    let instants = arrow::compute::cast(column, &DataType::Int64).map_err(arrow_error)?;
    let parts =
        instants.as_primitive::<Int64Type>().unary::<_, Int32Type>(|v| v.div_euclid(step).rem_euclid(modulo) as i32);
    Ok(Some(Arc::new(parts)))
}

/// Units of `unit` in a second.
fn per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Floors each timestamp to a whole `second`, `minute`, `hour` or `day`
/// (UTC days), keeping its type.
pub(super) fn floor(args: &Args) -> KernelResult {
    args.count(2)?;
    let column = args.column(0)?;
    let seconds: i64 = match args.text(1)? {
        "second" => 1,
        "minute" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        other => return Err(format!("`{}` floors to second, minute, hour or day, not `{other}`", args.name)),
    };
    let DataType::Timestamp(unit, tz) = column.data_type() else {
        return Err(format!("`{}` takes a timestamp column, not {}", args.name, column.data_type()));
    };
    if let Some(tz) = tz
        && !is_utc(tz)
    {
        return Err(format!("`{}` floors in UTC; cast the column to a UTC timestamp first (it is in {tz})", args.name));
    }
    let step = seconds * per_second(unit);
    let floor = |v: i64| v - v.rem_euclid(step);
    let tz = tz.clone();
    Ok(match unit {
        TimeUnit::Second => Arc::new(
            column.as_primitive::<TimestampSecondType>().unary::<_, TimestampSecondType>(floor).with_timezone_opt(tz),
        ),
        TimeUnit::Millisecond => Arc::new(
            column
                .as_primitive::<TimestampMillisecondType>()
                .unary::<_, TimestampMillisecondType>(floor)
                .with_timezone_opt(tz),
        ),
        TimeUnit::Microsecond => Arc::new(
            column
                .as_primitive::<TimestampMicrosecondType>()
                .unary::<_, TimestampMicrosecondType>(floor)
                .with_timezone_opt(tz),
        ),
        TimeUnit::Nanosecond => Arc::new(
            column
                .as_primitive::<TimestampNanosecondType>()
                .unary::<_, TimestampNanosecondType>(floor)
                .with_timezone_opt(tz),
        ),
    })
}
