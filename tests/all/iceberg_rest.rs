//! The Iceberg sink with a REST catalog: Apache Iceberg's own REST catalog
//! server on loopback (`quiver_tests::iceberg`), the tables read back through
//! that catalog by pyiceberg's REST client.

use quiver_tests::iceberg::RestCatalog;
use quiver_tests::{clicks, describe, free_port, quiver_command, write_parquet, write_pipeline};

use crate::enrich::{Row, check_enriched, rows};
use crate::iceberg::{check_partitions, enrich_into_table, read_with, snapshots};

const TOKEN: &str = "t0ken-0f-the-rest-catalog";
const TOKEN_ENV: &str = "QUIVER_TEST_REST_TOKEN";

fn rest_sink(uri: &str) -> String {
    format!("[sink.catalog]\ntype = \"rest\"\nuri = \"{uri}\"\ntoken_env = \"{TOKEN_ENV}\"\n")
}

/// `quiver run PIPELINE` in `dir`, with the catalog's token `token` in the
/// environment and every log line on.
fn run(dir: &std::path::Path, pipeline: &std::path::Path, token: &str) -> std::process::Output {
    quiver_command(dir, &["run", "--no-progress", pipeline.to_str().unwrap()])
        .env(TOKEN_ENV, token)
        .env("QUIVER_LOG", "info")
        .output()
        .unwrap()
}

fn read(catalog: &RestCatalog, table: &str, key: &str) -> crate::iceberg::Read {
    let args = [table, "--rest", &catalog.uri(), "--token", TOKEN].map(String::from);
    read_with(&args, &[], key)
}

#[test]
fn a_rest_catalog_tracks_the_table_and_pyiceberg_reads_it_through_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lake = d.join("lake");
    let catalog = RestCatalog::start(&lake, Some(TOKEN));
    let parts = [clicks(0, 2_600), clicks(2_600, 3_100)];
    let warehouse = lake.display().to_string();
    let pipeline = write_pipeline(d, &enrich_into_table(&warehouse, &rest_sink(&catalog.uri())));
    for (i, part) in parts.iter().enumerate() {
        let _ = std::fs::remove_dir_all(d.join("in"));
        write_parquet(&d.join("in/part.parquet"), part);
        let out = run(d, &pipeline, TOKEN);
        assert!(out.status.success(), "run {i}: {}\n--- catalog\n{}", describe(&out), catalog.log());
        assert!(!describe(&out).contains(TOKEN), "the token is in no output");
    }
    // The catalog, not the warehouse's own files, tracks the table.
    assert!(!lake.join("web/clicks/metadata/version-hint.text").exists());

    let read = read(&catalog, "web.clicks", "event_id");
    let input: Vec<Row> = parts.iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&read.rows, &kept);
    let snaps = snapshots(&read.info);
    assert_eq!(snaps.len(), 2, "{:#}", read.info);
    assert_eq!(snaps[1]["parent"], snaps[0]["id"]);
    assert_eq!(snaps[1]["summary"]["quiver.version"], env!("CARGO_PKG_VERSION"));
    check_partitions(&read.info, &["country", "user_id_bucket"]);
    let path = read.info["files"][0]["path"].as_str().unwrap();
    assert!(path.contains(&format!("{warehouse}/web/clicks/data/")), "{path}");
}

#[test]
fn an_unreachable_catalog_or_a_refused_token_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/part.parquet"), &clicks(0, 500));
    let lake = d.join("lake");
    let warehouse = lake.display().to_string();

    // Nothing listens on this port.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let pipeline = write_pipeline(d, &enrich_into_table(&warehouse, &rest_sink(&nowhere)));
    let out = run(d, &pipeline, TOKEN);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&nowhere) && stderr.contains("REST catalog"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    assert!(!lake.join("web").exists(), "nothing is written");

    // A catalog that wants another token.
    let catalog = RestCatalog::start(&lake, Some(TOKEN));
    let pipeline = write_pipeline(d, &enrich_into_table(&warehouse, &rest_sink(&catalog.uri())));
    let wrong = "wr0ng-t0ken-0f-a-user";
    let out = run(d, &pipeline, wrong);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&catalog.uri()) && stderr.contains("Not authorized"), "{stderr}");
    assert!(!describe(&out).contains(wrong), "the token is in no output: {stderr}");
    assert!(!lake.join("web").exists(), "nothing is written");
    let listed = std::process::Command::new(quiver_tests::client_python())
        .arg("-c")
        .arg(format!(
            "from pyiceberg.catalog import load_catalog\n\
             print(load_catalog('rest', type='rest', uri={:?}, token={TOKEN:?}).list_namespaces())",
            catalog.uri()
        ))
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", describe(&listed));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]", "no namespace was created");
}
