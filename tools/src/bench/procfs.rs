//! What the benchmark reads about the *server* process from `/proc`, and the
//! file-descriptor limit it needs for itself.
//!
//! Server CPU time comes from `/proc/PID/task/*/schedstat`, whose first field
//! is the nanoseconds each thread has spent on a CPU. Summed over threads it
//! covers every runtime thread of either server (Go's Ms or tokio workers),
//! at scheduler resolution rather than the 10 ms ticks of `/proc/PID/stat`.

use std::path::Path;

use anyhow::{Context, Result};

/// Total on-CPU nanoseconds of all threads of `pid`, live ones only (a
/// thread that exited during the run takes its time with it; neither
/// server spawns short-lived threads on the message path).
pub fn cpu_ns(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path().join("schedstat");
        // A thread may exit between listing and reading: skip it.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += first_field(&text).with_context(|| format!("parsing {}", path.display()))?;
    }
    Ok(total)
}

fn first_field(text: &str) -> Result<u64> {
    let field = text.split_whitespace().next().context("empty schedstat")?;
    Ok(field.parse()?)
}

/// Resident set size of `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&text).with_context(|| format!("no VmRSS in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether `pid` names a live process (checked before a run so a wrong
/// `--server-pid` fails at once instead of after the measurement).
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft
/// limit; the `conns` scenario holds one socket per simulated client.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(exists(pid));
        assert!(cpu_ns(pid).unwrap() > 0);
        assert!(rss_bytes(pid).unwrap() > 0);
    }

    #[test]
    fn parses_fields() {
        assert_eq!(first_field("123456 789 10\n").unwrap(), 123456);
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t    2048 kB\nThreads: 1\n"),
            Some(2 * 1024 * 1024)
        );
    }
}
