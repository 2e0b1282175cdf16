//! `quiver plugin new | build | inspect | test`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::util::pretty::pretty_format_batches;
use clap::{Args, Subcommand};
use quiver_pipeline::format::Format;
use quiver_pipeline::source::{FileSource, FileSourceConfig};
use quiver_runtime::{Pool, PoolOptions};

use super::CacheArgs;
use quiver_toolchains::{self as project, Lang};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a plugin project that builds and passes its own test as it is.
    New(NewArgs),
    /// Build a plugin project (Rust crate, Python, JavaScript or C project) into a component; prints its path last.
    Build(BuildArgs),
    /// Show what a plugin describes: transforms, kinds, configuration keys.
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// Run a plugin on a file and print the output and the rejected rows as tables.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The language of the plugin.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The project's directory, created; its last component names the plugin.
    path: PathBuf,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin project: its directory (or a Rust crate's Cargo.toml).
    path: PathBuf,
    /// Rust: the cargo profile to build with.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Where to write the component (default: the project's own build output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A component (.wasm) to run on `--input`; or a plugin project's
    /// directory, to run the project's own tests.
    file: PathBuf,
    /// Input data: .parquet, .arrow/.arrows/.ipc, .csv, or .jsonl/.json/.ndjson.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The transform, where the plugin offers several.
    #[arg(long)]
    transform: Option<String>,
    /// A configuration entry, `key=value`; repeat for more.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Rows of input to use.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn run(command: PluginCommand, cache: &CacheArgs) -> anyhow::Result<()> {
    match command {
        PluginCommand::New(args) => {
            project::create(args.lang, &args.path)?;
            println!("created {}: build it with `quiver plugin build {0}`", args.path.display());
            Ok(())
        }
        PluginCommand::Build(args) => {
            let built = project::build(&args.path, &args.profile, args.out.as_deref())?;
            println!("{}", built.display());
            Ok(())
        }
        PluginCommand::Inspect { file } => inspect(&file, cache),
        PluginCommand::Test(args) if args.file.is_dir() => project::test(&args.file),
        PluginCommand::Test(args) => test(args, cache),
    }
}

fn inspect(file: &Path, cache: &CacheArgs) -> anyhow::Result<()> {
    let runtime = cache.runtime(false)?;
    let plugin = runtime.load(file)?;
    let info = plugin.info();
    let size = std::fs::metadata(file)?.len();
    println!("plugin      {} {}", info.name, info.version);
    println!("about       {}", info.description);
    println!("contract    quiver:transform@{}", plugin.contract());
    println!("file        {} ({} bytes)", file.display(), size);
    println!("sha256      {}", plugin.sha256());
    for t in &info.transforms {
        println!();
        println!("transform   {} ({})", t.name, t.kind.as_str());
        println!("            {}", t.description);
        if t.config_keys.is_empty() {
            println!("  config    (none)");
        }
        for k in &t.config_keys {
            let mut notes = Vec::new();
            if k.required {
                notes.push("required".to_string());
            }
            if let Some(d) = &k.default {
                notes.push(format!("default {d:?}"));
            }
            let notes = if notes.is_empty() { String::new() } else { format!(" [{}]", notes.join(", ")) };
            println!("  config    {}{notes}: {}", k.name, k.description);
        }
    }
    Ok(())
}

/// The input format of a file, from its extension.
fn format_of(path: &Path) -> anyhow::Result<Format> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    Ok(match ext.as_str() {
        "parquet" | "pq" => Format::Parquet,
        "arrow" | "arrows" | "ipc" | "feather" => Format::Ipc,
        "csv" => Format::Csv,
        "json" | "jsonl" | "ndjson" => Format::Jsonl,
        _ => bail!(
            "cannot tell the format of {} from its extension; use .parquet, .arrow, .csv or .jsonl",
            path.display()
        ),
    })
}

fn test(args: TestArgs, cache: &CacheArgs) -> anyhow::Result<()> {
    let mut config = Vec::new();
    for entry in &args.set {
        let (k, v) = entry.split_once('=').with_context(|| format!("--set {entry}: write KEY=VALUE"))?;
        config.push((k.to_string(), v.to_string()));
    }
    let runtime = cache.runtime(false)?;
    let plugin = runtime.load(&args.file)?;
    let input = args.input.as_deref().with_context(|| {
        format!("--input is needed to test the component {}: the rows to run it on", args.file.display())
    })?;
    let input = read_input(input, args.limit)?;
    let pool = Pool::new(
        plugin,
        args.transform.as_deref(),
        config,
        input.schema(),
        PoolOptions { max_instances: 1, ..PoolOptions::default() },
    )?;
    let output = pool.get()?.process(&input)?;
    let mut outputs = vec![output.batch];
    outputs.extend(pool.finish()?.into_iter().map(|o| o.batch));
    let all = concat_batches(pool.output_schema(), &outputs)?;
    println!("output: {} rows", all.num_rows());
    println!("{}", pretty_format_batches(&[all])?);
    let rows: Vec<u32> = output.rejections.iter().map(|r| r.row).collect();
    println!("rejected: {} rows", rows.len());
    if !rows.is_empty() {
        let taken = take_record_batch(&input, &UInt32Array::from(rows.clone()))?;
        let mut columns: Vec<(String, ArrayRef)> = vec![
            ("row".into(), std::sync::Arc::new(UInt32Array::from(rows)) as ArrayRef),
            (
                "reason".into(),
                std::sync::Arc::new(StringArray::from_iter_values(output.rejections.iter().map(|r| r.reason.as_str()))),
            ),
        ];
        columns.extend(taken.schema().fields().iter().zip(taken.columns()).map(|(f, c)| (f.name().clone(), c.clone())));
        println!("{}", pretty_format_batches(&[RecordBatch::try_from_iter(columns)?])?);
    }
    Ok(())
}

/// Reads the first `limit` rows of a file.
fn read_input(path: &Path, limit: usize) -> anyhow::Result<RecordBatch> {
    let config = FileSourceConfig {
        format: format_of(path)?,
        path: path.to_string_lossy().into_owned(),
        batch_rows: limit.clamp(1, 65_536),
        schema: Vec::new(),
        infer_rows: 1000,
        header: true,
        delimiter: ',',
        storage: Default::default(),
    };
    super::tokio_runtime()?.block_on(async {
        let source = FileSource::open(&config, Path::new(".")).await?;
        let schema = source.schema().clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(source.read(tx));
        let mut batches = Vec::new();
        let mut rows = 0;
        while rows < limit {
            match rx.recv().await {
                Some(batch) => {
                    let batch = batch?.batch;
                    rows += batch.num_rows();
                    batches.push(batch);
                }
                None => break,
            }
        }
        reader.abort();
        let all = concat_batches(&schema, &batches)?;
        Ok(all.slice(0, limit.min(all.num_rows())))
    })
}
