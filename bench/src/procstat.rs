//! CPU time and memory of processes and threads, read from Linux `/proc` (proc(5)).
//!
//! This process's own CPU time comes from `getrusage(2)` (microseconds, through `nix`: the
//! crate forbids `unsafe`); another process's from `/proc/<pid>/stat` (utime + stime of every
//! thread, dead ones included, in clock ticks), and
//! `/proc/<pid>/task/*/schedstat` gives per-thread on-CPU nanoseconds for a breakdown by thread
//! name (tokio workers, the store's writer thread, ...). Parsers are pure functions over the
//! file text so they are unit-tested without a live process.

use std::collections::BTreeMap;
use std::path::Path;

/// `USER_HZ`: clock ticks per second in `/proc/*/stat` (100 on every mainstream Linux ABI).
pub const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// Why a `/proc` file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file did not have the expected layout.
    #[error("unexpected layout of {path}: {what}")]
    Layout {
        /// The file.
        path: String,
        /// What was missing.
        what: &'static str,
    },
}

fn read(path: &str) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| ProcError::Read {
        path: path.to_string(),
        source,
    })
}

/// User and system CPU time of a process (or thread), in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuTimes {
    /// User time, seconds.
    pub user_s: f64,
    /// System time, seconds.
    pub sys_s: f64,
}

impl CpuTimes {
    /// User + system.
    pub fn total_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
        }
    }
}

/// The `comm` name and the fields after it of a `/proc/*/stat` line (proc(5): the name is in
/// parentheses and may itself contain spaces and parentheses, so split at the last `)`).
pub fn split_stat(text: &str) -> Option<(&str, Vec<&str>)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let name = &text[open + 1..close];
    let rest = text.get(close + 2..).unwrap_or("");
    Some((name, rest.split_whitespace().collect()))
}

/// utime and stime (fields 14 and 15 of proc(5), indexes 11 and 12 after the name) of a
/// `/proc/*/stat` line, in seconds.
pub fn parse_stat_cpu(text: &str) -> Option<CpuTimes> {
    let (_, f) = split_stat(text)?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(CpuTimes {
        user_s: utime as f64 / CLOCK_TICKS_PER_SEC,
        sys_s: stime as f64 / CLOCK_TICKS_PER_SEC,
    })
}

/// CPU time of process `pid` (all its threads, including exited ones).
pub fn process_cpu(pid: u32) -> Result<CpuTimes, ProcError> {
    let path = format!("/proc/{pid}/stat");
    let text = read(&path)?;
    parse_stat_cpu(&text).ok_or(ProcError::Layout {
        path,
        what: "utime/stime",
    })
}

/// CPU time of this process, to the microsecond (`getrusage(2)`, through `nix`'s safe
/// wrapper): `/proc/self/stat` counts in 10 ms ticks, half a microsecond per message over a
/// 20,000-message run.
pub fn self_cpu() -> Result<CpuTimes, ProcError> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(|e| ProcError::Read {
        path: "getrusage(RUSAGE_SELF)".into(),
        source: e.into(),
    })?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(CpuTimes {
        user_s: seconds(usage.user_time()),
        sys_s: seconds(usage.system_time()),
    })
}

/// A `kB` value of `/proc/*/status` (e.g. `VmHWM`, `VmRSS`).
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Peak resident set size (`VmHWM`) and current RSS (`VmRSS`) of process `pid`, in kB.
pub fn memory_kb(pid: u32) -> Result<(u64, u64), ProcError> {
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    let hwm = parse_status_kb(&text, "VmHWM").ok_or(ProcError::Layout {
        path: path.clone(),
        what: "VmHWM",
    })?;
    let rss = parse_status_kb(&text, "VmRSS").ok_or(ProcError::Layout {
        path,
        what: "VmRSS",
    })?;
    Ok((hwm, rss))
}

/// Thread-name group of a thread: names that end in digits (`tokio-runtime-worker`,
/// `sim-3`...) are grouped under their stem.
pub fn thread_group(name: &str) -> String {
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
        .to_string()
}

/// On-CPU nanoseconds of this process's live threads, summed per [`thread_group`]. Threads that
/// exited are missing (the process total from [`self_cpu`] still has them).
pub fn self_threads_cpu_ns() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let p = entry.path();
        let Some((name, ns)) = thread_cpu_ns(&p) else {
            continue;
        };
        *out.entry(thread_group(&name)).or_insert(0) += ns;
    }
    out
}

/// On-CPU nanoseconds of the calling thread (`/proc/thread-self`), as
/// [`self_threads_cpu_ns`] reads every thread.
pub fn current_thread_cpu_ns() -> Option<u64> {
    thread_cpu_ns(Path::new("/proc/thread-self")).map(|(_, ns)| ns)
}

fn thread_cpu_ns(task: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let (name, _) = split_stat(&stat)?;
    let ns = match std::fs::read_to_string(task.join("schedstat")) {
        Ok(s) => s.split_whitespace().next()?.parse().ok()?,
        Err(_) => (parse_stat_cpu(&stat)?.total_s() * 1e9) as u64,
    };
    Some((name.to_string(), ns))
}

/// The whole machine's CPU ticks by kind, from the `cpu` line of `/proc/stat` (proc(5)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostTicks {
    /// Every tick: user, nice, system, idle, iowait, irq, softirq, steal.
    pub total: u64,
    /// Idle with I/O outstanding: a slow disk.
    pub iowait: u64,
    /// Taken by the hypervisor for other guests: a noisy neighbour.
    pub steal: u64,
}

impl HostTicks {
    /// Shares of `self - earlier` spent in iowait and steal, in % of all CPUs' time.
    pub fn iowait_steal_percent(&self, earlier: &HostTicks) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        (
            self.iowait.saturating_sub(earlier.iowait) as f64 * 100.0 / total,
            self.steal.saturating_sub(earlier.steal) as f64 * 100.0 / total,
        )
    }
}

/// The aggregate `cpu` line of `/proc/stat` text (guest time is already inside user).
pub fn parse_host_ticks(text: &str) -> Option<HostTicks> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    (f.len() == 8).then(|| HostTicks {
        total: f.iter().sum(),
        iowait: f[4],
        steal: f[7],
    })
}

/// The machine's CPU ticks now.
pub fn host_ticks() -> Result<HostTicks, ProcError> {
    let path = "/proc/stat";
    parse_host_ticks(&read(path)?).ok_or(ProcError::Layout {
        path: path.to_string(),
        what: "cpu line",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ticks_read_iowait_and_steal_from_the_cpu_line() {
        let text = "cpu  100 5 50 800 30 2 3 10 0 0\ncpu0 50 2 25 400 15 1 1 5 0 0\nintr 1\n";
        let t = parse_host_ticks(text).expect("cpu line");
        assert_eq!(
            t,
            HostTicks {
                total: 1000,
                iowait: 30,
                steal: 10
            }
        );
        let before = HostTicks {
            total: 500,
            iowait: 10,
            steal: 10,
        };
        assert_eq!(t.iowait_steal_percent(&before), (4.0, 0.0));
        assert_eq!(parse_host_ticks("cpu  1 2 3\n"), None, "too few fields");
        assert_eq!(parse_host_ticks("intr 1\n"), None);
    }

    const STAT: &str = "4242 (tokio (x) 1) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 \
                        5 0 12345 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";

    #[test]
    fn stat_name_with_parentheses_and_cpu() {
        let (name, f) = split_stat(STAT).unwrap();
        assert_eq!(name, "tokio (x) 1");
        assert_eq!(f[0], "S");
        let c = parse_stat_cpu(STAT).unwrap();
        assert!((c.user_s - 2.5).abs() < 1e-9 && (c.sys_s - 0.37).abs() < 1e-9);
        assert!((c.total_s() - 2.87).abs() < 1e-9);
    }

    #[test]
    fn bad_stat_is_none_not_panic() {
        assert_eq!(parse_stat_cpu(""), None);
        assert_eq!(parse_stat_cpu("12 (x"), None);
        assert_eq!(parse_stat_cpu("12 ) x ("), None);
        assert_eq!(parse_stat_cpu("12 (x) S 1 2"), None);
    }

    #[test]
    fn status_kb() {
        let s = "Name:\tgw\nVmPeak:\t  9000 kB\nVmHWM:\t   5120 kB\nVmRSS:\t 4096 kB\n";
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn groups_strip_numeric_suffixes() {
        assert_eq!(thread_group("tokio-runtime-worker"), "tokio-runtime-worker");
        assert_eq!(thread_group("sim-3"), "sim");
        assert_eq!(thread_group("store-writer"), "store-writer");
    }

    #[test]
    fn own_cpu_time_is_finer_than_a_tick_and_agrees_with_proc() {
        let busy = |d: std::time::Duration| {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < d {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        };
        // Other tests run beside this one: what is compared is this process's whole CPU time,
        // over at least 0.1 s of it (however busy the machine, within 20 s).
        let (fine0, ticks0) = (
            self_cpu().unwrap(),
            process_cpu(std::process::id()).unwrap(),
        );
        let started = std::time::Instant::now();
        while self_cpu().unwrap().since(&fine0).total_s() < 0.1
            && started.elapsed() < std::time::Duration::from_secs(20)
        {
            busy(std::time::Duration::from_millis(10));
        }
        let (fine1, ticks1) = (
            self_cpu().unwrap(),
            process_cpu(std::process::id()).unwrap(),
        );
        let (fine, ticks) = (
            fine1.since(&fine0).total_s(),
            ticks1.since(&ticks0).total_s(),
        );
        assert!(fine >= 0.1, "{fine} s of CPU in 20 s of busy loop");
        assert!(
            (fine - ticks).abs() <= 0.03,
            "getrusage {fine} s, /proc {ticks} s"
        );
        // Not a multiple of the 10 ms tick, as /proc's is.
        let mut seen_fine = false;
        for _ in 0..5 {
            let a = self_cpu().unwrap();
            busy(std::time::Duration::from_micros(1500));
            let d = self_cpu().unwrap().since(&a).total_s();
            seen_fine |= d > 0.0 && (d * 100.0 - (d * 100.0).round()).abs() > 1e-6;
        }
        assert!(seen_fine, "getrusage only moved in whole ticks");
    }

    #[test]
    fn live_process_reads() {
        let c = self_cpu().unwrap();
        assert!(c.total_s() >= 0.0);
        let (hwm, rss) = memory_kb(std::process::id()).unwrap();
        assert!(hwm >= rss && rss > 0, "hwm {hwm} rss {rss}");
        assert!(!self_threads_cpu_ns().is_empty());
        let later = CpuTimes {
            user_s: c.user_s + 1.0,
            sys_s: c.sys_s + 0.5,
        };
        assert!((later.since(&c).total_s() - 1.5).abs() < 1e-9);
    }
}
