//! `quiver demo`: the README's main job.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use quiver_pipeline::config::PipelineConfig;
use quiver_pipeline::demo::{clickstream, clickstream_schema, demo_countries};
use quiver_pipeline::{self as pipeline, Progress};

use super::CacheArgs;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the data, the pipeline file and the output go.
    #[arg(long, default_value = "demo-output")]
    dir: PathBuf,
    /// Rows of sample clickstream.
    #[arg(long, default_value_t = 2_000_000)]
    rows: u64,
    /// Rows per generated Parquet file.
    #[arg(long, default_value_t = 500_000)]
    rows_per_file: u64,
    /// A directory holding validate.wasm and enrich.wasm; by default they
    /// are built from this repository's plugins/rust.
    #[arg(long)]
    plugins: Option<PathBuf>,
}

pub fn run(args: DemoArgs, cache: &CacheArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir)?;
    let (validate, enrich) = plugins(args.plugins.as_deref())?;
    let data = dir.join("data").join("clicks");
    generate(&data, args.rows, args.rows_per_file.max(1))?;
    let pipeline = dir.join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_text(&validate, &enrich))?;
    eprintln!("running {}", pipeline.display());
    let (config, base) = PipelineConfig::load(&pipeline)?;
    let runtime = cache.runtime(false)?;
    let summary = super::tokio_runtime()?.block_on(async {
        let mut progress = Progress::new(true);
        pipeline::run(&config, &base, runtime, &mut progress, tokio::sync::watch::channel(false).1).await
    })?;
    super::run::print_summary(&summary);
    println!(
        "output in {}, rejected rows in {}",
        dir.join("out/enriched").display(),
        dir.join("out/dead-letter").display()
    );
    Ok(())
}

fn plugins(dir: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some(dir) = dir {
        return Ok((std::path::absolute(dir.join("validate.wasm"))?, std::path::absolute(dir.join("enrich.wasm"))?));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("plugins").join("rust");
    if !repo.is_dir() {
        anyhow::bail!(
            "pass --plugins DIR with validate.wasm and enrich.wasm (this quiver was built outside its repository)"
        );
    }
    eprintln!("building the validate and enrich plugins");
    let validate = quiver_toolchains::build_rust(&repo.join("validate"), "plugin")?;
    let enrich = quiver_toolchains::build_rust(&repo.join("enrich"), "plugin")?;
    Ok((validate, enrich))
}

fn generate(dir: &Path, rows: u64, rows_per_file: u64) -> anyhow::Result<()> {
    let done = dir.join(format!("_GENERATED-{rows}-{rows_per_file}"));
    if done.exists() {
        eprintln!("using the sample data in {}", dir.display());
        return Ok(());
    }
    eprintln!("generating {rows} rows of sample clickstream in {}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut first = 0;
    let mut part = 0;
    while first < rows {
        let n = rows_per_file.min(rows - first);
        let file = std::fs::File::create(dir.join(format!("part-{part:04}.parquet")))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, clickstream_schema(), Some(props.clone()))?;
        let mut at = first;
        while at < first + n {
            let chunk = (first + n - at).min(65_536);
            writer.write(&clickstream(at, chunk as usize))?;
            at += chunk;
        }
        writer.close()?;
        first += n;
        part += 1;
    }
    std::fs::write(&done, b"").context("marking the sample data complete")?;
    Ok(())
}

fn pipeline_text(validate: &Path, enrich: &Path) -> String {
    format!(
        r#"# Written by `quiver demo`.
[source]
format = "parquet"
path = "data/clicks/"
batch_rows = 65536

[[transform]]
plugin = "{validate}"
config = {{ required = "event_id,user_id,ts", "allowed.country" = "{countries}", "range.duration_ms" = "..86400000" }}

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
format = "parquet"
path = "out/enriched/"
mode = "overwrite"

[dead_letter]
format = "parquet"
path = "out/dead-letter/"
mode = "overwrite"
"#,
        validate = validate.display(),
        enrich = enrich.display(),
        countries = demo_countries(),
    )
}
