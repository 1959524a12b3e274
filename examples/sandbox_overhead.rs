//! What the sandbox costs: the reference workloads W1-W4 (benches/workload_defs.lua) in a
//! plain Lua state, in a plain state with only the instruction budget's hook (counting every
//! 1,000 instructions and checking the clock, as the sandbox's does), and in a whole sandbox
//! with limits too high to fire (its environment, hardened SQLite, heap limits), taken in
//! turn; prints the median seconds of each. Figures in docs/PERFORMANCE.md.
//!
//! Run: cargo run --release --example sandbox_overhead [ROUNDS] [SCALE] [ONLY]
//!
//! ONLY (`plain`, `budget` or `sandbox`, with one workload name, e.g. `budget:W1`) runs one
//! variant of one workload once in a fresh process and prints its seconds: for comparisons
//! that keep each variant's process apart (the sandbox's SQLite heap limit is process-wide),
//! and for an instruction counter such as `valgrind --tool=callgrind`, whose counts do not
//! drift with the machine's load.

use std::time::{Duration, Instant};

use lualchemy::sandbox::Sandbox;
use mlua::{Function, Lua, Table};

const DEFS: &str = include_str!("../benches/workload_defs.lua");

fn time_workload(lua: &Lua, name: &str, scale: f64) -> mlua::Result<f64> {
    let n = (100_000.0 * scale) as i64;
    let nq = (10_000.0 * scale) as i64;
    let na = (1_000.0 * scale) as i64;
    let w: Table = lua
        .load(DEFS)
        .set_name("=workload_defs.lua")
        .call((n, nq, 1000, na))?;
    let w: Table = w.get(name)?;
    let setup: Function = w.get("setup")?;
    let run: Function = w.get("run")?;
    let teardown: Function = w.get("teardown")?;
    let state: mlua::MultiValue = setup.call(())?;
    let t0 = Instant::now();
    let kept: mlua::MultiValue = run.call(state)?;
    let dt = t0.elapsed().as_secs_f64();
    let mut rest = kept.into_iter();
    rest.next();
    teardown.call::<()>(rest.collect::<mlua::MultiValue>())?;
    Ok(dt)
}

/// A plain state with only a hook like the instruction budget's (the sandbox's own, through
/// the version seam: on LuaJIT it also turns the JIT compiler off, as the sandbox must).
fn budget_only_lua() -> mlua::Result<Lua> {
    let lua = Lua::new();
    lualchemy::install(&lua)?;
    let spent = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(3600);
    lualchemy::lua::compat::set_budget_hook(&lua, 1000, move || {
        spent.set(spent.get() + 1000);
        if spent.get() > u64::MAX / 2 || Instant::now() > deadline {
            return Err("limit".to_string());
        }
        Ok(())
    })?;
    Ok(lua)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

fn main() -> mlua::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let scale: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let sandbox = Sandbox {
        max_instructions: u64::MAX / 2,
        max_memory: 4 << 30,
        timeout: Duration::from_secs(3600),
        ..Sandbox::default()
    };
    if let Some(only) = args.get(2) {
        let (variant, name) = only.split_once(':').unwrap_or((only, "W1"));
        let lua = match variant {
            "plain" => {
                let lua = Lua::new();
                lualchemy::install(&lua)?;
                lua
            }
            "budget" => budget_only_lua()?,
            _ => sandbox.new_lua()?,
        };
        println!("{:.4}", time_workload(&lua, name, scale)?);
        return Ok(());
    }
    println!("workload  plain s  budget s  budget cost  sandboxed s  sandbox cost");
    for name in ["W1", "W2", "W3", "W4"] {
        let (mut plain, mut hooked, mut boxed) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let lua = Lua::new();
            lualchemy::install(&lua)?;
            plain.push(time_workload(&lua, name, scale)?);
            let lua = budget_only_lua()?;
            hooked.push(time_workload(&lua, name, scale)?);
            let lua = sandbox.new_lua()?;
            boxed.push(time_workload(&lua, name, scale)?);
        }
        let (p, h, b) = (median(plain), median(hooked), median(boxed));
        println!(
            "{name:8}  {p:7.4}  {h:8.4}  {:+10.1}%  {b:11.4}  {:+11.1}%",
            (h / p - 1.0) * 100.0,
            (b / p - 1.0) * 100.0
        );
    }
    Ok(())
}
