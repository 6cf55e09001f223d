//! Process figures read from `/proc/self` at scrape time (Linux; elsewhere
//! they are simply absent).

/// Resident memory in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Open file descriptors (entries of `/proc/self/fd`).
pub fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    // The directory handle itself is one of them.
    Some((entries.count() as u64).saturating_sub(1))
}

/// Tasks alive in the current Tokio runtime (none outside one).
pub fn tasks_alive() -> Option<u64> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.metrics().num_alive_tasks() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(super::resident_memory_bytes().is_some_and(|b| b > 1024 * 1024));
            assert!(super::open_fds().is_some_and(|n| n >= 3));
        }
        assert_eq!(super::tasks_alive(), None);
    }
}
