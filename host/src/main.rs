//! The `lualchemy` binary: run a script, run a chunk (`-e`), or run Lua specs (`test`).

use std::process::ExitCode;

use mlua::Lua;

const USAGE: &str = "usage:
  lualchemy SCRIPT.lua [ARGS...]   run a script (global `arg` as in lua)
  lualchemy -e CODE                run a chunk of Lua
  lualchemy test [PATH...]         run *_spec.lua files under PATHs (default: spec/)
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
    let lua = match new_state() {
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
        Err(e) => report(&e),
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
        Some("test") => match lualchemy::spec::run_specs(&args[1..]) {
            Ok((_, 0)) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => report(&e),
        },
        Some(script) => run_script(script, &args[1..]),
    }
}
