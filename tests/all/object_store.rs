//! Object storage through `quiver run`, on a real S3-compatible server
//! (s3s-fs on loopback) with pyarrow as the independent client: pyarrow
//! writes what Quiver reads and reads what Quiver wrote, and every row is
//! checked against the computation in `enrich.rs`. Credentials come only
//! from the standard AWS variables, and never show in any output. The
//! sidecar serves and watches plugins in a bucket.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use quiver_tests::s3::{Fault, FaultProxy, S3Server, SECRET_KEY, server};
use quiver_tests::{
    CLICKSTREAM_SCHEMA, Sidecar, clicks, data_files, describe, plugins, quiver_command, read_parquet_dir, wait_until,
    write_parquet, write_pipeline,
};

use crate::enrich::{Row, check_enriched, rows};

/// `quiver ARGS` in `dir` with the server's AWS variables, and `extra` over them.
pub(crate) fn quiver_s3(s3: &S3Server, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = quiver_command(dir, args);
    for (key, value) in s3.env() {
        command.env(key, value);
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    let out = command.output().expect("running quiver");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains(SECRET_KEY), "the secret key shows in the output:\n{}", describe(&out));
    out
}

fn enrich_pipeline(source: &str, sink: &str) -> String {
    format!(
        "{source}\n[[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n\n{sink}",
        plugins::ENRICH.replace('\\', "/")
    )
}

/// The manifest of a downloaded output directory, checked against its files.
pub(crate) fn check_manifest(local: &Path, listing: &std::collections::BTreeMap<String, u64>, prefix: &str) -> u64 {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local.join("_SUCCESS")).expect("_SUCCESS is there")).unwrap();
    assert_eq!(manifest["version"], 1);
    let files = manifest["files"].as_array().unwrap();
    let data: Vec<(&String, &u64)> =
        listing.iter().filter(|(k, _)| !k.ends_with("/_SUCCESS") && !k.contains("/_quiver/")).collect();
    assert_eq!(files.len(), data.len(), "the manifest lists every data file: {manifest:#}\n{listing:?}");
    for (file, (key, size)) in files.iter().zip(&data) {
        assert_eq!(format!("{prefix}{}", file["path"].as_str().unwrap()), **key);
        assert_eq!(file["bytes"].as_u64().unwrap(), **size, "{key}: the manifest's size is the object's");
    }
    let rows: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert_eq!(manifest["rows"].as_u64().unwrap(), rows);
    rows
}

#[test]
fn parquet_from_a_bucket_through_enrich_into_a_bucket_with_a_manifest() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let parts = [clicks(0, 3_001), clicks(3_001, 4_500), clicks(7_501, 999)];
    for (name, part) in ["a", "b", "c"].iter().zip(&parts) {
        write_parquet(&d.join(format!("local/{name}.parquet")), part);
    }
    s3.upload(&d.join("local/a.parquet"), &format!("{bucket}/clicks/2026-01/a.parquet"));
    s3.upload(&d.join("local/b.parquet"), &format!("{bucket}/clicks/2026-02/b.parquet"));
    // Outside the glob, and a marker inside it: neither is read.
    s3.upload(&d.join("local/c.parquet"), &format!("{bucket}/clicks/2025-12/c.parquet"));
    s3.python_ok(&format!("s3.open_output_stream('{bucket}/clicks/2026-01/_SUCCESS').close()"));

    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            &format!(
                "[source]\nformat = \"parquet\"\npath = \"s3://{bucket}/clicks/2026-*/*.parquet\"\nbatch_rows = 777\n"
            ),
            &format!(
                "[sink]\nformat = \"parquet\"\npath = \"s3://{bucket}/out/enriched/\"\ntarget_file_bytes = 8000\nrow_group_rows = 1000\n\n\
                 [dead_letter]\nformat = \"parquet\"\npath = \"s3://{bucket}/out/dead/\"\n"
            ),
        ),
    );
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}\n--- server\n{}", describe(&out), s3.log());

    let listing = s3.listing(&format!("{bucket}/out"));
    assert!(!listing.keys().any(|k| k.contains("/_quiver/")), "no upload is left open: {listing:?}");
    s3.download(&format!("{bucket}/out"), &d.join("got"));
    let input: Vec<Row> = parts[..2].iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    let enriched_listing = s3.listing(&format!("{bucket}/out/enriched"));
    assert!(enriched_listing.len() > 3, "target_file_bytes rolls files: {enriched_listing:?}");
    let manifest_rows = check_manifest(&d.join("got/enriched"), &enriched_listing, &format!("{bucket}/out/enriched/"));
    assert_eq!(manifest_rows, kept.len() as u64);
    check_enriched(&read_parquet_dir(&d.join("got/enriched")), &kept);

    let dead = read_parquet_dir(&d.join("got/dead/enrich"));
    let refused: Vec<&Row> = input.iter().filter(|r| r.duration < 0).collect();
    assert_eq!(dead.num_rows(), refused.len());
    let source = dead.column_by_name("quiver_source").unwrap().as_string::<i32>();
    let event = dead.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
    for (i, row) in refused.iter().enumerate() {
        let file = if row.event_id < 3_001 { "2026-01/a.parquet" } else { "2026-02/b.parquet" };
        assert_eq!(source.value(i), format!("s3://{bucket}/clicks/{file}"));
        assert_eq!(event.value(i), row.event_id);
    }

    // A second run into the same prefix is refused: mode = "error" by default.
    let again = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains(&format!("s3://{bucket}/out/enriched")) && stderr.contains("mode"), "{stderr}");
}

/// The enriched output schema, to read JSON Lines back.
fn enriched_schema() -> std::sync::Arc<Schema> {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("domain", DataType::Utf8, true),
        Field::new("path_depth", DataType::Int32, true),
        Field::new("hour", DataType::Int32, true),
        Field::new("country", DataType::Utf8, true),
    ]))
}

fn read_jsonl_dir(dir: &Path) -> arrow::array::RecordBatch {
    let mut batches = Vec::new();
    for file in data_files(dir) {
        let reader = arrow::json::ReaderBuilder::new(enriched_schema())
            .build(std::io::BufReader::new(std::fs::File::open(&file).unwrap()))
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    arrow::compute::concat_batches(&enriched_schema(), &batches).unwrap()
}

/// A CSV of clicks in the bucket, and the pipeline that enriches it into
/// one JSON Lines file of several multipart parts (5 MiB each).
fn csv_to_jsonl(s3: &S3Server, d: &Path, bucket: &str, count: usize) -> (std::path::PathBuf, Vec<Row>) {
    let batch = clicks(0, count);
    std::fs::create_dir_all(d.join("local")).unwrap();
    let mut csv = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::fs::File::create(d.join("local/clicks.csv")).unwrap());
    csv.write(&batch).unwrap();
    drop(csv);
    s3.upload(&d.join("local/clicks.csv"), &format!("{bucket}/in/clicks.csv"));
    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            &format!("[source]\nformat = \"csv\"\npath = \"s3://{bucket}/in/\"\n{CLICKSTREAM_SCHEMA}\n"),
            &format!(
                "[sink]\nformat = \"jsonl\"\npath = \"s3://{bucket}/out/\"\n\n[sink.storage]\npart_bytes = 5242880\nparallel_parts = 2\n\n\
                 [dead_letter]\nformat = \"jsonl\"\npath = \"s3://{bucket}/dead/\"\n"
            ),
        ),
    );
    (pipeline, rows(&batch))
}

#[test]
fn csv_streamed_from_a_bucket_into_a_multipart_jsonl_object() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pipeline, input) = csv_to_jsonl(s3, d, &bucket, 150_000);
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}\n--- server\n{}", describe(&out), s3.log());
    let listing = check_jsonl_output(s3, d, &bucket, &input);
    let (_, size) = listing.iter().find(|(k, _)| k.ends_with(".jsonl")).expect("one JSON Lines file");
    assert!(*size > 2 * 5_242_880, "the object spans three parts at least: {listing:?}");
}

/// Downloads `bucket/out`, checks its manifest and every enriched row of
/// `input` in it; the listing.
fn check_jsonl_output(s3: &S3Server, d: &Path, bucket: &str, input: &[Row]) -> std::collections::BTreeMap<String, u64> {
    let listing = s3.listing(&format!("{bucket}/out"));
    s3.download(&format!("{bucket}/out"), &d.join("got"));
    check_manifest(&d.join("got"), &listing, &format!("{bucket}/out/"));
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&read_jsonl_dir(&d.join("got")), &kept);
    listing
}

#[test]
fn a_run_killed_mid_upload_leaves_nothing_visible_and_gc_aborts_its_uploads() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pipeline, input) = csv_to_jsonl(s3, d, &bucket, 400_000);
    let mut command = quiver_command(d, &["run", pipeline.to_str().unwrap()]);
    command.envs(s3.env());
    let mut run = command.spawn().unwrap();
    // Wait (in one Python process) until a multipart upload is open, then kill -9.
    s3.python_ok(&format!(
        "import time\nstart = time.time()\n\
         while not [k for k in listing('{bucket}/out') if '/_quiver/uploads/' in k]:\n    \
             assert time.time() - start < 120, 'no upload opened within 120 s'\n    time.sleep(0.02)"
    ));
    assert!(run.try_wait().unwrap().is_none(), "the run ended before it could be killed mid-upload");
    run.kill().unwrap();
    run.wait().unwrap();

    let left = s3.listing(&format!("{bucket}/out"));
    assert!(
        left.keys().all(|k| k.contains("/_quiver/uploads/")),
        "a killed run leaves no data file and no _SUCCESS: {left:?}"
    );
    let gc = quiver_s3(s3, d, &["storage", "gc", &format!("s3://{bucket}/out/"), "--older-than", "0s"], &[]);
    assert!(gc.status.success(), "{}", describe(&gc));
    let report = String::from_utf8_lossy(&gc.stdout);
    assert!(report.contains(&format!("aborted upload   s3://{bucket}/out/part-")), "{report}");
    assert!(s3.listing(&format!("{bucket}/out")).is_empty(), "gc removed the markers");

    let rerun = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    assert!(rerun.status.success(), "{}", describe(&rerun));
    check_jsonl_output(s3, d, &bucket, &input);
}

/// Runs a pipeline that reads `source_path` (Parquet) into the bucket, expecting failure; its error output.
fn failing_run(s3: &S3Server, d: &Path, source_path: &str, out_bucket: &str, extra: &[(&str, &str)]) -> String {
    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            &format!("[source]\nformat = \"parquet\"\npath = \"{source_path}\"\n"),
            &format!("[sink]\nformat = \"parquet\"\npath = \"s3://{out_bucket}/out/\"\n"),
        ),
    );
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], extra);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(s3.listing(&format!("{out_bucket}/out")).is_empty(), "a failed run leaves no output");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bucket_that_does_not_exist_is_named() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("no-such-{bucket}");
    let stderr = failing_run(s3, dir.path(), &format!("s3://{missing}/clicks/*.parquet"), &bucket, &[]);
    assert!(stderr.contains(&format!("s3://{missing}/clicks")) && stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn wrong_credentials_are_refused_without_showing_them() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "wr0ng-s3cr3t-for-the-test";
    let stderr = failing_run(
        s3,
        dir.path(),
        &format!("s3://{bucket}/clicks/*.parquet"),
        &bucket,
        &[("AWS_SECRET_ACCESS_KEY", wrong)],
    );
    assert!(stderr.contains(&format!("s3://{bucket}/")) && stderr.contains("credentials were refused"), "{stderr}");
    assert!(!stderr.contains(wrong), "{stderr}");
}

#[test]
fn a_prefix_with_no_matching_objects_is_named() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let stderr = failing_run(s3, dir.path(), &format!("s3://{bucket}/nothing/2026-*/*.parquet"), &bucket, &[]);
    assert!(stderr.contains(&format!("no data files match `s3://{bucket}/nothing/2026-*/*.parquet`")), "{stderr}");
}

#[test]
fn a_truncated_object_is_named() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("whole.parquet"), &clicks(0, 2_000));
    let bytes = std::fs::read(d.join("whole.parquet")).unwrap();
    std::fs::write(d.join("cut.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    s3.upload(&d.join("cut.parquet"), &format!("{bucket}/in/cut.parquet"));
    let stderr = failing_run(s3, d, &format!("s3://{bucket}/in/"), &bucket, &[]);
    assert!(stderr.contains(&format!("s3://{bucket}/in/cut.parquet: not a readable Parquet file")), "{stderr}");
}

#[test]
fn a_run_that_fails_after_partitioned_files_were_rolled_leaves_none_of_them() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The first file is read and written (files rolled in every country's
    // directory, waiting for the end of the run); the second cannot be read.
    write_parquet(&d.join("a.parquet"), &clicks(0, 6_000));
    write_parquet(&d.join("whole.parquet"), &clicks(6_000, 2_000));
    let bytes = std::fs::read(d.join("whole.parquet")).unwrap();
    std::fs::write(d.join("b.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    s3.upload(&d.join("a.parquet"), &format!("{bucket}/in/a.parquet"));
    s3.upload(&d.join("b.parquet"), &format!("{bucket}/in/b.parquet"));
    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            &format!("[source]\nformat = \"parquet\"\npath = \"s3://{bucket}/in/\"\nbatch_rows = 500\n"),
            &format!(
                "[sink]\nformat = \"parquet\"\npath = \"s3://{bucket}/out/\"\npartition_by = [\"country\"]\n\
                 target_file_bytes = 3000\nrow_group_rows = 200\n\n\
                 [dead_letter]\nformat = \"jsonl\"\npath = \"s3://{bucket}/dead/\"\n"
            ),
        ),
    );
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[("QUIVER_LOG", "quiver_pipeline=debug")]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("s3://{bucket}/in/b.parquet")), "{stderr}");
    let uploaded: BTreeSet<&str> = stderr
        .lines()
        .filter(|l| l.contains("file uploaded; visible once committed"))
        .filter_map(|l| l.split(&format!("s3://{bucket}/out/country=")).nth(1)?.split('/').next())
        .collect();
    assert!(uploaded.len() >= 3, "files were finished in several partitions before the failure: {stderr}");
    for prefix in ["out", "dead"] {
        let left = s3.listing(&format!("{bucket}/{prefix}"));
        assert!(left.is_empty(), "a failed run leaves nothing under {prefix}/: {left:?}");
    }
}

#[test]
fn unsupported_schemes_and_read_only_sinks_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            "[source]\nformat = \"parquet\"\npath = \"ftp://files.example/clicks/\"\n",
            "[sink]\nformat = \"parquet\"\npath = \"https://files.example/out/\"\n\n[sink.storage]\npart_bytes = 1000\n",
        ),
    );
    let out = quiver_s3(server(), d, &["validate", pipeline.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "[source] path: `ftp://files.example/clicks/`: unsupported scheme",
        "[sink] path: https://files.example/out: https:// locations are read-only",
        "[sink] storage.part_bytes: must be at least 5242880",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn an_object_deleted_between_the_listing_and_its_read_fails_the_run_naming_it() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pipeline, _) = csv_to_jsonl(s3, d, &bucket, 400_000);
    // A second file, listed with the first, read after it.
    s3.upload(&d.join("local/clicks.csv"), &format!("{bucket}/in/clicks2.csv"));
    let mut command = quiver_command(d, &["run", pipeline.to_str().unwrap()]);
    command.envs(s3.env()).stderr(std::process::Stdio::piped());
    let run = command.spawn().unwrap();
    // Once the first file is flowing (an upload is open), delete the second.
    s3.python_ok(&format!(
        "import time\nstart = time.time()\n\
         while not [k for k in listing('{bucket}/out') if '/_quiver/uploads/' in k]:\n    \
             assert time.time() - start < 120, 'no upload opened within 120 s'\n    time.sleep(0.02)\n\
         s3.delete_file('{bucket}/in/clicks2.csv')"
    ));
    let out = run.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("s3://{bucket}/in/clicks2.csv: the object was deleted after it was listed")),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET_KEY));
    assert!(s3.listing(&format!("{bucket}/out")).is_empty(), "a failed run leaves no output and no open upload");
}

#[test]
fn through_a_faulty_network_a_run_retries_its_way_to_exactly_the_right_output() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let parts = [clicks(0, 6_000), clicks(6_000, 5_000)];
    for (name, part) in ["a", "b"].iter().zip(&parts) {
        write_parquet(&d.join(format!("local/{name}.parquet")), part);
        s3.upload(&d.join(format!("local/{name}.parquet")), &format!("{bucket}/in/{name}.parquet"));
    }
    // Every 7th request fails each way: 500, 503 SlowDown, a cut body, a slow answer.
    let proxy = FaultProxy::start(s3.port(), 7);
    let storage = format!(
        "endpoint = \"{}\"\nallow_http = true\nbackoff_initial_ms = 10\nbackoff_max_ms = 200\n",
        proxy.endpoint()
    );
    let pipeline = write_pipeline(
        d,
        &enrich_pipeline(
            &format!(
                "[source]\nformat = \"parquet\"\npath = \"s3://{bucket}/in/\"\nbatch_rows = 1000\n[source.storage]\n{storage}"
            ),
            &format!(
                "[sink]\nformat = \"parquet\"\npath = \"s3://{bucket}/out/\"\ntarget_file_bytes = 8000\nrow_group_rows = 1000\n\
                 [sink.storage]\n{storage}\n[dead_letter]\nformat = \"parquet\"\npath = \"s3://{bucket}/dead/\"\n\
                 [dead_letter.storage]\n{storage}"
            ),
        ),
    );
    let out = quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
    let faults = proxy.faults();
    eprintln!("faults injected: {faults:?}");
    for fault in [Fault::Status500, Fault::SlowDown, Fault::CutMidBody, Fault::Slow] {
        assert!(faults.get(&fault).copied().unwrap_or(0) > 0, "{fault:?} never happened: {faults:?}");
    }
    let listing = s3.listing(&format!("{bucket}/out"));
    if out.status.success() {
        s3.download(&format!("{bucket}/out"), &d.join("got"));
        let input: Vec<Row> = parts.iter().flat_map(rows).collect();
        let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
        assert_eq!(check_manifest(&d.join("got"), &listing, &format!("{bucket}/out/")), kept.len() as u64);
        check_enriched(&read_parquet_dir(&d.join("got")), &kept);
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("s3://{bucket}/")), "the failure names the object: {stderr}");
        assert!(
            !listing.keys().any(|k| k.ends_with("/_SUCCESS") || k.ends_with(".parquet")),
            "a failed run presents nothing as complete: {listing:?}\n{stderr}"
        );
        panic!("the run failed under faults it should have retried:\n{stderr}");
    }
}

#[test]
fn the_sidecar_serves_and_watches_plugins_in_a_bucket() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = format!("{bucket}/plugins/stamp.wasm");
    s3.upload(Path::new(plugins::STAMP_V1), &key);
    let env = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("s3://{bucket}/plugins/");
    let sidecar = Sidecar::start_with_env(d, &["--plugins", &url, "--watch-interval-ms", "200"], &env);
    sidecar.client("version", &["1"]);

    // A new object under the same name is polled, loaded and deployed.
    s3.upload(Path::new(plugins::STAMP_V2), &key);
    let deployed = |version: &str| {
        sidecar.log().lines().any(|l| {
            l.contains("component from the plugins directory loaded") && l.contains(&format!("version={version}"))
        })
    };
    wait_until("the watcher to load 2.0.0 from the bucket", std::time::Duration::from_secs(60), || deployed("2.0.0"));
    sidecar.client("version", &["2"]);
    // A broken object is reported and skipped; the version in use stays.
    std::fs::write(d.join("broken.wasm"), b"\0asm not really").unwrap();
    s3.upload(&d.join("broken.wasm"), &key);
    wait_until("the broken component to be reported", std::time::Duration::from_secs(60), || {
        sidecar.log().contains("not loaded")
    });
    sidecar.client("version", &["2"]);
    let log = sidecar.log();
    assert!(log.contains(&format!("{url}stamp.wasm")), "the log names the object: {log}");
    assert!(!log.contains(SECRET_KEY), "the secret key shows in the log");

    // A bucket that does not exist stops the start, naming it.
    let missing = format!("s3://no-such-{bucket}/plugins/");
    let out = quiver_s3(
        s3,
        d,
        &["serve", "--plugins", &missing, "--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
        &[],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("s3://no-such-{bucket}/plugins")) && stderr.contains("does not exist"),
        "{stderr}"
    );
}
