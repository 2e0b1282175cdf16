//! The `quiver` command.

use std::process::ExitCode;

use clap::Parser;

mod commands;

fn main() -> ExitCode {
    let args = commands::Cli::parse();
    commands::init_logging(args.verbose);
    match commands::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
