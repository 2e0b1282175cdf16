//! `quiver serve` driven by clients nobody here wrote: pyarrow's Flight
//! client and Python's requests (`tests/clients/sidecar.py`), against the
//! real binary with real plugins.

use std::path::Path;
use std::time::{Duration, Instant};

use quiver_tests::{Sidecar, plugins};

fn plugins_dir(dir: &Path, plugins: &[(&str, &str)]) -> String {
    let plugins_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    for (name, file) in plugins {
        std::fs::copy(file, plugins_dir.join(format!("{name}.wasm"))).unwrap();
    }
    plugins_dir.to_str().unwrap().to_owned()
}

fn token_file(dir: &Path, name: &str, token: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn transforms_over_flight_and_http_with_many_clients() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("gcd", plugins::GCD), ("enrich", plugins::ENRICH)]);
    let server = Sidecar::start(dir.path(), &["--plugins", &plugins]);
    server.client("transform", &[]);
    server.client("http-streaming", &[]);
    server.client("concurrent", &["16"]);

    let metrics = server.client("admin", &["-", "GET", "/metrics"]);
    assert!(metrics.contains(r#"quiver_calls_total{plugin="gcd",version="0.1.0",transform="gcd",outcome="ok"}"#));
    assert!(metrics.contains(r#"quiver_rows_rejected_total{plugin="enrich",version="0.1.0",transform="enrich"}"#));
    assert!(metrics.contains("quiver_call_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains(r#"quiver_instances{plugin="gcd""#), "{metrics}");
    let openapi = server.client("admin", &["-", "GET", "/openapi.json"]);
    assert!(openapi.contains("/v1/transform/{plugin}"));
}

/// Reads the load client's report once it has finished.
fn load_report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the load client wrote its report")).unwrap()
}

fn wait_until(what: &str, server: &Sidecar, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn hot_swap_under_load_rollback_and_pinned_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("stamp", plugins::STAMP_V1)]);
    let admin = token_file(dir.path(), "admin.token", "s3cret-admin");
    let server = Sidecar::start(
        dir.path(),
        &["--plugins", &plugins, "--admin-token-file", &admin, "--watch-interval-ms", "100"],
    );
    server.client("version", &["1"]);

    // Four clients call in a loop while the component is swapped under them.
    let (stop, report) = (dir.path().join("stop"), dir.path().join("report.json"));
    let mut load = server.spawn_client("load", &[stop.to_str().unwrap(), report.to_str().unwrap()]);
    // Each phase lasts until the clients have made calls in it, however slow the machine.
    let calls_made = |version: &str, after: u64| {
        wait_until(&format!("{CALLS_PER_PHASE} more calls to {version}"), &server, || {
            stamp_calls(&server, version) >= after + CALLS_PER_PHASE
        })
    };
    calls_made("1.0.0", 0);
    let swapped = Instant::now();
    // Write aside and rename, as a deploy tool would, so the watcher never sees half a file.
    std::fs::copy(plugins::STAMP_V2, dir.path().join("stamp.wasm.tmp")).unwrap();
    std::fs::rename(dir.path().join("stamp.wasm.tmp"), Path::new(&plugins).join("stamp.wasm")).unwrap();
    let list = || server.client("admin", &["s3cret-admin", "GET", "/v1/plugins"]);
    wait_until("the watcher to deploy 2.0.0", &server, || list().contains(r#""current":"2.0.0""#));
    eprintln!("swap deployed {} ms after the file changed", swapped.elapsed().as_millis());
    calls_made("2.0.0", stamp_calls(&server, "2.0.0"));
    server.client("admin", &["s3cret-admin", "POST", "/v1/plugins/stamp/rollback"]);
    calls_made("1.0.0", stamp_calls(&server, "1.0.0"));
    std::fs::write(&stop, b"").unwrap();
    assert!(load.wait().unwrap().success());

    let report = load_report(&report);
    assert_eq!(report["failures"], serde_json::json!([]), "no call fails because of a swap");
    assert_eq!(report["mixed"], 0, "every result comes from exactly one version");
    assert_eq!(report["versions"], serde_json::json!([1, 2]), "calls saw both versions: {report}");
    let sequence: Vec<i64> = report["sequence"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert!(sequence.len() > 20, "enough calls ran under load: {}", sequence.len());
    assert_eq!(sequence.last(), Some(&1), "after the rollback calls get 1.0.0 again");
    server.client("version", &["1"]);

    // Uploads: a wrong sha256 is refused; the right one deploys; a pin holds.
    let v2 = plugins::STAMP_V2;
    let wrong = "0".repeat(64);
    server.client(
        "admin",
        &["s3cret-admin", "PUT", &format!("/v1/plugins/stamp?sha256={wrong}"), &format!("@{v2}"), "409"],
    );
    let sha = sha256_of(v2);
    let loaded =
        server.client("admin", &["s3cret-admin", "PUT", &format!("/v1/plugins/stamp?sha256={sha}"), &format!("@{v2}")]);
    assert!(loaded.contains(r#""deployed":true"#) && loaded.contains(r#""unchanged":true"#), "{loaded}");
    server.client("version", &["2"]);
    server.client("admin", &["s3cret-admin", "PUT", "/v1/plugins/stamp/pin", r#"{"version":"1.0.0"}"#]);
    server.client("version", &["1"]);
    // A pinned plugin is not moved by the watcher.
    for (version, file) in [("1.0.0", plugins::STAMP_V1), ("2.0.0", plugins::STAMP_V2)] {
        let seen = watched(&server, version);
        std::fs::copy(file, dir.path().join("stamp.wasm.tmp")).unwrap();
        std::fs::rename(dir.path().join("stamp.wasm.tmp"), Path::new(&plugins).join("stamp.wasm")).unwrap();
        wait_until(&format!("the watcher to load {version} again"), &server, || watched(&server, version) > seen);
    }
    let log = server.log();
    let loaded = log.lines().rfind(|l| l.contains("component from the plugins directory loaded")).unwrap();
    assert!(loaded.contains("version=2.0.0") && loaded.contains("deployed=false"), "pinned, so not deployed: {loaded}");
    server.client("version", &["1"]);
    // A broken component is reported and skipped; the version in use stays.
    std::fs::write(Path::new(&plugins).join("stamp.wasm"), b"\0asm not really").unwrap();
    wait_until("the broken component to be reported", &server, || server.log().contains("not loaded"));
    server.client("version", &["1"]);
    // Canary: a share of calls to 2.0.0, visible per version in the metrics.
    server.client("admin", &["s3cret-admin", "DELETE", "/v1/plugins/stamp/pin"]);
    server.client(
        "admin",
        &["s3cret-admin", "POST", "/v1/plugins/stamp/deploy", r#"{"version":"2.0.0","canary_percent":50}"#],
    );
    server.client("concurrent-stamp", &["40"]);
    let metrics = server.client("admin", &["-", "GET", "/metrics"]);
    for version in ["1.0.0", "2.0.0"] {
        assert!(metrics.contains(&format!(r#"quiver_calls_total{{plugin="stamp",version="{version}""#)), "{metrics}");
    }
    // The version in use cannot be unloaded; the other can.
    server.client("admin", &["s3cret-admin", "DELETE", "/v1/plugins/stamp/versions/1.0.0", "", "409"]);
    server.client("admin", &["s3cret-admin", "POST", "/v1/plugins/stamp/deploy", r#"{"version":"1.0.0"}"#]);
    server.client("admin", &["s3cret-admin", "DELETE", "/v1/plugins/stamp/versions/2.0.0"]);
    server.client("admin", &["s3cret-admin", "DELETE", "/v1/plugins/stamp"]);
    assert!(!list().contains("stamp"), "unloaded: {}", list());
}

/// Plugin calls each phase of the hot-swap test waits for (five per client call).
const CALLS_PER_PHASE: u64 = 50;

/// Plugin calls version `version` of `stamp` has served, from the metrics.
fn stamp_calls(server: &Sidecar, version: &str) -> u64 {
    let metrics = server.client("admin", &["-", "GET", "/metrics"]);
    let series = format!(r#"quiver_calls_total{{plugin="stamp",version="{version}","#);
    metrics
        .lines()
        .filter(|line| line.starts_with(&series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// How often the directory watcher has loaded version `version` of `stamp`, from the server's log.
fn watched(server: &Sidecar, version: &str) -> usize {
    let line = format!("version={version}");
    server
        .log()
        .lines()
        .filter(|l| l.contains("component from the plugins directory loaded") && l.contains(&line))
        .count()
}

fn sha256_of(path: &str) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

#[test]
fn traps_tokens_limits_busy_and_disconnects_get_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("gcd", plugins::GCD), ("hostile", plugins::HOSTILE)]);
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "plugins_dir = {plugins:?}\nmax_request_mb = 1\nmax_concurrent_calls = 1\nmax_queued_calls = 0\n\
             [plugin.hostile]\nlimits = {{ timeout_ms = 5000 }}\n"
        ),
    )
    .unwrap();
    let server = Sidecar::start_with_env(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("QUIVER_DATA_TOKEN", "data-token"), ("QUIVER_ADMIN_TOKEN", "admin-token")],
    );
    server.client("faults", &["data-token", "1"]);
    assert!(!server.log().contains("data-token") && !server.log().contains("admin-token"), "tokens are never logged");
    let metrics = server.client("admin", &["-", "GET", "/metrics"]);
    assert!(metrics.contains(r#"cause="trap""#) && metrics.contains(r#"cause="timeout""#), "{metrics}");
    assert!(metrics.contains(r#"quiver_busy_total{plugin="hostile"}"#), "{metrics}");
}

#[test]
fn sigterm_lets_the_stream_in_flight_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("gcd", plugins::GCD)]);
    let server = Sidecar::start(dir.path(), &["--plugins", &plugins, "--drain-secs", "30"]);
    let ready = dir.path().join("streaming");
    let stream = server.spawn_client("drain", &["12", ready.to_str().unwrap()]);
    wait_until("the stream to start", &server, || ready.exists());
    let http = server.http.clone();
    let log = dir.path().join("quiver-serve.log");
    let status = server.terminate();
    let output = stream.wait_with_output().unwrap();
    assert!(output.status.success(), "the stream in flight finished: {}", String::from_utf8_lossy(&output.stdout));
    assert!(status.success(), "exit 0 after draining: {status:?}\n{}", std::fs::read_to_string(&log).unwrap());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("draining") && log.contains("drained"), "{log}");
    assert!(std::net::TcpStream::connect(http.trim_start_matches("http://")).is_err(), "no longer accepting");
}

#[test]
fn tls_on_both_apis_with_a_certificate_from_the_server_file() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("gcd", plugins::GCD)]);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test certificate");
    assert!(status.success());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Sidecar::start(dir.path(), &["--plugins", &plugins, "--tls-cert-file", cert, "--tls-key-file", key]);
    server.client("tls", &[cert]);

    // A key that is not one stops the start, naming the keys.
    std::fs::write(dir.path().join("bad.pem"), "not a key").unwrap();
    let out = quiver_tests::quiver(
        dir.path(),
        &[
            "serve",
            "--plugins",
            &plugins,
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            "bad.pem",
            "--http-addr",
            "127.0.0.1:0",
            "--flight-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("tls_key_file"),
        "{}",
        quiver_tests::describe(&out)
    );
}

#[test]
fn one_client_holds_at_most_max_connections_per_client_on_each_listener() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[("gcd", plugins::GCD)]);
    let server = Sidecar::start(dir.path(), &["--plugins", &plugins, "--max-connections-per-client", "2"]);
    server.client("connections", &["2"]);
    assert!(server.log().contains("refused a connection"), "the refusal is logged:\n{}", server.log());
}
