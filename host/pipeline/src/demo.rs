//! The demo data set: a deterministic clickstream with realistic URLs
//! (unicode hosts and paths among them), nulls, some negative durations
//! and a few rows for the validation rules to catch.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The clickstream schema `enrich` expects.
pub fn clickstream_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("url", DataType::Utf8, true),
        Field::new("referrer", DataType::Utf8, true),
        Field::new("duration_ms", DataType::Int32, false),
        Field::new("country", DataType::Utf8, false),
    ]))
}

const DOMAINS: &[&str] = &[
    "shop.example.com",
    "www.example.org",
    "news.example.net",
    "bücher.example.de",
    "例え.example.jp",
    "api.example.io:8443",
    "m.example.com",
    "blog.example.co.uk",
];
const WORDS: &[&str] = &[
    "products",
    "cart",
    "checkout",
    "search",
    "articles",
    "2024",
    "straße",
    "über-uns",
    "help",
    "p",
    "item",
    "données",
];
const COUNTRIES: &[&str] = &["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "ES", "IT", "NL", "SE"];

/// Countries the demo's validation accepts.
pub fn demo_countries() -> String {
    COUNTRIES.join("|")
}

/// 2024-01-01T00:00:00Z in milliseconds.
const START_MS: i64 = 1_704_067_200_000;

/// Generates rows `first..first + rows` of the data set; the same range
/// always gives the same rows.
pub fn clickstream(first: u64, rows: usize) -> RecordBatch {
    let mut event_id = Int64Builder::with_capacity(rows);
    let mut user_id = Int64Builder::with_capacity(rows);
    let mut ts = TimestampMillisecondBuilder::with_capacity(rows);
    let mut url = StringBuilder::with_capacity(rows, rows * 48);
    let mut referrer = StringBuilder::with_capacity(rows, rows * 24);
    let mut duration = Int32Builder::with_capacity(rows);
    let mut country = StringBuilder::with_capacity(rows, rows * 2);
    let mut path = String::new();
    for i in first..first + rows as u64 {
        let mut rng = fastrand::Rng::with_seed(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
        event_id.append_value(i as i64);
        // A few heavy users, a long tail.
        let user = if rng.u8(..) < 40 { rng.i64(1..100) } else { rng.i64(100..200_000) };
        user_id.append_value(user);
        ts.append_value(START_MS + i as i64 * 250 + rng.i64(0..250));
        match rng.u16(..1000) {
            0..=9 => url.append_null(),
            10..=14 => url.append_value(format!("mailto:user{}@example.com", rng.u32(..1000))),
            _ => {
                path.clear();
                let scheme = if rng.u8(..10) < 8 { "https" } else { "http" };
                path.push_str(scheme);
                path.push_str("://");
                path.push_str(DOMAINS[rng.usize(..DOMAINS.len())]);
                for _ in 0..rng.usize(0..5) {
                    path.push('/');
                    path.push_str(WORDS[rng.usize(..WORDS.len())]);
                }
                if rng.bool() {
                    path.push('/');
                }
                if rng.u8(..4) == 0 {
                    path.push_str(&format!("?q={}&page={}", WORDS[rng.usize(..WORDS.len())], rng.u8(1..9)));
                }
                if rng.u8(..10) == 0 {
                    path.push_str("#reviews/top");
                }
                url.append_value(&path);
            }
        }
        if rng.u8(..10) < 3 {
            referrer.append_null();
        } else {
            referrer.append_value(format!("https://{}/", DOMAINS[rng.usize(..DOMAINS.len())]));
        }
        duration.append_value(match rng.u16(..1000) {
            0..=9 => -rng.i32(1..5_000),
            10..=11 => rng.i32(90_000_000..100_000_000),
            _ => rng.i32(5..120_000),
        });
        country.append_value(if rng.u16(..1000) < 3 { "??" } else { COUNTRIES[rng.usize(..COUNTRIES.len())] });
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(user_id.finish()),
        Arc::new(ts.finish()),
        Arc::new(url.finish()),
        Arc::new(referrer.finish()),
        Arc::new(duration.finish()),
        Arc::new(country.finish()),
    ];
    RecordBatch::try_new(clickstream_schema(), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_range_gives_the_same_rows() {
        assert_eq!(clickstream(1000, 50), clickstream(1000, 50));
        assert_eq!(clickstream(0, 100).slice(40, 10), clickstream(40, 10));
        assert_ne!(clickstream(0, 10), clickstream(10, 10));
    }
}
