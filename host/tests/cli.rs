//! The `lualchemy` binary as a drop-in for stock `lua`: each case runs the same command
//! line under `lua5.4` (Debian's, when installed) and under the binary, and compares
//! standard output, standard error and the exit status, with the program's name (argv[0],
//! which both print in messages and put in `arg`) replaced by `PROG`. Without `lua5.4` the
//! comparisons are skipped with a printed reason; the lualchemy-only cases still run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lualchemy");
const STOCK: &str = "lua5.4";

#[derive(Debug, PartialEq)]
struct Out {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// A command line to run: arguments, standard input, environment, working directory.
#[derive(Default, Clone)]
struct Case {
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
}

fn case(args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Case::default()
    }
}

impl Case {
    fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.to_string());
        self
    }
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    fn dir(mut self, d: &Path) -> Self {
        self.dir = Some(d.to_path_buf());
        self
    }
}

fn run(program: &str, c: &Case) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(&c.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "LUA_INIT",
        "LUA_INIT_5_4",
        "LUA_PATH",
        "LUA_PATH_5_4",
        "LUA_CPATH",
        "LUA_CPATH_5_4",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    if let Some(d) = &c.dir {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    if let Some(s) = &c.stdin {
        stdin.write_all(s.as_bytes()).unwrap();
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let norm = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(program, "PROG")
            // a table's or function's address differs from run to run
            .split("0x")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    let rest = part.trim_start_matches(|c: char| c.is_ascii_hexdigit());
                    format!("ADDR{rest}")
                }
            })
            .collect::<String>()
    };
    Out {
        stdout: norm(&o.stdout),
        stderr: norm(&o.stderr),
        code: o.status.code(),
    }
}

/// The Lua the binary was built on ("Lua 5.4", "LuaJIT 2.1...").
fn binary_lua() -> String {
    let o = Command::new(BIN)
        .args(["-e", "io.write(jit and jit.version or _VERSION)"])
        .output()
        .expect("run the binary");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether there is a stock lua5.4 to compare with, and the binary is built on Lua 5.4
/// too (the default; `--features luajit,vendored` builds compare with nothing here).
fn stock_available() -> bool {
    binary_lua() == "Lua 5.4"
        && Command::new(STOCK)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Runs `c` under both and asserts they agree; returns the binary's output. Without
/// lua5.4, prints why the comparison is skipped and returns the binary's output.
fn same(what: &str, c: &Case) -> Out {
    let ours = run(BIN, c);
    if !stock_available() {
        println!("{what}: {STOCK} is not installed (or the binary is not on Lua 5.4), comparison skipped");
        return ours;
    }
    let stock = run(STOCK, c);
    assert_eq!(
        ours, stock,
        "{what}: lualchemy (left) and {STOCK} (right) differ for {:?}",
        c.args
    );
    ours
}

/// A fresh directory under the target dir for a test's files.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

const SHOW_ARGS: &str = r#"
local n = select('#', ...)
io.write("... has ", n, ":")
for i = 1, n do io.write(" ", tostring((select(i, ...)))) end
print()
local lo = 0
while arg[lo - 1] ~= nil do lo = lo - 1 end
for i = lo, #arg do print("arg[" .. i .. "]", arg[i]) end
"#;

#[test]
fn script_arguments_and_arg_table() {
    let d = scratch("args");
    let script = write(&d, "show.lua", SHOW_ARGS);
    let out = same("script with args", &case(&[&script, "a", "b c", "-x"]));
    assert!(out.stdout.contains("... has 3: a b c -x"), "{out:?}");
    same(
        "options before the script",
        &case(&["-e", "x=1", "-E", &script, "--", "z"]),
    );
    same("-- before the script", &case(&["--", &script, "q"]));
    same(
        "no script: arg from -e",
        &case(&["-e", SHOW_ARGS, "-e", "print(#arg)"]),
    );
}

#[test]
fn repeatable_e_and_l() {
    let d = scratch("el");
    // require passes the module its name (and, from 5.4 on, where it was found)
    write(&d, "mymod.lua", "return { name = 'mymod', arg1 = ... }");
    let out = same(
        "-e in order, -l mod, -l g=mod, -lmod",
        &case(&[
            "-e",
            "a = 1",
            "-l",
            "mymod",
            "-e",
            "print(a, mymod.name, mymod.arg1)",
            "-l",
            "m2=mymod",
            "-lstring",
            "-e",
            "print(m2 == mymod, string.rep('x', 3))",
        ])
        .dir(&d),
    );
    assert_eq!(out.stdout, "1\tmymod\tmymod\ntrue\txxx\n");
    same(
        "-l of a missing module",
        &case(&["-l", "nosuch_mod_x"]).dir(&d),
    );
    same(
        "-e error stops the rest",
        &case(&["-e", "error('first')", "-e", "print(2)"]),
    );
    same("-e syntax error", &case(&["-e", "x ="]));
}

#[test]
fn bad_options_print_usage() {
    for args in [
        &["-x"][..],
        &["-e"],
        &["-l"],
        &["-e", "-v"],
        &["-vx"],
        &["---"],
    ] {
        let out = same("bad option", &case(args));
        assert_eq!(out.code, Some(1));
    }
}

fn version_line() -> String {
    format!("lualchemy 0.1.0 ({})\n", binary_lua())
}

#[test]
fn version_flags() {
    assert!(binary_lua().contains("Lua"), "{}", binary_lua());
    for flag in ["-v", "--version"] {
        let out = run(BIN, &case(&[flag]));
        assert_eq!(out.code, Some(0));
        assert_eq!(out.stdout, version_line(), "{flag}");
    }
    // -v with -e runs the chunk after the version line, and does not enter the REPL
    let out = run(BIN, &case(&["-v", "-e", "print(7)"]).stdin("print(8)"));
    assert_eq!(out.stdout, format!("{}7\n", version_line()));
}

#[test]
fn stdin_script_and_dash() {
    let code = "print(..., #arg, arg[0]) error('from stdin')";
    // stock lua (5.4.4) exits 0 after an error in a script piped with no arguments (its
    // pmain ignores dofile's status there); lualchemy exits 1, as for any uncaught error
    let c = case(&[]).stdin(code);
    let ours = run(BIN, &c);
    assert_eq!(ours.code, Some(1), "{ours:?}");
    if stock_available() {
        let stock = run(STOCK, &c);
        assert_eq!((&ours.stdout, &ours.stderr), (&stock.stdout, &stock.stderr));
    }
    same(
        "piped script without error",
        &case(&[]).stdin("print(..., #arg, arg[0])"),
    );
    same("- with args", &case(&["-", "p", "q"]).stdin(code));
    same("-e then -", &case(&["-e", "y=2", "-"]).stdin("print(y)"));
    let d = scratch("dash");
    write(&d, "-", "print('the file named -', ...)");
    same("-- - is a file named -", &case(&["--", "-", "r"]).dir(&d));
}

#[test]
fn shebang_line_is_skipped() {
    let d = scratch("shebang");
    let script = write(
        &d,
        "s.lua",
        "#!/usr/bin/env lua\nprint('ran')\nlocal t = nil\nprint(t.x)\n",
    );
    let out = same("#! script", &case(&[&script]));
    assert!(out.stderr.contains("s.lua:4:"), "{out:?}");
    assert_eq!(out.code, Some(1));
}

#[test]
fn lua_init_and_e_flag() {
    let d = scratch("init");
    let init = write(&d, "init.lua", "print('init file', ...)\ninit_ran = true");
    same(
        "LUA_INIT chunk",
        &case(&["-e", "print(init_ran)"]).env("LUA_INIT", "init_ran = 'chunk' print('init')"),
    );
    same(
        "LUA_INIT_5_4 before LUA_INIT",
        &case(&["-e", "print(v)"])
            .env("LUA_INIT", "v = 'plain'")
            .env("LUA_INIT_5_4", "v = 'versioned'"),
    );
    same(
        "LUA_INIT @file",
        &case(&["-e", "print(init_ran)"]).env("LUA_INIT", &format!("@{init}")),
    );
    same(
        "LUA_INIT error stops everything",
        &case(&["-e", "print(1)"]).env("LUA_INIT", "error('in init')"),
    );
    same(
        "-E ignores LUA_INIT and LUA_PATH",
        &case(&["-E", "-e", "print(init_ran, package.path, package.cpath)"])
            .env("LUA_INIT", "init_ran = true")
            .env("LUA_PATH", "/nowhere/?.lua")
            .env("LUA_CPATH_5_4", "/nowhere/?.so"),
    );
}

#[test]
fn package_paths_as_stock() {
    let show = "print(package.path) print(package.cpath) print(package.config)";
    let out = same("default paths", &case(&["-e", show]));
    assert!(out.stdout.contains("./?.lua"), "{out:?}");
    same(
        "LUA_PATH with ;;",
        &case(&["-e", show])
            .env("LUA_PATH", "/a/?.lua;;/b/?.lua")
            .env("LUA_CPATH", ";;/c/?.so"),
    );
    same(
        "versioned LUA_PATH_5_4 wins",
        &case(&["-e", show])
            .env("LUA_PATH", "/plain/?.lua")
            .env("LUA_PATH_5_4", "/versioned/?.lua;;"),
    );
}

#[test]
fn standard_libraries_debug_and_c_modules() {
    let libs = "for _, n in ipairs{'coroutine','debug','io','math','os','package','string',\
                'table','utf8'} do io.write(n, '=', type(_G[n]), ' ') end print() \
                print(type(debug.getinfo), type(debug.sethook), type(package.loadlib), \
                #package.searchers)";
    same("standard libraries", &case(&["-e", libs]));
    // a C module from package.cpath (Debian's lua-socket or lua-filesystem for 5.4)
    for module in ["socket", "lfs"] {
        let probe = format!("require('{module}')");
        let stock_has_it = stock_available()
            && Command::new(STOCK)
                .args(["-e", &probe])
                .output()
                .is_ok_and(|o| o.status.success());
        if !stock_has_it {
            println!("C module {module}: not installed for {STOCK}, skipped");
            continue;
        }
        let out = same(
            "C module",
            &case(&[
                "-e",
                &format!("local m = require('{module}') print(type(m), m._VERSION)"),
            ]),
        );
        assert!(out.stdout.starts_with("table\t"), "{out:?}");
    }
}

#[test]
fn uncaught_errors_print_traceback() {
    let d = scratch("errors");
    let s = write(
        &d,
        "e.lua",
        "local function f()\n  error('deep')\nend\nf()\n",
    );
    let out = same("error with traceback", &case(&[&s]));
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("stack traceback:"), "{out:?}");
    same("error with a table", &case(&["-e", "error({})"]));
    same(
        "error with __tostring",
        &case(&[
            "-e",
            "error(setmetatable({}, {__tostring = function() return 'custom' end}))",
        ]),
    );
    same("error(nil)", &case(&["-e", "error()"]));
    same("missing script", &case(&["no_such_script.lua"]));
    same("os.exit status", &case(&["-e", "os.exit(3)"]));
    same(
        "os.exit(false)",
        &case(&["-e", "io.write('x') os.exit(false)"]),
    );
}

#[test]
fn orm_error_prints_message_and_traceback() {
    // stock lua prints an error object with __tostring without a traceback; lualchemy adds
    // one to its own errors, so that the line that raised shows
    let d = scratch("orm_error");
    let s = write(
        &d,
        "bad.lua",
        "local orm = require('lualchemy')\n\
         local engine = orm.create_engine('sqlite://')\n\
         local function go()\n  return engine:connect():execute(orm.text('SELEC nonsense'))\nend\n\
         go()\n",
    );
    let out = run(BIN, &case(&[&s]));
    assert_eq!(out.code, Some(1), "{out:?}");
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("PROG: OperationalError:") && first.contains("syntax error"),
        "{out:?}"
    );
    assert!(out.stderr.contains("stack traceback:"), "{out:?}");
    if binary_lua() == "Lua 5.4" {
        // (LuaJIT shows the tail call's caller instead)
        assert!(out.stderr.contains("bad.lua:4: in "), "{out:?}");
    }
    assert!(out.stderr.contains("bad.lua:6: in main chunk"), "{out:?}");
    // an error a Rust function raised about its arguments: its message, one traceback
    let out = run(
        BIN,
        &case(&[
            "-e",
            "require('lualchemy').create_engine('sqlite://').connect()",
        ]),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.starts_with("PROG: bad argument"), "{out:?}");
    assert_eq!(out.stderr.matches("stack traceback:").count(), 1, "{out:?}");
    assert!(
        out.stderr.contains("(command line):1: in main chunk"),
        "{out:?}"
    );
}

#[test]
fn repl_like_stock() {
    let input = "1 + 1\n=2, 3\nx = {\n1,\n2}\nprint(#x)\nerror('e')\nerror({})\n\
                 local y = 5\nreturn\n'str'\n_PROMPT = 'lua> '\nnil\n";
    let c = case(&["-i"]).stdin(input);
    let ours = run(BIN, &c);
    assert_eq!(ours.code, Some(0));
    assert!(ours.stdout.starts_with(&version_line()), "{ours:?}");
    // `=expr` everywhere; a bare expression prints its value from 5.3 on
    assert!(ours.stdout.contains("2\t3\n"), "{ours:?}");
    if !stock_available() {
        println!(
            "REPL: {STOCK} is not installed (or the binary is not on Lua 5.4), comparison skipped"
        );
        return;
    }
    let stock = run(STOCK, &c);
    // past the version line (lualchemy's names itself), the transcripts agree
    let tail = |s: &str| {
        s.split_once('\n')
            .map(|(_, t)| t.to_string())
            .unwrap_or_default()
    };
    assert_eq!(tail(&ours.stdout), tail(&stock.stdout));
    assert_eq!(ours.stderr, stock.stderr);
    assert_eq!(ours.code, stock.code);
    // -i after a script: the script's globals are there
    let d = scratch("repl");
    let s = write(&d, "s.lua", "z = 40");
    let c = case(&["-i", &s]).stdin("z + 2\n");
    assert_eq!(tail(&run(BIN, &c).stdout), tail(&run(STOCK, &c).stdout));
}

#[test]
fn lualchemy_commands_stay() {
    let out = run(BIN, &case(&["--help"]));
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout.contains("-l g=mod") && out.stdout.contains("--sandbox"),
        "{out:?}"
    );
    let d = scratch("sandbox");
    let s = write(
        &d,
        "s.lua",
        "print(debug == nil, require('lualchemy') ~= nil)",
    );
    let out = run(BIN, &case(&["--sandbox", &s]));
    assert_eq!(out.stdout, "true\ttrue\n", "{out:?}");
    // the built-in module is there without a path
    let out = run(
        BIN,
        &case(&["-E", "-e", "print(require('lualchemy')._VERSION)"]),
    );
    assert_eq!(out.stdout, "0.1.0\n");
}

#[test]
fn collector_mode_is_the_stock_interpreters() {
    // lua.c of 5.4 runs scripts with the collector in generational mode (the library's
    // default is incremental); collectgarbage("incremental") answers the mode it leaves
    let out = same(
        "the collector's mode",
        &case(&["-e", "print(collectgarbage('incremental'))"]),
    );
    if binary_lua() == "Lua 5.4" {
        assert_eq!(out.stdout.trim(), "generational");
    }
}
