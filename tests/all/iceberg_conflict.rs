//! A commit that conflicts past its retries: every attempt to create the
//! table's next metadata version loses, as it does when other writers keep
//! committing first. The S3 server sits behind a proxy that answers each
//! conditional create of a `*.metadata.json` with S3's `412 Precondition
//! Failed`, so that the losing is certain instead of left to timing.

use quiver_tests::s3::{Fault, FaultProxy};
use quiver_tests::{clicks, describe, write_parquet, write_pipeline};

use crate::enrich::{Row, check_enriched, rows};
use crate::iceberg::{enrich_into_table, read_table, snapshots};
use crate::object_store::quiver_s3;

#[test]
fn a_commit_conflicting_past_its_retries_fails_and_leaves_the_table_at_its_snapshot() {
    let s3 = quiver_tests::s3::server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = format!("s3://{bucket}/wh/web/clicks");
    let retries = r#"properties = { "commit.retry.num-retries" = "2", "commit.retry.min-wait-ms" = "20" }"#;
    let pipeline = write_pipeline(d, &enrich_into_table(&format!("s3://{bucket}/wh"), retries));
    let first = clicks(0, 1_500);
    write_parquet(&d.join("in/part.parquet"), &first);
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let data = format!("{bucket}/wh/web/clicks/data");
    let files_before = s3.listing(&data).len();

    let proxy = FaultProxy::losing_creates(s3.port(), ".metadata.json");
    std::fs::remove_dir_all(d.join("in")).unwrap();
    write_parquet(&d.join("in/part.parquet"), &clicks(1_500, 2_000));
    let endpoint = proxy.endpoint();
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[("AWS_ENDPOINT_URL", &endpoint)]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web.clicks") && stderr.contains("conflicted with other writers past its retries"),
        "{stderr}"
    );
    let lost = proxy.faults().get(&Fault::LostCreate).copied().unwrap_or(0);
    assert_eq!(lost, 3, "the first attempt and two retries: {:?}", proxy.faults());

    // The table is at its first snapshot, and the failed commit's data files are gone.
    let read = read_table(&table, "event_id", Some(s3));
    let input: Vec<Row> = rows(&first);
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&read.rows, &kept);
    assert_eq!(snapshots(&read.info).len(), 1);
    assert_eq!(s3.listing(&data).len(), files_before, "no data file of the failed commit stays");

    // What the attempts left in metadata/ no snapshot reads: compact lists it, and expiry deletes it.
    let out = quiver_s3(s3, d, &["compact", &table], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let orphans: Vec<&str> = said.lines().filter(|l| l.starts_with("orphan")).collect();
    assert!(!orphans.is_empty(), "{said}");
    assert!(orphans.iter().all(|l| l.contains("/web/clicks/metadata/") && l.ends_with(".avro")), "{said}");
    let out = quiver_s3(s3, d, &["compact", &table, "--expire-older-than", "0s"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = quiver_s3(s3, d, &["compact", &table], &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("orphan"), "{said}");
    let again = read_table(&table, "event_id", Some(s3));
    check_enriched(&again.rows, &kept);
}
