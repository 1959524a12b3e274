//! The Lua spec runner (`lualchemy test`): busted 2's command line, `.busted` tasks and
//! runner, with luassert's assertion language, written in the embedded Lua files
//! `lua/spec_runner.lua` and `lua/busted/*.lua`. This file makes the Lua state they run in
//! (the full standard library, debug included, as busted has it), registers the modules
//! (`busted`, `luassert`, `luassert.spy`, ..., `say`) and gives them the file system walk.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use mlua::{Lua, Value as LuaValue};

/// The embedded Lua modules: (module name, source, chunk name).
const MODULES: &[(&str, &str, &str)] = &[
    (
        "say",
        include_str!("../../lua/busted/say.lua"),
        "=lualchemy/busted/say.lua",
    ),
    (
        "luassert.util",
        include_str!("../../lua/busted/util.lua"),
        "=lualchemy/busted/util.lua",
    ),
    (
        "luassert.assert",
        include_str!("../../lua/busted/luassert.lua"),
        "=lualchemy/busted/luassert.lua",
    ),
    (
        "lualchemy.busted.mocks",
        include_str!("../../lua/busted/mocks.lua"),
        "=lualchemy/busted/mocks.lua",
    ),
    (
        "lualchemy.busted.core",
        include_str!("../../lua/busted/core.lua"),
        "=lualchemy/busted/core.lua",
    ),
    (
        "lualchemy.busted.output",
        include_str!("../../lua/busted/output.lua"),
        "=lualchemy/busted/output.lua",
    ),
];

/// Module names that are views of the ones above, as luassert and busted name them.
const ALIASES: &str = r#"
local preload = package.preload
preload["luassert"] = function()
  local a = require("luassert.assert")
  require("lualchemy.busted.mocks")
  return a
end
for _, name in ipairs({ "spy", "stub", "mock", "match" }) do
  preload["luassert." .. name] = function()
    require("luassert")
    return require("lualchemy.busted.mocks")[name]
  end
end
preload["luassert.matchers"] = function() return require("luassert.match") end
preload["luassert.say"] = function() return require("say") end
-- `require("busted.runner")()` at the top of a spec (for running it with plain lua)
preload["busted.runner"] = function() return function() end end
"#;

/// A Lua state for running specs: every standard library (specs use `debug`, busted has
/// it), lualchemy installed, the busted / luassert modules registered.
fn spec_lua() -> mlua::Result<Lua> {
    // SAFETY: the debug library is what busted suites expect; `lualchemy test` runs the
    // user's own trusted test code, never sandboxed scripts.
    let lua = unsafe { Lua::unsafe_new() };
    crate::install(&lua)?;
    let preload: mlua::Table = lua
        .globals()
        .get::<mlua::Table>("package")?
        .get("preload")?;
    for (name, source, chunk) in MODULES {
        let f = lua.load(*source).set_name(*chunk).into_function()?;
        preload.set(*name, f)?;
    }
    lua.load(ALIASES)
        .set_name("=lualchemy/busted/aliases")
        .exec()?;
    Ok(lua)
}

/// What the Lua runner needs from the host: the file system walk, whether a path is a file
/// or a directory, whether output is a terminal, the binary's path.
fn host_table(lua: &Lua) -> mlua::Result<mlua::Table> {
    let host = lua.create_table()?;
    host.set(
        "walk",
        lua.create_function(|_, dir: String| {
            let mut out = Vec::new();
            walk(Path::new(&dir), &mut out);
            Ok(out)
        })?,
    )?;
    host.set(
        "kind",
        lua.create_function(|_, path: String| {
            let p = Path::new(&path);
            Ok(if p.is_file() {
                Some("file")
            } else if p.is_dir() {
                Some("directory")
            } else {
                None
            })
        })?,
    )?;
    host.set("isatty", std::io::stdout().is_terminal())?;
    let exe = std::env::current_exe().map(|p| p.to_string_lossy().into_owned());
    host.set("exe", exe.unwrap_or_else(|_| "lualchemy".into()))?;
    Ok(host)
}

/// Why a Lua file cannot run on this Lua, from its first line (`-- requires: Lua 5.4`).
fn unmet_requirement(path: &Path) -> Option<String> {
    if path.extension().is_none_or(|x| x != "lua") {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    crate::lua::compat::unmet_requirement(text.lines().next().unwrap_or(""))
}

/// Every file under `path`, depth first, names sorted; Lua files this Lua cannot run left
/// out (with a line saying so).
fn walk(path: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out);
        } else if let Some(why) = unmet_requirement(&e) {
            // a spec of a newer Lua's syntax (`-- requires: Lua 5.4` first line) is skipped
            println!("SKIP {}: {why}", e.display());
        } else {
            out.push(e.to_string_lossy().into_owned());
        }
    }
}

/// A spec Lua state with the runner loaded (`lua/spec_runner.lua`'s module), on the
/// database server `db` when given.
fn load_runner(db: Option<&str>) -> mlua::Result<(Lua, mlua::Table)> {
    let lua = spec_lua()?;
    let mut dialect = "sqlite";
    if let Some(url) = db {
        let spec_db = SpecDatabase::new(url).map_err(|e| mlua::Error::runtime(e.to_string()))?;
        dialect = spec_db.dialect();
        lua.set_app_data(spec_db);
    }
    // the dialect the specs' in-memory engines are on, and the server's URL
    lua.globals().set("SPEC_DIALECT", dialect)?;
    lua.globals().set("SPEC_DATABASE_URL", db)?;
    // what this Lua has, for specs whose tests need a newer version (docs/LUA_VERSIONS.md)
    lua.globals()
        .set("LUA", crate::lua::compat::features_table(&lua)?)?;
    let host = host_table(&lua)?;
    if db.is_some() {
        host.set("scope", scope_table(&lua)?)?;
    }
    let runner: mlua::Table = lua
        .load(include_str!("../lua/spec_runner.lua"))
        .set_name("=lualchemy/spec_runner.lua")
        .call(host)?;
    Ok((lua, runner))
}

/// Around each file and test on a database server: drops the namespaces it made, its
/// connections closed first.
fn scope_table(lua: &Lua) -> mlua::Result<mlua::Table> {
    let scope = lua.create_table()?;
    scope.set(
        "enter",
        lua.create_function(|lua, ()| {
            Ok(lua
                .app_data_ref::<SpecDatabase>()
                .map_or(0, |d| d.engines_made()))
        })?,
    )?;
    scope.set(
        "leave",
        lua.create_function(|lua, mark: usize| {
            lua.gc_collect()?;
            if let Some(d) = lua.app_data_ref::<SpecDatabase>() {
                d.release_since(mark);
            }
            Ok(())
        })?,
    )?;
    Ok(scope)
}

fn finish(lua: Lua) -> mlua::Result<()> {
    // engines first, then the namespaces they used
    lua.gc_collect()?;
    lua.gc_collect()?;
    drop(lua.remove_app_data::<SpecDatabase>());
    Ok(())
}

/// `lualchemy test [--db URL] [busted options] [ROOT...]`: busted 2's command line (see
/// `lua/spec_runner.lua`; `-C DIR` is applied here); `--db URL` runs the specs' in-memory
/// engines on a server (see `SpecDatabase`). The exit code is busted 2.1's: 1 when a test failed or errored.
pub fn command(args: &[String]) -> ExitCode {
    let mut db = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--db" {
            match it.next() {
                Some(url) => db = Some(url.clone()),
                None => {
                    eprintln!("lualchemy test: --db needs a database URL");
                    return ExitCode::FAILURE;
                }
            }
        } else if let Some(url) = a.strip_prefix("--db=") {
            db = Some(url.to_string());
        } else if a == "-C" || a == "--directory" {
            // busted's -C DIR: run from DIR (its .busted and relative paths)
            match it.next() {
                Some(dir) => {
                    if let Err(e) = std::env::set_current_dir(dir) {
                        eprintln!("lualchemy test: cannot change to directory '{dir}': {e}");
                        return ExitCode::FAILURE;
                    }
                }
                None => {
                    eprintln!("lualchemy test: {a} needs a directory");
                    return ExitCode::FAILURE;
                }
            }
        } else if let Some(dir) = a.strip_prefix("--directory=") {
            if let Err(e) = std::env::set_current_dir(dir) {
                eprintln!("lualchemy test: cannot change to directory '{dir}': {e}");
                return ExitCode::FAILURE;
            }
        } else {
            rest.push(a.clone());
        }
    }
    let run = || -> mlua::Result<u8> {
        let (lua, runner) = load_runner(db.as_deref())?;
        let main: mlua::Function = runner.get("main")?;
        let code: i64 = main.call(lua.create_sequence_from(rest.iter().cloned())?)?;
        finish(lua)?;
        Ok(code.clamp(0, 255) as u8)
    };
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lualchemy test: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the specs under `paths`; returns (passed, failed).
pub fn run_specs(paths: &[String]) -> mlua::Result<(i64, i64)> {
    run_specs_on(paths, None)
}

/// Runs the spec files (`*_spec.lua`) under `paths`, on the database server at `db` when
/// given (see `SpecDatabase`); returns (passed, failed + errors). For the project's own
/// suite: env `LUALCHEMY_SPEC_FILTER` (a Lua pattern on test names) and
/// `LUALCHEMY_SPEC_VERBOSE` (tracebacks) apply.
pub fn run_specs_on(paths: &[String], db: Option<&str>) -> mlua::Result<(i64, i64)> {
    let paths: Vec<String> = if paths.is_empty() {
        vec!["spec".into()]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for p in &paths {
        let path = Path::new(p);
        if path.is_file() {
            files.push(p.clone());
        } else if path.is_dir() {
            let mut all = Vec::new();
            walk(path, &mut all);
            files.extend(all.into_iter().filter(|f| f.ends_with("_spec.lua")));
        } else {
            return Err(mlua::Error::runtime(format!(
                "no such file or directory: {p}"
            )));
        }
    }
    let (lua, runner) = load_runner(db)?;
    let run: mlua::Function = runner.get("run")?;
    let opts = lua.create_table()?;
    if let Ok(f) = std::env::var("LUALCHEMY_SPEC_FILTER") {
        opts.set("filter", f)?;
    }
    opts.set("verbose", std::env::var("LUALCHEMY_SPEC_VERBOSE").is_ok())?;
    if db.is_some() {
        opts.set("scope", scope_table(&lua)?)?;
    }
    let (passed, failed, _pending): (i64, i64, LuaValue) =
        run.call((lua.create_sequence_from(files)?, opts))?;
    finish(lua)?;
    Ok((passed, failed))
}

/// A database server the specs run against instead of SQLite: every engine a spec opens
/// on `sqlite://` (a new, empty in-memory database) gets a new, empty namespace on the
/// server instead: a schema on PostgreSQL, a database on MySQL / MariaDB. They are dropped
/// when the run ends.
pub struct SpecDatabase {
    url: crate::engine::url::ServerUrl,
    admin: crate::engine::Engine,
    prefix: String,
    created: std::cell::RefCell<Vec<String>>,
}

impl SpecDatabase {
    pub fn new(url: &str) -> crate::Result<SpecDatabase> {
        use crate::engine::url::Url;
        let Url::Server(server) = Url::parse(url)? else {
            return Err(crate::arg_err!("not a database server URL: '{url}'"));
        };
        let admin = crate::engine::Engine::new(url, Default::default())?;
        let db = SpecDatabase {
            url: server,
            admin,
            prefix: format!("lz_spec_{}_", std::process::id()),
            created: Default::default(),
        };
        db.drop_leftovers()?;
        Ok(db)
    }

    pub fn dialect(&self) -> &'static str {
        self.url.backend.name()
    }

    fn is_postgres(&self) -> bool {
        self.url.backend == crate::sql::dialect::Backend::Postgres
    }

    /// A URL of a new, empty namespace on the server.
    pub fn fresh_url(&self) -> crate::Result<String> {
        let name = format!("{}{}", self.prefix, self.created.borrow().len() + 1);
        let conn = self.admin.connect()?;
        if self.is_postgres() {
            conn.execute_control(&format!("CREATE SCHEMA {name}"), "CREATE SCHEMA")?;
        } else {
            conn.execute_control(&format!("CREATE DATABASE {name}"), "CREATE DATABASE")?;
        }
        self.created.borrow_mut().push(name.clone());
        let u = &self.url;
        let auth = match (&u.user, &u.password) {
            (Some(user), Some(p)) => format!("{}:{}@", escape(user), escape(p)),
            (Some(user), None) => format!("{}@", escape(user)),
            _ => String::new(),
        };
        let port = u.port.map(|p| format!(":{p}")).unwrap_or_default();
        let scheme = u.backend.name();
        Ok(if self.is_postgres() {
            let db = u.database.as_deref().unwrap_or("postgres");
            format!(
                "{scheme}://{auth}{}{port}/{db}?options=-c%20search_path%3D{name}\
                 &application_name={name}",
                u.host
            )
        } else {
            format!("{scheme}://{auth}{}{port}/{name}", u.host)
        })
    }

    /// How many fresh namespaces the run has made.
    pub fn engines_made(&self) -> usize {
        self.created.borrow().len()
    }

    /// Drops the namespaces made since `mark` (`engines_made()` then), closing whatever
    /// connections still use them.
    pub fn release_since(&self, mark: usize) {
        let names: Vec<String> = self.created.borrow()[mark.min(self.created.borrow().len())..]
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
        for n in names {
            self.drop_namespace(&n);
        }
        for n in self.created.borrow_mut()[mark..].iter_mut() {
            n.clear();
        }
    }

    /// Namespaces a crashed earlier run left behind.
    fn drop_leftovers(&self) -> crate::Result<()> {
        let conn = self.admin.connect()?;
        let sql = if self.is_postgres() {
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lz\\_spec\\_%'"
        } else {
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'lz\\_spec\\_%'"
        };
        let mut names = Vec::new();
        conn.query(sql, &[], |row| {
            if let Some(n) = row.value(0)?.as_str() {
                names.push(n.to_string());
            }
            Ok(())
        })?;
        drop(conn);
        for n in names {
            // another run's namespaces are left alone while that process lives
            let pid: Option<u32> = n
                .strip_prefix("lz_spec_")
                .and_then(|r| r.split('_').next())
                .and_then(|p| p.parse().ok());
            if pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
            self.drop_namespace(&n);
        }
        Ok(())
    }

    fn drop_namespace(&self, name: &str) {
        let Ok(conn) = self.admin.connect() else {
            return;
        };
        // connections of objects a spec left behind would hold locks on the namespace
        let (who, kill): (String, fn(i64) -> String) = if self.is_postgres() {
            (
                format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{name}'"),
                |id| format!("SELECT pg_terminate_backend({id})"),
            )
        } else {
            (
                format!("SELECT id FROM information_schema.processlist WHERE db = '{name}'"),
                |id| format!("KILL {id}"),
            )
        };
        let mut ids = Vec::new();
        let _ = conn.query(&who, &[], |row| {
            ids.extend(row.value(0)?.as_i64());
            Ok(())
        });
        for id in ids {
            let _ = conn.execute_control(&kill(id), "KILL");
        }
        let sql = if self.is_postgres() {
            format!("DROP SCHEMA IF EXISTS {name} CASCADE")
        } else {
            format!("DROP DATABASE IF EXISTS {name}")
        };
        let _ = conn.execute_control(&sql, &sql);
    }
}

impl Drop for SpecDatabase {
    fn drop(&mut self) {
        for name in self.created.take() {
            if !name.is_empty() {
                self.drop_namespace(&name);
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
