//! `quiver compact TARGET`: rewrites the small files of an Iceberg table
//! or of a directory Quiver wrote into files of the target size, and with
//! `--expire-older-than`, expires old snapshots and deletes the files
//! nothing reads any more.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use quiver_pipeline::compact::{CompactReport, CompactRequest, DirectoryCompacted};
use quiver_storage::StorageConfig;

use super::storage::parse_age;

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// An Iceberg table's directory (<warehouse>/<namespace>/<name>) or a
    /// sink's output directory with its _SUCCESS manifest: a local path or
    /// s3://, gs://, az:// URL.
    target: String,
    /// The size to write files at, in bytes (default: the table's
    /// write.target-file-size-bytes; 128 MiB for a directory). Files under
    /// three quarters of it are small.
    #[arg(long, value_name = "BYTES")]
    target_file_bytes: Option<u64>,
    /// Expire snapshots older than this (90s, 30m, 1h, 7d), then delete the
    /// files no remaining snapshot reads that are older too; for a
    /// directory, delete its unlisted files older than this.
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    expire_older_than: Option<std::time::Duration>,
    /// Snapshots an expiry always keeps, the newest.
    #[arg(long, default_value_t = 1, value_name = "N")]
    retain_last: usize,
    /// The store's endpoint (an S3-compatible server); else AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Allow a plain http:// endpoint (loopback or a trusted network).
    #[arg(long)]
    allow_http: bool,
}

pub fn run(args: CompactArgs) -> anyhow::Result<()> {
    let storage = StorageConfig { endpoint: args.endpoint, allow_http: args.allow_http, ..StorageConfig::default() };
    if let Some((key, problem)) = storage.problems().into_iter().next() {
        anyhow::bail!("--{}: {problem}", key.replace('_', "-"));
    }
    let request = CompactRequest {
        target: args.target.clone(),
        storage,
        target_file_bytes: args.target_file_bytes,
        expire_older_than: args.expire_older_than,
        retain_last: args.retain_last,
    };
    let report = super::tokio_runtime()?
        .block_on(quiver_pipeline::compact::compact(Path::new("."), &request))
        .with_context(|| format!("compacting {}", args.target))?;
    print!("{}", describe(&report));
    Ok(())
}

fn describe(report: &CompactReport) -> String {
    match report {
        #[cfg(feature = "iceberg")]
        CompactReport::Table { table, compacted: c, expired } => {
            let mut text = match c.snapshot_id {
                Some(id) => format!(
                    "{table}: {} small files in {} partitions rewritten into {} ({} rows, {} bytes into {}); \
                     {} data files before, {} after; replace snapshot {id}\n",
                    c.rewritten,
                    c.partitions,
                    c.written,
                    c.rows,
                    c.bytes_rewritten,
                    c.bytes_written,
                    c.files_before,
                    c.files_after
                ),
                None => format!("{table}: nothing to compact ({} data files)\n", c.files_before),
            };
            if let Some(e) = expired {
                text += &format!(
                    "{table}: {} snapshots expired, {} kept; {} unreferenced files deleted\n",
                    e.snapshots.len(),
                    e.retained,
                    e.deleted.len()
                );
                for url in &e.deleted {
                    text += &format!("deleted   {url}\n");
                }
                if e.young > 0 {
                    text += &format!("{table}: {} unreferenced files younger than the age kept\n", e.young);
                }
            } else {
                orphans(&mut text, table, &c.orphans, &[]);
            }
            text
        }
        CompactReport::Directory(d) => directory(d),
    }
}

fn directory(d: &DirectoryCompacted) -> String {
    let mut text = if d.rewritten > 0 {
        format!(
            "{} small files in {} directories rewritten into {} ({} rows); the manifest lists {} files, {} before\n",
            d.rewritten, d.partitions, d.written, d.rows, d.files_after, d.files_before
        )
    } else {
        format!("nothing to compact ({} files)\n", d.files_before)
    };
    orphans(&mut text, "the directory", &d.orphans, &d.deleted);
    text
}

fn orphans(text: &mut String, what: &str, orphans: &[String], deleted: &[String]) {
    for url in orphans {
        let verb = if deleted.contains(url) { "deleted" } else { "orphan " };
        *text += &format!("{verb}   {url}\n");
    }
    if !orphans.is_empty() {
        *text += &format!(
            "{what}: {} files nothing reads ({} deleted); --expire-older-than AGE deletes those older than AGE\n",
            orphans.len(),
            deleted.len()
        );
    }
}
