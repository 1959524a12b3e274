//! The `lualchemy` binary: run a script, run a chunk (`-e`), or run Lua specs (`test`).

use std::process::ExitCode;

use mlua::Lua;

const USAGE: &str = "usage:
  lualchemy SCRIPT.lua [ARGS...]   run a script (global `arg` as in lua)
  lualchemy -e CODE                run a chunk of Lua
  lualchemy test [PATH...]         run *_spec.lua files under PATHs (default: spec/)
  lualchemy --sandbox [OPTIONS] SCRIPT.lua [ARGS...]
                                   run an untrusted script in the sandbox (docs/SANDBOX.md):
      --allow-dir DIR              file databases may live under DIR (default: none,
                                   in-memory databases only)
      --max-instructions N         Lua VM instructions (default 100000000)
      --max-memory BYTES           Lua heap, and separately SQLite's heap (default 67108864)
      --timeout SECONDS            wall-clock time for Lua and SQL alike (default 10)
  lualchemy --help                 this text";

fn new_state() -> mlua::Result<Lua> {
    let lua = Lua::new();
    lualchemy::install(&lua)?;
    Ok(lua)
}

fn report(e: &mlua::Error) -> ExitCode {
    match lualchemy::lua::error::find_orm_error(e) {
        Some(oe) => eprintln!("lualchemy: {oe}"),
        None => eprintln!("lualchemy: {e}"),
    }
    ExitCode::FAILURE
}

fn run_script(path: &str, args: &[String]) -> ExitCode {
    run_script_in(new_state(), path, args, None)
}

/// `--sandbox [OPTIONS] SCRIPT.lua [ARGS...]`.
fn run_sandboxed(args: &[String]) -> ExitCode {
    let mut sandbox = lualchemy::sandbox::Sandbox::default();
    let mut i = 0;
    while i < args.len() && args[i].starts_with("--") {
        let flag = args[i].as_str();
        let Some(value) = args.get(i + 1) else {
            eprintln!("lualchemy: {flag} needs a value\n{USAGE}");
            return ExitCode::FAILURE;
        };
        let bad = || {
            eprintln!("lualchemy: {flag}: invalid value '{value}'");
            ExitCode::FAILURE
        };
        match flag {
            "--allow-dir" => sandbox.allow_dir = Some(value.into()),
            "--max-instructions" => match value.parse() {
                Ok(n) => sandbox.max_instructions = n,
                Err(_) => return bad(),
            },
            "--max-memory" => match value.parse() {
                Ok(n) => sandbox.max_memory = n,
                Err(_) => return bad(),
            },
            "--timeout" => match value.parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => {
                    sandbox.timeout = std::time::Duration::from_secs_f64(s)
                }
                _ => return bad(),
            },
            other => {
                eprintln!("lualchemy: unknown sandbox option {other}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
        i += 2;
    }
    let Some(path) = args.get(i) else {
        eprintln!("lualchemy: --sandbox needs a script\n{USAGE}");
        return ExitCode::FAILURE;
    };
    run_script_in(sandbox.new_lua(), path, &args[i + 1..], Some(&sandbox))
}

fn run_script_in(
    lua: mlua::Result<Lua>,
    path: &str,
    args: &[String],
    sandbox: Option<&lualchemy::sandbox::Sandbox>,
) -> ExitCode {
    let lua = match lua {
        Ok(l) => l,
        Err(e) => return report(&e),
    };
    let result = (|| -> mlua::Result<()> {
        let arg = lua.create_table()?;
        arg.raw_set(0, path)?;
        for (i, a) in args.iter().enumerate() {
            arg.raw_set(i + 1, a.as_str())?;
        }
        lua.globals().set("arg", arg)?;
        let code = std::fs::read(path)
            .map_err(|e| mlua::Error::runtime(format!("cannot open {path}: {e}")))?;
        lua.load(code).set_name(format!("@{path}")).exec()
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(msg) = sandbox.and_then(|s| lualchemy::sandbox::limit_message(&e, s)) {
                eprintln!("lualchemy: {msg}");
                return ExitCode::FAILURE;
            }
            report(&e)
        }
    }
}

fn run_chunk(code: &str) -> ExitCode {
    let result = new_state().and_then(|lua| lua.load(code).set_name("=(command line)").exec());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn main() -> ExitCode {
    lualchemy::lua::compat::with_native_stack(lua_main)
}

fn lua_main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h") | Some("--help") => {
            println!("{USAGE}");
            if args.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Some("-e") => match args.get(1) {
            Some(code) => run_chunk(code),
            None => {
                eprintln!("lualchemy: -e needs an argument\n{USAGE}");
                ExitCode::FAILURE
            }
        },
        Some("test") => lualchemy::spec::command(&args[1..]),
        Some("--sandbox") => run_sandboxed(&args[1..]),
        Some(script) => run_script(script, &args[1..]),
    }
}
