//! Out of memory as a Lua error, not an abort.
//!
//! Stock Lua raises "not enough memory" (which `pcall` catches) when `malloc` fails. mlua's
//! allocator does not: when the system refuses an allocation it calls Rust's
//! `handle_alloc_error`, which aborts the process ("memory allocation of N bytes failed").
//! The one path on which it returns NULL, so that Lua raises its memory error, is its
//! memory limit (`Lua::set_memory_limit`). So each Lua state lualchemy is installed into
//! gets a limit below what the process can still obtain: the tightest of the address-space
//! and data-segment limits (`RLIMIT_AS`, `RLIMIT_DATA`), the cgroup's memory limit and the
//! machine's RAM plus swap, less what the process already uses, less a reserve for the
//! memory Rust and SQLite take outside Lua's heap (and for the allocator's own overhead).
//! A limit also tells mlua that allocations can fail, so it creates values in protected
//! calls rather than letting a memory error unwind through Rust frames.
//!
//! What still aborts: an allocation by Rust code (a `Vec` that grows in the ORM, a driver's
//! buffer) that the system refuses once the reserve is spent, since stable Rust has no way
//! to turn a failed allocation into an error (`set_alloc_error_hook` is unstable and a
//! `#[global_allocator]` cannot unwind). SQLite's own allocations are safe: it reports
//! SQLITE_NOMEM, which is an `OperationalError`. See docs/BEHAVIOUR.md.

use std::fs;

/// Never below this reserve for the memory outside Lua's heap, however tight the limit.
const MIN_RESERVE: usize = 48 << 20;

/// The Lua heap limit for a state created now: about half of what the process can still
/// obtain (the other half covering Rust and SQLite allocations, new threads' stacks and
/// malloc arenas, and malloc's overhead on Lua's many small blocks), or `None` where the
/// platform's limits cannot be read (only Linux's are, from /proc and /sys).
pub fn lua_heap_limit() -> Option<usize> {
    let headroom = headroom()?;
    let reserve = (headroom / 2).max(MIN_RESERVE);
    // a limit too small to run anything is no use: at least 16 MiB
    Some(headroom.saturating_sub(reserve).max(16 << 20))
}

/// Gives `lua` a memory limit (`lua_heap_limit`) unless it has one already (a host's own,
/// or the sandbox's): a failed allocation in Lua becomes Lua's "not enough memory" error.
/// Does nothing for a state whose allocator mlua does not manage.
pub fn protect(lua: &mlua::Lua) {
    let Some(limit) = lua_heap_limit() else {
        return;
    };
    // `set_memory_limit` returns the previous limit: put a host's own back
    if let Ok(previous) = lua.set_memory_limit(limit) {
        if previous != 0 {
            let _ = lua.set_memory_limit(previous);
        }
    }
}

/// `limit` (the sandbox's), lowered to what the process can still obtain.
pub fn cap(limit: usize) -> usize {
    lua_heap_limit().map_or(limit, |l| l.min(limit))
}

/// What the process can still obtain, in bytes: the tightest of its limits less its use.
fn headroom() -> Option<usize> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    let vm_size = kib("VmSize:")? * 1024;
    let vm_data = kib("VmData:").unwrap_or(0) * 1024;
    let rss = kib("VmRSS:").unwrap_or(0) * 1024;
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let mut room = Vec::new();
    if let Some(l) = rlimit(&limits, "Max address space") {
        room.push(l.saturating_sub(vm_size));
    }
    if let Some(l) = rlimit(&limits, "Max data size") {
        room.push(l.saturating_sub(vm_data));
    }
    if let Some(c) = cgroup_room() {
        room.push(c);
    }
    if let Some(ram) = ram_and_swap() {
        room.push(ram.saturating_sub(rss));
    }
    room.into_iter()
        .min()
        .map(|r| r.min(usize::MAX as u64) as usize)
}

/// A soft limit of /proc/self/limits, in bytes (`None` when unlimited).
fn rlimit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// The room left under the process's cgroup memory limit (v2 `memory.max` less
/// `memory.current`, or v1 `memory.limit_in_bytes` less `memory.usage_in_bytes`).
fn cgroup_room() -> Option<u64> {
    let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: String| -> Option<u64> { fs::read_to_string(p).ok()?.trim().parse().ok() };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (base, max_file, current_file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max", "memory.current")
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                "/sys/fs/cgroup/memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        } else {
            continue;
        };
        // the process's own cgroup, or (in a container, whose cgroup namespace mounts it
        // as the root) the mount's root
        for dir in [format!("{base}{path}"), base.to_string()] {
            let max = read(format!("{dir}/{max_file}"));
            let current = read(format!("{dir}/{current_file}"));
            // "max" (v2) does not parse; v1 writes its "unlimited" as a huge number
            if let (Some(max), Some(current)) = (max, current) {
                if max < 1 << 60 {
                    return Some(max.saturating_sub(current));
                }
                break;
            }
        }
    }
    None
}

/// The machine's RAM plus swap, in bytes.
fn ram_and_swap() -> Option<u64> {
    let info = fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |field: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    Some((kib("MemTotal:")? + kib("SwapTotal:").unwrap_or(0)) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_soft_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max data size             unlimited            unlimited            bytes\n\
                      Max address space         400000000            unlimited            bytes\n";
        assert_eq!(rlimit(limits, "Max address space"), Some(400_000_000));
        assert_eq!(rlimit(limits, "Max data size"), None);
    }

    #[test]
    fn a_limit_on_linux_leaves_a_reserve() {
        if let (Some(room), Some(limit)) = (headroom(), lua_heap_limit()) {
            assert!(limit <= room.max(16 << 20));
            assert!(limit >= 16 << 20);
        }
    }
}
