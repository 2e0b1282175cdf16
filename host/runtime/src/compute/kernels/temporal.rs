//! Temporal kernels: the parts of dates and times are arrow-arith's
//! `date_part` (in the column's time zone, as pyarrow's); arrow-rs has no
//! truncation, so `floor_temporal` floors the instants here, in UTC.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::kernels::temporal::{DatePart, date_part};
use arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
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
    date_part(args.column(0)?, part).map_err(arrow_error)
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
        && !matches!(tz.as_ref(), "UTC" | "+00:00" | "Z" | "Etc/UTC")
    {
        return Err(format!("`{}` floors in UTC; cast the column to a UTC timestamp first (it is in {tz})", args.name));
    }
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let step = seconds * per_second;
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
