//! The reference workloads W1-W8 (benches/workload_defs.lua) on a database server, timed by
//! the wall clock: a server's share of the work happens in its own process, which the
//! CPU-time clock of benches/workloads.lua would not see. Prints the reference line format
//! (`cpu_seconds` is this process's CPU time), beside benches/sqlalchemy_server.py.
//!
//! Run: cargo run --release --example server_workloads -- SCALE W1,W2,... URL

use std::time::Instant;

use mlua::{Function, Lua, MultiValue, Table};

const DEFS: &str = include_str!("../benches/workload_defs.lua");

/// This process's CPU seconds (user + system), from /proc on Linux; 0 elsewhere.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name, which ends with ')'
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> mlua::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let only = args.get(1).cloned().unwrap_or_else(|| "W1,W2,W3,W4".into());
    let url = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/test".into());
    let labels = [
        ("W1", "insert"),
        ("W2", "load"),
        ("W3", "update"),
        ("W4", "get-by-pk"),
        ("W5", "relationships-selectin"),
        ("W6", "relationships-lazy"),
        ("W7", "insert-cascade"),
        ("W8", "delete"),
    ];
    for (name, label) in labels {
        if !only.split(',').any(|w| w == name) {
            continue;
        }
        let lua = Lua::new();
        lualchemy::install(&lua)?;
        let n = (100_000.0 * scale) as i64;
        let w: Table = lua.load(DEFS).set_name("=workload_defs.lua").call((
            n,
            (10_000.0 * scale) as i64,
            1000,
            (1_000.0 * scale) as i64,
            url.as_str(),
        ))?;
        let w: Table = w.get(name)?;
        let setup: Function = w.get("setup")?;
        let run: Function = w.get("run")?;
        let teardown: Function = w.get("teardown")?;
        let state: MultiValue = setup.call(())?;
        lua.gc_collect()?;
        lua.gc_collect()?;
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let kept: MultiValue = run.call(state)?;
        let (dt, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let mut rest = kept.into_iter();
        let rows = rest.next().and_then(|v| v.as_i64()).unwrap_or(0);
        teardown.call::<()>(rest.collect::<MultiValue>())?;
        println!(
            "{name} {label} rows={rows} seconds={dt:.4} rows_per_s={:.0} cpu_seconds={cpu:.4}",
            rows as f64 / dt.max(1e-9)
        );
    }
    Ok(())
}
