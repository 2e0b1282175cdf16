//! The command line without plugins: help, and errors that name what is wrong.

use std::process::Command;

fn quiver(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quiver")).args(args).current_dir(dir).output().expect("running quiver")
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = quiver(&["--help"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for command in ["run", "plugin", "demo"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn inspecting_a_file_that_is_not_a_component_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"definitely not wasm").unwrap();
    // A core module: the magic bytes and version 1.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let junk = quiver(&["--no-cache", "plugin", "inspect", "junk.wasm"], dir.path());
    let core = quiver(&["--no-cache", "plugin", "inspect", "core.wasm"], dir.path());
    let missing = quiver(&["--no-cache", "plugin", "inspect", "nope.wasm"], dir.path());
    for (out, expected) in [
        (&junk, "junk.wasm is not a WebAssembly component"),
        (&core, "it is a core WebAssembly module"),
        (&missing, "cannot read plugin nope.wasm"),
    ] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn a_missing_pipeline_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = quiver(&["run", "missing.toml"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.toml"));
}
