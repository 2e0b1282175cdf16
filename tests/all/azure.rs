//! Azure Blob Storage through `quiver run`, on a real Azure server
//! (Azurite on loopback), with Microsoft's Python SDK as the independent
//! client: Parquet in a container through enrich into a container, with
//! object_store's Azure credential chain from the standard variables; and a
//! read-only SAS token, refused by the server on the first write, with an
//! error that names the URL and not the token.

use std::path::Path;
use std::process::Output;

use quiver_tests::azure::{AzureServer, server};
use quiver_tests::{clicks, describe, plugins, quiver_command, read_parquet_dir, write_parquet, write_pipeline};

use crate::enrich::{Row, check_enriched, rows};
use crate::object_store::check_manifest;

fn quiver_azure(az: &AzureServer, dir: &Path, args: &[&str], sas: Option<&str>) -> Output {
    let mut command = quiver_command(dir, args);
    command.envs(az.env(sas));
    command.output().expect("running quiver")
}

/// Two Parquet files of clicks in `container/in/`; their rows.
fn inputs(az: &AzureServer, d: &Path, container: &str) -> Vec<Row> {
    let parts = [clicks(0, 2_500), clicks(2_500, 3_100)];
    for (i, part) in parts.iter().enumerate() {
        let local = d.join(format!("local/{i}.parquet"));
        write_parquet(&local, part);
        az.upload(&local, container, &format!("in/day={i}/clicks.parquet"));
    }
    parts.iter().flat_map(rows).collect()
}

fn pipeline(d: &Path, container: &str) -> std::path::PathBuf {
    write_pipeline(
        d,
        &format!(
            "[source]\nformat = \"parquet\"\npath = \"az://{container}/in/*/clicks.parquet\"\nbatch_rows = 1000\n\n\
             [[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n\n\
             [sink]\nformat = \"parquet\"\npath = \"az://{container}/out/enriched/\"\ntarget_file_bytes = 20000\n\n\
             [dead_letter]\nformat = \"jsonl\"\npath = \"az://{container}/out/dead/\"\n",
            plugins::ENRICH.replace('\\', "/")
        ),
    )
}

#[test]
fn parquet_from_a_container_through_enrich_into_a_container() {
    let az = server();
    let container = az.container();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = inputs(az, d, &container);
    let out = quiver_azure(az, d, &["run", pipeline(d, &container).to_str().unwrap()], None);
    assert!(out.status.success(), "{}\n--- server\n{}", describe(&out), az.log());

    let listing = az.listing(&container, "out/enriched/");
    assert!(listing.len() > 3, "target_file_bytes rolls files: {listing:?}");
    assert!(!listing.keys().any(|k| k.contains("_quiver/")), "no upload is left open: {listing:?}");
    az.download(&container, "out/", &d.join("got"));
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    let rows = check_manifest(&d.join("got/enriched"), &listing, "out/enriched/");
    assert_eq!(rows, kept.len() as u64, "the manifest counts every row kept");
    check_enriched(&read_parquet_dir(&d.join("got/enriched")), &kept);
    let dead = std::fs::read_dir(d.join("got/dead/enrich"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum::<usize>();
    assert_eq!(dead, input.len() - kept.len(), "every refused row is a dead letter");
}

#[test]
fn a_read_only_sas_token_is_refused_on_write_naming_the_url_without_the_token() {
    let az = server();
    let container = az.container();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inputs(az, d, &container);
    let sas = az.sas(&container, "rl");
    let signature = sas.split('&').find_map(|p| p.strip_prefix("sig=")).expect("a signed token").to_string();
    let out = quiver_azure(az, d, &["run", pipeline(d, &container).to_str().unwrap()], Some(&sas));
    assert!(!out.status.success(), "{}", describe(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("az://{container}/out/")) && text.contains("access denied"), "{text}");
    assert!(!text.contains(&signature), "the SAS signature shows in the output:\n{text}");
    assert!(az.listing(&container, "out/").is_empty(), "a refused run writes nothing");
}
