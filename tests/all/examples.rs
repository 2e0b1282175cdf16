//! The examples of `examples/`, run against a real sidecar.

use std::path::Path;

use quiver_tests::{Sidecar, describe, plugins};

#[test]
fn the_pandas_example_runs_against_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    std::fs::copy(plugins::ENRICH, plugins_dir.join("enrich.wasm")).unwrap();
    let server = Sidecar::start(dir.path(), &["--plugins", plugins_dir.to_str().unwrap()]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pandas_client.py");
    let output = server.python(&[example.to_str().unwrap(), &server.flight, &server.http]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("pandas example ok: 5 rows enriched, 1 rejected"), "{stdout}");
    assert!(stdout.contains("日本"), "unicode survives the round trip: {stdout}");
}
