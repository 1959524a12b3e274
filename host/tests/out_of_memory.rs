//! Out of memory without the sandbox (issue 15, item 13): a failed allocation in Lua is Lua's
//! "not enough memory" error that `pcall` catches, as in stock Lua, not an abort of the
//! process ("memory allocation of N bytes failed", status 134); a flush that meets it rolls
//! back. The binary runs under `prlimit --as=...` (an address-space limit, which makes the
//! system refuse allocations as a full machine would); without `prlimit` these tests say so
//! and pass. Hosts get the same protection from `lualchemy::install`. See `memory.rs` and
//! docs/BEHAVIOUR.md.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lualchemy");

/// The issue's 400 MB address-space limit.
const AS_LIMIT: &str = "--as=400000000";

/// Runs the binary with `args` under `prlimit AS_LIMIT`, or `None` without prlimit.
fn under_prlimit(args: &[&str]) -> Option<Output> {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit is not installed (util-linux): out-of-memory test skipped");
        return None;
    }
    let out = Command::new("prlimit")
        .arg(AS_LIMIT)
        .arg(BIN)
        .args(args)
        .output()
        .expect("run prlimit");
    Some(out)
}

/// Checks the run ended by itself with status 0, without Rust's allocation-failure abort.
fn assert_clean(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("memory allocation of"),
        "the process aborted on a failed allocation:\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "status {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    stdout
}

#[test]
fn a_failed_allocation_is_a_lua_error_that_pcall_catches() {
    // the issue's command, word for word
    let code = r#"local t={} local ok,e=pcall(function() for i=1,1e6 do t[i]=string.rep("y",1<<20)..i end end) t=nil print("caught:",e)"#;
    let Some(out) = under_prlimit(&["-e", code]) else {
        return;
    };
    let stdout = assert_clean(&out);
    assert_eq!(stdout, "caught:\tnot enough memory\n");
}

#[test]
fn many_small_allocations_are_caught_too() {
    // malloc's overhead on Lua's small blocks is outside Lua's count: the reserve covers it
    let code = r#"
        local t = {}
        local ok, e = pcall(function() for i = 1, 1e9 do t[i] = { i } end end)
        local n = #t
        t = nil
        collectgarbage()
        print(ok, e, n > 1000000)
        -- memory is usable again once the garbage is gone
        local s = string.rep("z", 10 << 20)
        print(#s)
    "#;
    let Some(out) = under_prlimit(&["-e", code]) else {
        return;
    };
    let stdout = assert_clean(&out);
    assert_eq!(stdout, "false\tnot enough memory\ttrue\n10485760\n");
}

#[test]
fn a_flush_that_runs_out_of_memory_rolls_back() {
    let dir = std::env::temp_dir().join(format!("lualchemy-oom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("notes.db");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/out_of_memory/flush_rolls_back.lua"
    );
    let out = under_prlimit(&[script, db.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(out) = out else {
        return;
    };
    let stdout = assert_clean(&out);
    assert!(
        stdout.contains("flush:\tfalse\tnot enough memory\n"),
        "the flush's error is Lua's own memory error, as a default function raised it: {stdout}"
    );
    assert!(
        stdout.contains("rows after the failed flush:\t0\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("DONE\n"), "{stdout}");
}

#[test]
fn the_sandbox_limit_is_lowered_to_what_the_process_can_obtain() {
    // a sandbox heap limit above the process's limit still ends in the sandbox's error
    let dir = std::env::temp_dir().join(format!("lualchemy-oom-sb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("bomb.lua");
    std::fs::write(
        &script,
        "local t = {} for i = 1, 1e6 do t[i] = string.rep('y', 1 << 20) .. i end print('SURVIVED')\n",
    )
    .unwrap();
    let out = under_prlimit(&[
        "--sandbox",
        "--max-memory",
        "4000000000",
        script.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(out) = out else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("memory allocation of"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sandbox: memory limit of 4000000000 bytes reached"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SURVIVED"));
}

#[test]
fn install_protects_a_host_state_and_keeps_a_hosts_own_limit() {
    // a state without a limit gets one (set_memory_limit returns the previous limit)
    let lua = mlua::Lua::new();
    lualchemy::install(&lua).unwrap();
    let given = lua.set_memory_limit(0).unwrap();
    if cfg!(target_os = "linux") {
        assert!(given >= 16 << 20, "install set no memory limit");
        assert!(lualchemy::memory::lua_heap_limit().is_some());
    }
    // a host's own limit stays
    let lua = mlua::Lua::new();
    lua.set_memory_limit(10 << 20).unwrap();
    lualchemy::install(&lua).unwrap();
    assert_eq!(lua.set_memory_limit(0).unwrap(), 10 << 20);
}
