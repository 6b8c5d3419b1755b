//! What this machine has, as the kernel reports it (`/proc/meminfo`): read by the config for
//! its defaults and by the local engine before a load. Imports nothing of Hearth's.

/// The machine's memory (`MemTotal`), if the system says.
pub fn memory_total() -> Option<u64> {
    meminfo("MemTotal:")
}

/// Memory the system could give a process now (`MemAvailable`), if it says.
pub fn memory_available() -> Option<u64> {
    meminfo("MemAvailable:")
}

fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
