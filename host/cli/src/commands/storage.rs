//! `quiver storage gc URL --older-than AGE`: aborts the multipart uploads
//! a killed run left open under an output directory (and removes local
//! staging files), so the bucket stops paying for parts nobody will complete.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use quiver_storage::StorageConfig;

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Abort uploads a killed run left open under an output directory.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The output directory: a sink's or dead-letter output's path (s3://bucket/prefix/, gs://…, az://…, or a local directory).
    url: String,
    /// Only uploads started longer ago than this: 90s, 30m, 1h, 2d. A
    /// running pipeline's uploads are younger than its longest file takes to write.
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    older_than: Duration,
    /// The store's endpoint (an S3-compatible server); else AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Allow a plain http:// endpoint (loopback or a trusted network).
    #[arg(long)]
    allow_http: bool,
}

pub fn run(command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::Gc(args) => gc(args),
    }
}

fn gc(args: GcArgs) -> anyhow::Result<()> {
    let config = StorageConfig { endpoint: args.endpoint, allow_http: args.allow_http, ..StorageConfig::default() };
    if let Some((key, problem)) = config.problems().into_iter().next() {
        anyhow::bail!("--{}: {problem}", key.replace('_', "-"));
    }
    let location = quiver_storage::resolve(Path::new("."), &args.url, &config)?;
    let collected = super::tokio_runtime()?
        .block_on(quiver_storage::collect_garbage(&location, args.older_than))
        .with_context(|| format!("collecting garbage under {}", location.display()))?;
    for url in &collected.aborted {
        println!("aborted upload   {url}");
    }
    for path in &collected.removed {
        println!("removed staging  {path}");
    }
    println!(
        "{}: {} uploads aborted, {} staging files removed, {} younger than {} left alone",
        location.display(),
        collected.aborted.len(),
        collected.removed.len(),
        collected.young,
        humantime(args.older_than)
    );
    Ok(())
}

/// `90s`, `30m`, `1h`, `2d`.
pub(super) fn parse_age(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 =
        number.parse().map_err(|_| format!("`{text}`: write a number and a unit, as in 90s, 30m, 1h or 2d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n * seconds))
}

fn humantime(age: Duration) -> String {
    format!("{}s", age.as_secs())
}
