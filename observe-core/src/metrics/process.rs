//! The process metrics every Prometheus client library exposes, read from `/proc`
//! when `/metrics` is scraped (Linux only; elsewhere they are absent).
//!
//! | metric | source |
//! | --- | --- |
//! | `process_cpu_seconds_total` | `/proc/self/stat` utime + stime, in clock ticks (`AT_CLKTCK`) |
//! | `process_resident_memory_bytes` | `/proc/self/stat` rss, in pages (`AT_PAGESZ`) |
//! | `process_open_fds` | entries of `/proc/self/fd` |
//! | `process_max_fds` | the soft "Max open files" of `/proc/self/limits` (absent when unlimited) |
//! | `process_start_time_seconds` | `/proc/self/stat` starttime after `btime` of `/proc/stat` |
//!
//! The clock tick and page size come from the auxiliary vector (`/proc/self/auxv`),
//! so no C library call is needed. A value that cannot be read is left out.

/// One reading of the process's resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<u64>,
    pub(crate) open_fds: Option<u64>,
    pub(crate) max_fds: Option<u64>,
    pub(crate) start_time_seconds: Option<f64>,
}

/// Reads the process's resources (`None` where `/proc` does not exist).
pub(crate) fn read() -> Option<ProcessStats> {
    #[cfg(target_os = "linux")]
    {
        linux::read()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::OnceLock;

    use super::ProcessStats;

    const AT_PAGESZ: usize = 6;
    const AT_CLKTCK: usize = 17;

    /// (clock ticks per second, page size), from the auxiliary vector.
    fn aux() -> (u64, u64) {
        static AUX: OnceLock<(u64, u64)> = OnceLock::new();
        *AUX.get_or_init(|| {
            let mut tick = 100;
            let mut page = 4096;
            if let Ok(raw) = std::fs::read("/proc/self/auxv") {
                const W: usize = std::mem::size_of::<usize>();
                for pair in raw.chunks_exact(2 * W) {
                    let word = |b: &[u8]| {
                        let mut a = [0u8; W];
                        a.copy_from_slice(b);
                        usize::from_ne_bytes(a)
                    };
                    let (key, value) = (word(&pair[..W]), word(&pair[W..]));
                    match key {
                        AT_CLKTCK if value > 0 => tick = value as u64,
                        AT_PAGESZ if value > 0 => page = value as u64,
                        _ => {}
                    }
                }
            }
            (tick, page)
        })
    }

    fn boot_time() -> Option<u64> {
        static BTIME: OnceLock<Option<u64>> = OnceLock::new();
        *BTIME.get_or_init(|| {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            stat.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    pub(super) fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (tick, page) = aux();
        // Fields after the command name (which may contain spaces and parentheses):
        // index 0 is field 3 (state) of proc(5).
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let cpu_seconds = match (field(14), field(15)) {
            (Some(u), Some(s)) => Some((u + s) as f64 / tick as f64),
            _ => None,
        };
        let resident_bytes = field(24).map(|pages| pages.saturating_mul(page));
        let start_time_seconds = match (boot_time(), field(22)) {
            (Some(b), Some(start)) => Some(b as f64 + start as f64 / tick as f64),
            _ => None,
        };
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                let line = l.lines().find(|l| l.starts_with("Max open files"))?;
                line["Max open files".len()..]
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
        Some(ProcessStats {
            cpu_seconds,
            resident_bytes,
            open_fds,
            max_fds,
            start_time_seconds,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = read().expect("linux has /proc");
        let rss = s.resident_bytes.unwrap();
        assert!(rss > 1 << 20, "{rss}");
        // Other tests open and close files at the same time, so only a floor.
        let fds = s.open_fds.unwrap();
        assert!(fds >= 3, "{fds}");
        assert!(s.max_fds.unwrap_or(u64::MAX) >= fds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start}"
        );
        assert!(s.cpu_seconds.unwrap() >= 0.0);
        assert!(read().unwrap().cpu_seconds.unwrap() >= s.cpu_seconds.unwrap());
    }
}
