//! The `lualchemy` binary as a drop-in for the stand-alone `lua` interpreter (`lua.c`):
//! the same options (`-e`, `-l mod`, `-l g=mod`, `-i`, `-v`, `-E`, `-W`, `--`, `-`), the
//! same `arg` table and `...`, `LUA_INIT`, a REPL, all standard libraries (`debug`
//! included) and C modules from `package.cpath`, and the same messages and exit status.
//! `require("lualchemy")` is preloaded. `lualchemy test` and `--sandbox` are main.rs's.

pub mod migrate;
mod paths;
mod raw;
mod repl;

use std::io::IsTerminal;
use std::process::ExitCode;

use mlua::{Lua, MultiValue, Value};

pub use paths::version;

/// What the options asked for (`lua.c`'s `collectargs`).
#[derive(Default)]
struct Options {
    interactive: bool,
    version: bool,
    execute: bool,
    ignore_env: bool,
    /// The index in argv of the script (argv.len() when there is none).
    script: usize,
}

/// `collectargs`: the options before the script, or the index of a bad one.
fn collect_args(argv: &[String]) -> Result<Options, usize> {
    let mut o = Options::default();
    let mut i = 1;
    while i < argv.len() {
        o.script = i;
        let a = argv[i].as_bytes();
        if a.first() != Some(&b'-') {
            return Ok(o);
        }
        let extra = a.len() > 2;
        match a.get(1) {
            // `--version`: lualchemy's long form of `-v`
            Some(b'-') if &argv[i] == "--version" => o.version = true,
            Some(b'-') => {
                if extra {
                    return Err(i);
                }
                o.script = i + 1;
                return Ok(o);
            }
            None => return Ok(o),
            Some(b'E') if !extra => o.ignore_env = true,
            Some(b'W') if !extra && HAS_WARNINGS => {}
            Some(b'i') if !extra => {
                o.interactive = true;
                o.version = true;
            }
            Some(b'v') if !extra => o.version = true,
            Some(c @ (b'e' | b'l')) => {
                if *c == b'e' {
                    o.execute = true;
                }
                if !extra {
                    i += 1;
                    if argv.get(i).is_none_or(|next| next.starts_with('-')) {
                        return Err(i - 1);
                    }
                }
            }
            _ => return Err(i),
        }
        i += 1;
    }
    o.script = argv.len();
    Ok(o)
}

const OPTIONS_HELP: &str = "Available options are:
  -e stat   execute string 'stat'
  -i        enter interactive mode after executing 'script'
  -l mod    require library 'mod' into global 'mod'
  -l g=mod  require library 'mod' into global 'g'
  -v        show version information
  -E        ignore environment variables
  -W        turn warnings on
  --        stop handling options
  -         stop handling options and execute stdin";

/// lualchemy's own commands, after lua's options in `--help`.
pub const LUALCHEMY_HELP: &str = "lualchemy's own:
  --version                      same as -v
  --help                         this text
  test [--db URL] [PATH...]      run *_spec.lua files under PATHs (default: spec/)
  migrate [--dir DIR] COMMAND    migrations as Alembic's: init, revision, upgrade,
                                 downgrade, current, history, heads, stamp (docs/MIGRATIONS.md)
  --sandbox [OPTIONS] SCRIPT.lua [ARGS...]
                                 run an untrusted script in the sandbox (docs/SANDBOX.md):
      --allow-dir DIR            file databases may live under DIR (default: none,
                                 in-memory databases only)
      --max-instructions N       Lua VM instructions (default 100000000)
      --max-memory BYTES         Lua heap, and separately SQLite's heap (default 67108864)
      --timeout SECONDS          wall-clock time for Lua and SQL alike (default 10)";

/// The usage text, for `--help` (lua's, then lualchemy's own commands).
pub fn usage(progname: &str) -> String {
    format!("usage: {progname} [options] [script [args]]\n{OPTIONS_HELP}\n{LUALCHEMY_HELP}")
}

fn print_usage(progname: &str, bad: &str) {
    if matches!(bad.as_bytes().get(1), Some(b'e' | b'l')) {
        eprintln!("{progname}: '{bad}' needs argument");
    } else {
        eprintln!("{progname}: unrecognized option '{bad}'");
    }
    eprintln!("usage: {progname} [options] [script [args]]\n{OPTIONS_HELP}");
}

/// `lualchemy 0.1.0 (Lua 5.4)`, or LuaJIT's own version string on LuaJIT.
pub fn version_line(lua: &Lua) -> String {
    let jit: Option<mlua::Table> = lua.globals().get("jit").ok().flatten();
    let runtime = jit
        .and_then(|j| j.get::<String>("version").ok())
        .unwrap_or_else(|| format!("Lua {}", version(lua)));
    format!("lualchemy {} ({runtime})", env!("CARGO_PKG_VERSION"))
}

/// Where messages go, with the program name in front (none in the REPL).
struct Reporter {
    progname: Option<String>,
}

impl Reporter {
    fn message(&self, msg: &str) {
        match &self.progname {
            Some(p) => eprintln!("{p}: {msg}"),
            None => eprintln!("{msg}"),
        }
    }

    /// `report`: prints an error; true when there was none.
    fn ok<T>(&self, r: raw::Outcome<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(msg) => {
                self.message(&msg);
                None
            }
        }
    }
}

/// A Lua state as `lua` makes one: all standard libraries, C modules allowed, lualchemy
/// preloaded, warnings off until `-W` or `warn("@on")`.
fn new_state(ignore_env: bool) -> mlua::Result<Lua> {
    // SAFETY: the stand-alone interpreter runs trusted code with every library, as `lua`
    // does; `--sandbox` is the way to run untrusted code.
    let lua = unsafe { Lua::unsafe_new() };
    lualchemy::install(&lua)?;
    raw::remember_error_metatable(&lua)?;
    paths::set(&lua, ignore_env)?;
    if ignore_env {
        lua.set_named_registry_value("LUA_NOENV", true)?;
    }
    warnings::install(&lua);
    lualchemy::lua::compat::stock_interpreter_gc(&lua);
    Ok(lua)
}

#[cfg(any(feature = "lua54", feature = "lua55"))]
mod warnings {
    use std::cell::Cell;
    use std::io::Write;

    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Off,
        On,
        /// inside a message of several pieces
        Continued,
    }

    /// `lauxlib.c`'s warning function: off at first, `@on` / `@off` control messages,
    /// "Lua warning: " and the pieces of a message on stderr.
    pub fn install(lua: &mlua::Lua) {
        let state = Cell::new(State::Off);
        lua.set_warning_function(move |_, msg, to_continue| {
            let mut err = std::io::stderr();
            if state.get() != State::Continued && !to_continue {
                if let Some(control) = msg.strip_prefix('@') {
                    match control {
                        "on" => state.set(State::On),
                        "off" => state.set(State::Off),
                        _ => {}
                    }
                    return Ok(());
                }
            }
            match state.get() {
                State::Off => return Ok(()),
                State::On => {
                    let _ = write!(err, "Lua warning: ");
                }
                State::Continued => {}
            }
            let _ = write!(err, "{msg}");
            if to_continue {
                state.set(State::Continued);
            } else {
                let _ = writeln!(err);
                state.set(State::On);
            }
            Ok(())
        });
    }

    pub fn turn_on(lua: &mlua::Lua) {
        lua.warning("@on", false);
    }
}

#[cfg(not(any(feature = "lua54", feature = "lua55")))]
mod warnings {
    pub fn install(_: &mlua::Lua) {}
    pub fn turn_on(_: &mlua::Lua) {}
}

/// `-W` (warnings on) exists from Lua 5.4 on, as `warn` does.
const HAS_WARNINGS: bool = cfg!(any(feature = "lua54", feature = "lua55"));

/// `createargtable`: the script at index 0, its arguments at 1.., the interpreter and
/// options below 0 (with no script, everything below 1 but argv[0] at 0).
fn create_arg_table(lua: &Lua, argv: &[String], script: usize) -> mlua::Result<()> {
    let script = if script == argv.len() { 0 } else { script };
    let arg = lua.create_table()?;
    for (i, a) in argv.iter().enumerate() {
        arg.raw_set(i as i64 - script as i64, a.as_str())?;
    }
    lua.globals().set("arg", arg)
}

/// `pushargs`: the positive entries of `arg`, as the script's `...`.
fn script_args(lua: &Lua) -> mlua::Result<MultiValue> {
    let Some(arg) = lua.globals().get::<Option<mlua::Table>>("arg")? else {
        return Err(mlua::Error::runtime("'arg' is not a table"));
    };
    let n = arg.len()?;
    let mut args = MultiValue::new();
    for i in 1..=n {
        args.push_back(arg.raw_get::<Value>(i)?);
    }
    Ok(args)
}

/// `dostring`: loads and runs a chunk.
fn dostring(lua: &Lua, r: &Reporter, code: &str, name: &str) -> mlua::Result<bool> {
    let Some(f) = r.ok(raw::load_string(lua, code.as_bytes(), name)?) else {
        return Ok(false);
    };
    Ok(r.ok(raw::docall(lua, &f, MultiValue::new())?).is_some())
}

/// `dofile`: loads and runs a file (standard input for `None`).
fn dofile(lua: &Lua, r: &Reporter, path: Option<&str>) -> mlua::Result<bool> {
    let Some(f) = r.ok(raw::load_file(lua, path)?) else {
        return Ok(false);
    };
    Ok(r.ok(raw::docall(lua, &f, MultiValue::new())?).is_some())
}

/// `dolibrary`: `-l mod` sets global `mod` to `require("mod")`; `-l g=mod` sets `g`.
fn dolibrary(lua: &Lua, r: &Reporter, spec: &str) -> mlua::Result<bool> {
    let (global, module) = spec.split_once('=').unwrap_or((spec, spec));
    let require: mlua::Function = lua.globals().get("require")?;
    let mut args = MultiValue::new();
    args.push_back(Value::String(lua.create_string(module)?));
    let Some(results) = r.ok(raw::docall(lua, &require, args)?) else {
        return Ok(false);
    };
    lua.globals()
        .set(global, results.into_iter().next().unwrap_or(Value::Nil))?;
    Ok(true)
}

/// `handle_luainit`: `LUA_INIT_5_4` or else `LUA_INIT`, a chunk or `@file`.
fn handle_luainit(lua: &Lua, r: &Reporter) -> mlua::Result<bool> {
    let v = version(lua);
    let versioned = format!("LUA_INIT_{}", v.replace('.', "_"));
    let mut found = None;
    if v != "5.1" {
        found = std::env::var(&versioned)
            .ok()
            .map(|s| (versioned.clone(), s));
    }
    if found.is_none() {
        found = std::env::var("LUA_INIT")
            .ok()
            .map(|s| ("LUA_INIT".into(), s));
    }
    match found {
        None => Ok(true),
        Some((_, init)) if init.starts_with('@') => dofile(lua, r, Some(&init[1..])),
        Some((name, init)) => dostring(lua, r, &init, &format!("={name}")),
    }
}

/// `runargs`: the `-e`, `-l` and `-W` options, in order.
fn run_args(lua: &Lua, r: &Reporter, argv: &[String], end: usize) -> mlua::Result<bool> {
    let mut i = 1;
    while i < end {
        let a = &argv[i];
        match a.as_bytes().get(1) {
            Some(c @ (b'e' | b'l')) => {
                let value = if a.len() > 2 {
                    a[2..].to_string()
                } else {
                    i += 1;
                    argv[i].clone()
                };
                let ok = if *c == b'e' {
                    dostring(lua, r, &value, "=(command line)")?
                } else {
                    dolibrary(lua, r, &value)?
                };
                if !ok {
                    return Ok(false);
                }
            }
            Some(b'W') => warnings::turn_on(lua),
            _ => {}
        }
        i += 1;
    }
    Ok(true)
}

/// `handle_script`: the script (`-` is standard input, unless after `--`) with `arg`'s
/// positive entries as `...`.
fn handle_script(lua: &Lua, r: &Reporter, argv: &[String], script: usize) -> mlua::Result<bool> {
    let name = argv[script].as_str();
    let path = if name == "-" && argv[script - 1] != "--" {
        None
    } else {
        Some(name)
    };
    let Some(f) = r.ok(raw::load_file(lua, path)?) else {
        return Ok(false);
    };
    let args = script_args(lua)?;
    Ok(r.ok(raw::docall(lua, &f, args)?).is_some())
}

/// `pmain`: true when everything ran without error.
fn pmain(argv: &[String], progname: &str) -> mlua::Result<bool> {
    let options = match collect_args(argv) {
        Ok(o) => o,
        Err(bad) => {
            print_usage(progname, &argv[bad]);
            return Ok(false);
        }
    };
    let reporter = Reporter {
        progname: Some(progname.to_string()),
    };
    let lua = new_state(options.ignore_env)?;
    if options.version {
        println!("{}", version_line(&lua));
    }
    create_arg_table(&lua, argv, options.script)?;
    if !options.ignore_env && !handle_luainit(&lua, &reporter)? {
        return Ok(false);
    }
    if !run_args(&lua, &reporter, argv, options.script)? {
        return Ok(false);
    }
    if options.script < argv.len() && !handle_script(&lua, &reporter, argv, options.script)? {
        return Ok(false);
    }
    let no_arguments = options.script == argv.len() && !options.execute && !options.version;
    if options.interactive {
        repl::run(&lua)?;
    } else if no_arguments {
        if std::io::stdin().is_terminal() {
            println!("{}", version_line(&lua));
            repl::run(&lua)?;
        } else if !dofile(&lua, &reporter, None)? {
            // stock lua exits 0 here (5.4.4 ignores the status); an uncaught error is 1
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the interpreter on the command line `argv` (argv[0] the program's name).
pub fn main(argv: &[String]) -> ExitCode {
    let progname = match argv.first() {
        Some(p) if !p.is_empty() => p.clone(),
        _ => "lualchemy".to_string(),
    };
    match pmain(argv, &progname) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{progname}: {e}");
            ExitCode::FAILURE
        }
    }
}
