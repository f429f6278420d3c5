//! `tracebus-tools`: command-line entry point; the work is in the library.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tracebus-tools",
    version,
    about = "Operator tooling for tracebus"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load benchmark for NATS-protocol servers (tracebus, nats-server).
    #[command(subcommand)]
    Bench(tracebus_tools::bench::BenchCmd),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Command::Bench(cmd) => match tracebus_tools::bench::main(cmd) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                2
            }
        },
    };
    std::process::exit(code);
}
