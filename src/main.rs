//! The `tracebus` binary: flags → options → `Server::start`, logging, pid file,
//! signals. Everything else lives in the library.

use std::process::ExitCode;

use tracebus::config::cli::Cli;
use tracebus::config::Options;
use tracebus::server::{Server, ServerHandle};
use tracing_subscriber::EnvFilter;

mod signal;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if let Some(spec) = cli.signal.clone() {
        return signal::send(&spec, &cli);
    }
    if cli.test_config {
        return cli.run_config_test();
    }
    let opts = match cli.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tracebus: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = init_logging(&opts) {
        eprintln!("tracebus: cannot open log file: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tracebus: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(opts))
}

async fn run(opts: Options) -> ExitCode {
    // Handlers go in before anything can report readiness, so a signal sent
    // right after "Server is ready" is handled, not fatal.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pid_file = opts.pid_file.clone();
    // Written before start-up completes so that anything waiting for "Server is
    // ready" finds the pid file already there.
    if let Some(path) = &pid_file {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            tracing::error!("cannot write pid file {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let server = match Server::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            if let Some(path) = &pid_file {
                let _ = std::fs::remove_file(path);
            }
            return ExitCode::FAILURE;
        }
    };
    signals.serve(&server).await;
    server.shutdown().await;
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}

/// The signals the server handles, installed once at start-up.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            usr2: signal(SignalKind::user_defined2())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    /// Handles signals until the server must shut down: SIGINT at any time;
    /// SIGTERM unless in lame duck mode (nats-server ignores it then); the end
    /// of lame duck mode (SIGUSR2). SIGHUP (reload) and SIGUSR1 (reopen log)
    /// are not implemented: logged and ignored.
    async fn serve(&mut self, server: &ServerHandle) {
        let mut ldm: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> = None;
        loop {
            tokio::select! {
                _ = self.int.recv() => {
                    tracing::info!("Trapped \"interrupt\" signal");
                    return;
                }
                _ = self.term.recv() => {
                    if server.is_lame_duck() {
                        tracing::info!("Trapped \"terminated\" signal: ignored in lame duck mode (SIGINT stops now)");
                        continue;
                    }
                    tracing::info!("Trapped \"terminated\" signal");
                    return;
                }
                _ = self.usr2.recv() => {
                    if ldm.is_none() {
                        tracing::info!("Trapped \"user defined signal 2\" signal: entering lame duck mode");
                        ldm = Some(Box::pin(server.lame_duck()));
                    }
                }
                _ = self.hup.recv() => {
                    tracing::warn!("Trapped \"hangup\" signal: configuration reload is not implemented in tracebus; nothing was reloaded");
                }
                _ = self.usr1.recv() => {
                    tracing::warn!("Trapped \"user defined signal 1\" signal: reopening the log file is not implemented in tracebus; nothing was reopened");
                }
                _ = async { ldm.as_mut().expect("guarded").await }, if ldm.is_some() => {
                    tracing::info!("Lame duck mode done, shutting down");
                    return;
                }
            }
        }
    }
}

fn init_logging(opts: &Options) -> std::io::Result<()> {
    let level = if opts.trace {
        "trace"
    } else if opts.debug {
        "debug"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_env("TRACEBUS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match (&opts.log_file, opts.logtime) {
        (Some(path), true) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        (Some(path), false) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            builder
                .with_ansi(false)
                .without_time()
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        (None, true) => builder.with_writer(std::io::stderr).init(),
        (None, false) => builder.without_time().with_writer(std::io::stderr).init(),
    }
    Ok(())
}
