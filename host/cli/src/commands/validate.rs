//! `quiver validate PIPELINE.toml`: every problem of a pipeline file at
//! once, then its plugins loaded and bound where the source's schema is
//! known without reading data, and the plan printed.

use std::path::PathBuf;

use anyhow::Context;
use arrow::datatypes::Schema;
use clap::Args;
use quiver_pipeline::build_stages;
use quiver_pipeline::config::PipelineConfig;

use super::CacheArgs;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
}

pub fn run(args: ValidateArgs, cache: &CacheArgs) -> anyhow::Result<()> {
    let (config, base) = PipelineConfig::load(&args.pipeline)?;
    let runtime = cache.runtime(config.transforms.iter().any(|t| t.limits.fuel.is_some()))?;
    let failed = || format!("pipeline {} cannot run", args.pipeline.display());
    let built = super::tokio_runtime()?
        .block_on(async {
            let Some(schema) = config.source.table().known_schema(&base).await? else { return anyhow::Ok(None) };
            Ok(Some((schema.clone(), build_stages(&config, &base, &runtime, schema).await?)))
        })
        .with_context(failed)?;
    println!("{}: valid", args.pipeline.display());
    println!("{:<14}{}", "source", config.source.table().describe());
    let Some((input, (stages, output))) = built else {
        println!("{:<14}inferred from the data when it runs: the plugins are bound then", "");
        let tokio = super::tokio_runtime()?;
        for (i, t) in config.transforms.iter().enumerate() {
            if t.plugin.is_none() {
                println!("{:<14}{}", format!("transform #{}", i + 1), t.label());
                continue;
            }
            let plugin = tokio.block_on(quiver_pipeline::load_plugin(&runtime, i, t, &base)).with_context(failed)?;
            let transform = t.transform.as_deref().unwrap_or("(its only transform)");
            println!("{:<14}{transform} of {}", format!("transform #{}", i + 1), plugin.label());
        }
        print_outputs(&config);
        return Ok(());
    };
    println!("{:<14}{}", "", columns(&input));
    match quiver_pipeline::projection(&stages, &input) {
        Some(read) if config.source.table().projects() && config.pipeline.projection => {
            let names: Vec<&str> = read.iter().map(|&i| input.field(i).name().as_str()).collect();
            let skipped = input.fields().len() - read.len();
            println!(
                "{:<14}{} (the first transform reads no other; {skipped} never read)",
                "  reads",
                names.join(", ")
            );
        }
        _ => println!("{:<14}every column", "  reads"),
    }
    for stage in &stages {
        println!("{:<14}{} ({})", format!("transform #{}", stage.index() + 1), stage.name(), stage.plugin_label());
        println!("{:<14}{}", "  out", columns(stage.output_schema()));
    }
    if stages.is_empty() {
        println!("{:<14}{}", "out", columns(&output));
    }
    print_outputs(&config);
    Ok(())
}

fn print_outputs(config: &PipelineConfig) {
    println!("{:<14}{}", "sink", config.sink.table().describe());
    match &config.dead_letter {
        Some(dead) => println!("{:<14}{}, one output per transform", "dead letters", dead.table().describe()),
        None => println!("{:<14}none: a refused row fails the run", "dead letters"),
    }
}

/// `name type, ...` of a schema's columns, `?` after a nullable type.
fn columns(schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}{}", f.name(), f.data_type(), if f.is_nullable() { "?" } else { "" }))
        .collect();
    columns.join(", ")
}
