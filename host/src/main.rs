//! The `lualchemy` binary: a drop-in for the stand-alone `lua` interpreter with
//! `require("lualchemy")` built in (cli/), plus lualchemy's own commands: `test` runs Lua
//! specs, `--sandbox` runs an untrusted script under limits, `--help`.

mod allocator;
mod cli;

#[global_allocator]
static GLOBAL: allocator::Mi = allocator::Mi;

use std::process::ExitCode;

use mlua::Lua;

fn report(e: &mlua::Error) -> ExitCode {
    match lualchemy::lua::error::find_orm_error(e) {
        Some(oe) => eprintln!("lualchemy: {oe}"),
        None => eprintln!("lualchemy: {e}"),
    }
    ExitCode::FAILURE
}

/// `--sandbox [OPTIONS] SCRIPT.lua [ARGS...]`.
fn run_sandboxed(args: &[String]) -> ExitCode {
    let mut sandbox = lualchemy::sandbox::Sandbox::default();
    let mut i = 0;
    while i < args.len() && args[i].starts_with("--") {
        let flag = args[i].as_str();
        let Some(value) = args.get(i + 1) else {
            eprintln!("lualchemy: {flag} needs a value\n{}", cli::LUALCHEMY_HELP);
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
                eprintln!(
                    "lualchemy: unknown sandbox option {other}\n{}",
                    cli::LUALCHEMY_HELP
                );
                return ExitCode::FAILURE;
            }
        }
        i += 2;
    }
    let Some(path) = args.get(i) else {
        eprintln!(
            "lualchemy: --sandbox needs a script\n{}",
            cli::LUALCHEMY_HELP
        );
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

fn main() -> ExitCode {
    lualchemy::lua::compat::with_native_stack(lua_main)
}

fn lua_main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let progname = argv.first().map_or("lualchemy", String::as_str);
    match argv.get(1).map(String::as_str) {
        Some("-h") | Some("--help") => {
            println!("{}", cli::usage(progname));
            ExitCode::SUCCESS
        }
        Some("test") => lualchemy::spec::command(&argv[2..]),
        Some("migrate") => cli::migrate::command(&argv[2..]),
        Some("--sandbox") => run_sandboxed(&argv[2..]),
        _ => cli::main(&argv),
    }
}
