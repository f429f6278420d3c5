//! `tracebus --signal <cmd>[=<pid>]` (nats-server `-sl`): sends a signal to a
//! running tracebus. Part of the binary, not the library.
//!
//! Commands map to signals as in nats-server: `ldm` → SIGUSR2 (lame duck
//! mode), `quit` → SIGINT, `stop` → SIGKILL, `term` → SIGTERM, `reopen` →
//! SIGUSR1, `reload` → SIGHUP. The target is `=<pid>`, `=<pid file>`, the pid
//! file from `-P` or the configuration file, or else the one running process
//! named `tracebus` (nats-server looks its process up by name the same way).
//! tracebus does not implement `reload` and `reopen`: the signal is sent, and
//! both this command and the server say that nothing happens.

use std::path::Path;
use std::process::ExitCode;

use tracebus::config::cli::Cli;
use tracebus::config::Options;

/// The signal for a `--signal` command.
fn signal_for(cmd: &str) -> Option<i32> {
    Some(match cmd {
        "ldm" => libc::SIGUSR2,
        "quit" => libc::SIGINT,
        "stop" => libc::SIGKILL,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        _ => return None,
    })
}

/// Runs `--signal`: returns the process exit code.
pub fn send(spec: &str, cli: &Cli) -> ExitCode {
    let (cmd, target) = match spec.split_once('=') {
        Some((c, t)) => (c, Some(t)),
        None => (spec, None),
    };
    let cmd = cmd.to_ascii_lowercase();
    let Some(sig) = signal_for(&cmd) else {
        eprintln!(
            "tracebus: unknown signal \"{cmd}\" (use ldm, quit, stop, term, reopen or reload)"
        );
        return ExitCode::FAILURE;
    };
    let pid = match resolve_pid(target, cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tracebus: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: kill(2) only sends a signal; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        eprintln!("tracebus: cannot send {cmd} to process {pid}: {err}");
        return ExitCode::FAILURE;
    }
    match cmd.as_str() {
        "reload" => eprintln!(
            "tracebus: sent SIGHUP to {pid}; note that tracebus does not implement configuration reload: the server logs the signal and keeps its configuration"
        ),
        "reopen" => eprintln!(
            "tracebus: sent SIGUSR1 to {pid}; note that tracebus does not implement log reopening: the server logs the signal and keeps its log file"
        ),
        _ => {}
    }
    ExitCode::SUCCESS
}

fn resolve_pid(target: Option<&str>, cli: &Cli) -> Result<i32, String> {
    if let Some(t) = target {
        if let Ok(pid) = t.trim().parse::<i32>() {
            return positive(pid);
        }
        return read_pid_file(Path::new(t));
    }
    if let Some(p) = &cli.pid_file {
        return read_pid_file(p);
    }
    if let Some(conf) = &cli.config {
        let opts = Options::from_file(conf).map_err(|e| e.to_string())?;
        if let Some(p) = &opts.pid_file {
            return read_pid_file(p);
        }
    }
    find_by_name()
}

fn positive(pid: i32) -> Result<i32, String> {
    if pid > 0 {
        Ok(pid)
    } else {
        Err(format!("invalid pid {pid}"))
    }
}

fn read_pid_file(path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read pid file {}: {e}", path.display()))?;
    let pid = text
        .trim()
        .parse::<i32>()
        .map_err(|_| format!("pid file {} does not hold a pid", path.display()))?;
    positive(pid)
}

/// The single other running process called `tracebus` (from /proc).
fn find_by_name() -> Result<i32, String> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let dir = std::fs::read_dir("/proc")
        .map_err(|e| format!("no pid given and cannot list processes: {e}"))?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            if comm.trim() == "tracebus" {
                found.push(pid);
            }
        }
    }
    match found.as_slice() {
        [pid] => Ok(*pid),
        [] => {
            Err("no tracebus process is running (give one: --signal ldm=<pid or pid file>)".into())
        }
        many => {
            let list: Vec<String> = many.iter().map(i32::to_string).collect();
            Err(format!(
                "multiple tracebus processes are running: {}; give one with --signal <cmd>=<pid>",
                list.join(", ")
            ))
        }
    }
}
