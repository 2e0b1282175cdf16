//! The sandbox against the `hostile` plugin: every attack is stopped, named,
//! and costs only the rows that cause it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use quiver_tests::{
    data_files, describe, plugins, quiver, quiver_command, read_parquet_dir, write_parquet, write_pipeline,
};

/// `rows` rows: `x` = 0.., `s` a unicode string with some nulls.
fn input(rows: i64) -> RecordBatch {
    let s: StringArray = (0..rows)
        .map(|i| (i % 7 != 3).then(|| format!("row {i} · ünïcødé · {}", "z".repeat((i % 40) as usize))))
        .collect();
    RecordBatch::try_from_iter([
        ("x", Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
    ])
    .unwrap()
}

fn pipeline(transform: &str, extra: &str, batch_rows: usize) -> String {
    format!(
        "[source]\nformat = \"parquet\"\npath = \"in/\"\nbatch_rows = {batch_rows}\n\n\
         [[transform]]\nplugin = \"{}\"\ntransform = \"{transform}\"\ninstances = 1\n{extra}\n\n\
         [sink]\nformat = \"parquet\"\npath = \"out/\"\n\n[dead_letter]\nformat = \"parquet\"\npath = \"dead/\"\n",
        plugins::HOSTILE
    )
}

/// Runs a pipeline that must fail cleanly: an error exit (not a crash), no output left.
fn fails(d: &Path, text: &str) -> String {
    let file = write_pipeline(d, text);
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "expected a clean failure: {}", describe(&out));
    assert!(data_files(&d.join("out")).is_empty(), "no output may remain: {}", describe(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a pipeline that must succeed; returns its standard output and error.
fn succeeds_with_log(d: &Path, text: &str) -> (String, String) {
    let file = write_pipeline(d, text);
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs a pipeline that must succeed; returns its standard output.
fn succeeds(d: &Path, text: &str) -> String {
    succeeds_with_log(d, text).0
}

fn assert_mentions(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
}

/// Each attack `(transform, extra keys, expected words)` fails the run of
/// `pipeline_of(transform, extra)` with its cause and the plugin named.
fn each_attack_fails(
    d: &Path,
    plugin: &str,
    pipeline_of: impl Fn(&str, &str) -> String,
    cases: &[(&str, &str, &[&str])],
) {
    for (transform, extra, expected) in cases {
        reset(d);
        let err = fails(d, &pipeline_of(transform, extra));
        assert_mentions(&err, expected);
        assert_mentions(&err, &[plugin]);
    }
}

fn reset(d: &Path) {
    for dir in ["out", "dead"] {
        let _ = std::fs::remove_dir_all(d.join(dir));
    }
}

#[test]
fn every_attack_fails_the_run_cleanly_naming_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(3000));
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "spin",
            "limits = { timeout_ms = 200 }",
            &["trapped in `process`", "timed out", "200 ms limit", "x.parquet, rows 0..1000"],
        ),
        ("spin-open", "limits = { timeout_ms = 200 }", &["trapped in `open`", "timed out"]),
        ("spin-bind", "limits = { timeout_ms = 200 }", &["trapped in `bind`", "timed out"]),
        ("grow", "limits = { memory_mb = 64 }", &["out of memory", "limit is 64 MiB"]),
        ("recurse", "", &["trapped in `process`", "call stack exhausted"]),
        ("panic", "", &["hostile@0.1.0/panic", "trapped in `process`", "unreachable"]),
        ("garbage", "", &["malformed output from `process`"]),
        ("truncated", "", &["malformed output from `process`"]),
        ("other-schema", "", &["malformed output from `process`"]),
        ("alias", "", &["returned more than its output limit of 256 MiB"]),
        ("huge-rows", "", &["returned 1099511627776 rows, over its limit of 16777216 rows"]),
        ("huge-reasons", "limits = { output_mb = 64 }", &["returned more than its output limit of 64 MiB"]),
        ("spin", "limits = { fuel = 5000000 }", &["out of fuel", "5000000 units"]),
    ];
    each_attack_fails(d, "hostile@0.1.0", |transform, extra| pipeline(transform, extra, 1000), cases);
}

/// The failed calls of the run summary's `failures` line.
fn failed_calls(summary: &str) -> usize {
    let line = summary.lines().find(|l| l.contains("failed calls")).unwrap_or_else(|| panic!("no failures: {summary}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "failed").unwrap();
    words[at - 1].parse().unwrap_or_else(|_| panic!("a count before `failed calls`: {line}"))
}

#[test]
fn a_poison_row_is_isolated_by_bisection_and_only_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = 65_536;
    write_parquet(&d.join("in/x.parquet"), &input(rows));
    let poison = 40_961;
    // Whole batch, then one failing half per halving: 1 + log2(65536).
    let fewest_failures = 17;
    // (transform, limits, reason, whether the number of failed calls is exact).
    // A deadline is wall-clock time: on a loaded machine a healthy half may
    // also overrun it and be bisected further, so only the fewest failures
    // is certain there. Fuel counts instructions, whatever the machine's speed.
    for (transform, extra, reason, exact) in [
        ("panic", "", "unreachable", true),
        ("spin", "limits = { fuel = 200000000 }", "out of fuel", true),
        ("spin", "limits = { timeout_ms = 500 }", "timed out", false),
        ("garbage", "", "malformed output", true),
    ] {
        reset(d);
        let extra = format!("on_error = \"dead-letter\"\nconfig = {{ poison = {poison} }}\n{extra}");
        let (stdout, stderr) = succeeds_with_log(d, &pipeline(transform, &extra, rows as usize));

        let out = read_parquet_dir(&d.join("out"));
        let expected: Vec<i64> = (0..rows).filter(|&x| x != poison).collect();
        let x = out.column_by_name("x").unwrap().as_primitive::<Int64Type>();
        assert_eq!(x.values().to_vec(), expected, "{transform} ({extra}): every other row, in order");
        let s = out.column_by_name("s").unwrap();
        assert_eq!(s.null_count(), (0..rows).filter(|&i| i % 7 == 3 && i != poison).count());

        let dead = read_parquet_dir(&d.join("dead/").join(transform));
        assert_eq!(dead.num_rows(), 1, "{transform} ({extra}): one dead letter");
        let column = |name: &str| dead.column_by_name(name).unwrap();
        assert_eq!(column("x").as_primitive::<Int64Type>().value(0), poison);
        assert_eq!(column("quiver_row").as_primitive::<Int64Type>().value(0), poison);
        let why = column("quiver_reason").as_string::<i32>().value(0);
        assert!(why.contains(reason) && why.contains("hostile@0.1.0"), "{transform} ({extra}): {why}");

        assert!(stdout.contains(", 1 poison rows quarantined"), "{transform} ({extra}): {stdout}");
        let failures = failed_calls(&stdout);
        let logged = stderr.lines().filter(|l| l.contains("plugin call failed")).count();
        assert_eq!(failures, logged, "{transform} ({extra}): the summary counts every failure logged\n{stderr}");
        match exact {
            true => assert_eq!(failures, fewest_failures, "{transform} ({extra}): {stdout}"),
            false => assert!(failures >= fewest_failures, "{transform} ({extra}): {stdout}"),
        }
    }
}

#[test]
fn poison_rows_in_many_batches_are_each_quarantined_and_the_rest_flows_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = 10_000;
    write_parquet(&d.join("in/x.parquet"), &input(rows));
    // Twenty batches; the one holding the poison value fails, the others flow past it.
    let text = pipeline("panic", "on_error = \"dead-letter\"\nconfig = { poison = 7777 }", 500);
    let first = succeeds(d, &text);
    assert!(first.contains("1 poison rows quarantined"), "{first}");
    let out = read_parquet_dir(&d.join("out"));
    let x = out.column_by_name("x").unwrap().as_primitive::<Int64Type>();
    assert_eq!(x.values().to_vec(), (0..rows).filter(|&x| x != 7777).collect::<Vec<_>>());
    let dead = read_parquet_dir(&d.join("dead/panic"));
    let x = dead.column_by_name("x").unwrap().as_primitive::<Int64Type>();
    assert_eq!(x.values().to_vec(), vec![7777]);
}

#[test]
fn a_plugin_failing_on_everything_trips_the_circuit_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(5000));
    let text =
        pipeline("panic", "on_error = \"dead-letter\"\ncircuit_breaker = { failures = 20, window_secs = 60 }", 1000);
    let err = fails(d, &text);
    assert_mentions(&err, &["circuit breaker open after 20 failed calls within 60 s", "hostile@0.1.0", "unreachable"]);
    assert!(data_files(&d.join("dead")).is_empty(), "dead letters of a failed run are removed too");
}

#[test]
fn dead_letter_policy_is_refused_for_aggregates_and_without_a_dead_letter_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(10));
    let text = pipeline("panic", "on_error = \"dead-letter\"", 1000).replace(plugins::HOSTILE, plugins::COUNT);
    let text = text.replace("transform = \"panic\"\n", "config = { key = \"s\", value = \"x\" }\n");
    let err = fails(d, &text);
    assert_mentions(&err, &["is an aggregate", "on_error must be \"fail\""]);

    let text = pipeline("panic", "on_error = \"dead-letter\"", 1000);
    let text = &text[..text.find("[dead_letter]").unwrap()];
    let err = fails(d, text);
    assert_mentions(&err, &["on_error", "add a [dead_letter] table"]);
}

/// A one-request HTTP server on loopback; returns its port.
fn http_server(body: &'static str) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let n = stream.read(&mut request).unwrap();
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        n
    });
    (port, handle)
}

fn probe(d: &Path, what: &str, target: &str, grants: &str, env: &[(&str, &str)]) -> String {
    reset(d);
    let extra = format!("config = {{ what = \"{what}\", target = \"{target}\" }}\n{grants}");
    let file = write_pipeline(d, &pipeline("probe", &extra, 1000));
    let mut command = quiver_command(d, &["run", "--no-progress", file.to_str().unwrap()]);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let batch = read_parquet_dir(&d.join("out"));
    let probe = batch.column_by_name("probe").unwrap().as_string::<i32>();
    assert_eq!(probe.len(), 20);
    probe.value(0).to_string()
}

#[test]
fn capabilities_are_denied_inside_the_plugin_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(20));
    std::fs::create_dir_all(d.join("ref")).unwrap();
    std::fs::write(d.join("ref/rates.txt"), "EUR 1.08").unwrap();

    let denied = |result: &str, what: &str| assert!(result.starts_with("denied: "), "{what}: {result}");
    denied(&probe(d, "file", "/etc/passwd", "", &[]), "/etc/passwd");
    denied(&probe(d, "file", "/ref/rates.txt", "", &[]), "ungranted dir");
    let grant = "[transform.grants]\ndirs = [{ host = \"ref\", guest = \"/ref\" }]";
    assert_eq!(probe(d, "file", "/ref/rates.txt", grant, &[]), "ok: EUR 1.08");
    denied(&probe(d, "file", "/etc/passwd", grant, &[]), "outside the granted dir");
    denied(&probe(d, "write-file", "/ref/new.txt", grant, &[]), "read-only grant");
    assert!(!d.join("ref/new.txt").exists());

    let secret = [("QUIVER_TEST_SECRET", "s3cr3t")];
    denied(&probe(d, "env", "QUIVER_TEST_SECRET", "", &secret), "ungranted env");
    denied(&probe(d, "env", "HOME", "", &[]), "HOME");
    let grant = "[transform.grants]\nenv = [\"QUIVER_TEST_SECRET\"]";
    assert_eq!(probe(d, "env", "QUIVER_TEST_SECRET", grant, &secret), "ok: s3cr3t");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    denied(&probe(d, "socket", &format!("127.0.0.1:{port}"), "", &[]), "socket");
    assert!(listener.accept().is_err(), "the plugin must not have connected");

    let (allowed, server) = http_server("hello from the allow-list");
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    other.set_nonblocking(true).unwrap();
    let grant = format!("[transform.grants]\nhttp = [\"127.0.0.1:{allowed}\"]");
    let result = probe(d, "http", &format!("127.0.0.1:{other_port}/x"), &grant, &[]);
    assert!(result.contains("HttpRequestDenied"), "{result}");
    assert!(other.accept().is_err(), "a denied request must not connect");
    let result = probe(d, "http", &format!("127.0.0.1:{allowed}/rates"), &grant, &[]);
    assert_eq!(result, "ok: 200 hello from the allow-list");
    assert!(server.join().unwrap() > 0);
}

#[test]
fn a_plugin_logging_in_a_tight_loop_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(100));
    let file = write_pipeline(d, &pipeline("log-flood", "", 1000));
    let out = quiver_command(d, &["run", "--no-progress", file.to_str().unwrap()])
        .env("QUIVER_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let flood = stderr.lines().filter(|l| l.contains("flood ")).count();
    // 100 a second get through: a million would need hours of run time.
    assert!((1..=10_000).contains(&flood), "{flood} flood lines let through");
    assert!(stderr.contains("plugin log rate limit: messages dropped"), "{stderr}");
    let batch = read_parquet_dir(&d.join("out"));
    assert_eq!(concat_batches(&batch.schema(), [&batch]).unwrap().num_rows(), 100);
}

#[test]
fn the_sandbox_holds_a_python_plugin_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(3000));
    let python =
        |transform: &str, extra: &str| pipeline(transform, extra, 1000).replace(plugins::HOSTILE, plugins::HOSTILE_PY);
    let cases: &[(&str, &str, &[&str])] = &[
        ("spin", "limits = { timeout_ms = 300 }", &["timed out", "300 ms limit"]),
        ("raise", "", &["trapped in `process`", "ValueError: hostile-py: poison value in column x", "line"]),
        ("grow", "limits = { memory_mb = 100 }", &["out of memory", "limit is 100 MiB"]),
        ("recurse", "", &["RecursionError"]),
        (
            "probe",
            "config = { what = \"file\", target = \"/etc/passwd\" }",
            &["denied: file /etc/passwd: FileNotFoundError"],
        ),
        ("probe", "config = { what = \"env\", target = \"HOME\" }", &["denied: env HOME: KeyError"]),
        ("probe", "config = { what = \"socket\", target = \"127.0.0.1:9\" }", &["denied: socket 127.0.0.1:9"]),
    ];
    each_attack_fails(d, "hostile-py@0.1.0", python, cases);

    reset(d);
    let stdout = succeeds(d, &python("raise", "on_error = \"dead-letter\"\nconfig = { poison = 2500 }"));
    assert!(stdout.contains("1 poison rows quarantined"), "{stdout}");
    assert_eq!(read_parquet_dir(&d.join("out")).num_rows(), 2999);
    let dead = read_parquet_dir(&d.join("dead/raise"));
    let why = dead.column_by_name("quiver_reason").unwrap().as_string::<i32>().value(0);
    assert!(why.contains("ValueError"), "{why}");
    assert_eq!(dead.column_by_name("x").unwrap().as_primitive::<Int64Type>().value(0), 2500);
}

#[test]
fn abuses_of_the_hosts_kernels_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &input(3000));
    let compute = |transform: &str, extra: &str| {
        pipeline(transform, extra, 1000).replace(plugins::HOSTILE, plugins::HOSTILE_COMPUTE)
    };
    let cases: &[(&str, &str, &[&str])] = &[
        ("huge-regex", "", &["match_substring_regex", "bad pattern", "size limit"]),
        ("long-pattern", "", &["the pattern is 1024 KiB, over the limit of 16 KiB"]),
        // Batch 0 keeps a handle; batch 1 uses it.
        ("stale-handle", "", &["from an earlier call", "rows 1000..2000"]),
        ("mismatched", "", &["`add` got columns of 1000 and 999 rows"]),
        ("hoard", "limits = { memory_mb = 64 }", &["out of memory", "64 MiB"]),
        ("spin-kernels", "limits = { timeout_ms = 300 }", &["timed out", "300 ms limit"]),
        ("bad-take", "", &["take", "out of bounds"]),
        ("bad-data", "", &["from-data", "malformed"]),
        ("unknown-kernel", "", &["there is no kernel `system`"]),
    ];
    each_attack_fails(d, "hostile-compute@0.2.0", compute, cases);
}
