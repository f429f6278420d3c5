//! `tracebus-tools`: command-line entry point; the work is in the library.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tracebus-tools",
    version,
    about = "Operator tooling for tracebus: nkeys, JWTs, creds, config, push, load benchmark"
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
    #[command(flatten)]
    Trust(tracebus_tools::trust::TrustCommand),
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
        Command::Trust(cmd) => match tracebus_tools::trust::run(cmd) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
    };
    std::process::exit(code);
}
