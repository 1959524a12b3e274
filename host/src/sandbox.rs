//! The sandbox for untrusted scripts (mods, plugins, user rules): a Lua state whose globals
//! are a whitelist (`lua/sandbox.lua`), with an instruction budget and a wall-clock timeout
//! enforced by a hook that `pcall` cannot swallow and coroutines share, a Lua heap limit,
//! SQLite hardened (`engine/hardening.rs`) with the same deadline, and databases limited to
//! memory or files under one allowed directory. See `docs/SANDBOX.md`.

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, LuaOptions, MetaMethod, UserData, UserDataMethods, Value as LuaValue};

use crate::engine::hardening::Hardening;
use crate::error::{Error, ErrorKind, Result};
use crate::lua::compat;

/// How instructions are counted: the hook runs every this many.
const HOOK_EVERY: u32 = 1000;

/// The sandbox's options; `Sandbox::default()` holds the defaults the binary uses.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// File databases may live only under this directory (none: in-memory only).
    pub allow_dir: Option<PathBuf>,
    /// Lua VM instructions a script may run.
    pub max_instructions: u64,
    /// Bytes of Lua heap (and, separately, of SQLite heap).
    pub max_memory: usize,
    /// Wall-clock time for the script, its Lua and its SQL alike.
    pub timeout: Duration,
    /// The longest string one `string.rep` or SQL value may build.
    pub max_string: usize,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            allow_dir: None,
            max_instructions: 100_000_000,
            max_memory: 64 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            max_string: 16 * 1024 * 1024,
        }
    }
}

/// A read-only view of a table (the module, the libraries): a userdata, so that assignment,
/// `rawset` and `setmetatable` are all refused; tables inside it are read-only views too.
struct ReadOnly {
    t: mlua::Table,
    name: String,
}

impl ReadOnly {
    /// `pairs` over a snapshot of the entries, tables inside given as read-only views.
    fn snapshot_pairs(&self, lua: &Lua) -> mlua::Result<(mlua::Function, LuaValue, LuaValue)> {
        let entries: Vec<(LuaValue, LuaValue)> = self
            .t
            .pairs::<LuaValue, LuaValue>()
            .collect::<mlua::Result<_>>()?;
        let name = self.name.clone();
        let mut at = 0usize;
        let iter = lua.create_function_mut(move |lua, _: mlua::MultiValue| {
            let Some((k, v)) = entries.get(at).cloned() else {
                return Ok((LuaValue::Nil, LuaValue::Nil));
            };
            at += 1;
            let v = match v {
                LuaValue::Table(t) => LuaValue::UserData(lua.create_userdata(ReadOnly {
                    t,
                    name: name.clone(),
                })?),
                v => v,
            };
            Ok((k, v))
        })?;
        Ok((iter, LuaValue::Nil, LuaValue::Nil))
    }
}

impl UserData for ReadOnly {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, k: LuaValue| {
            Ok(match this.t.get::<LuaValue>(k.clone())? {
                LuaValue::Table(t) => {
                    let name = match &k {
                        LuaValue::String(s) => format!("{}.{}", this.name, s.to_string_lossy()),
                        _ => this.name.clone(),
                    };
                    LuaValue::UserData(lua.create_userdata(ReadOnly { t, name })?)
                }
                v => v,
            })
        });
        m.add_meta_method(
            MetaMethod::NewIndex,
            |_, this, (k, _): (LuaValue, LuaValue)| -> mlua::Result<()> {
                let key = match &k {
                    LuaValue::String(s) => s.to_string_lossy(),
                    other => other.type_name().to_string(),
                };
                Err(mlua::Error::runtime(format!(
                    "{} is read-only (cannot set '{key}')",
                    this.name
                )))
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<read-only {}>", this.name))
        });
        // pairs() walks a snapshot, so the iteration never hands out the table itself (Lua
        // 5.1 and LuaJIT ignore `__pairs`: lua/sandbox.lua's pairs calls `snapshot_pairs`)
        m.add_meta_method("__pairs", |lua, this, ()| this.snapshot_pairs(lua));
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.t.raw_len()));
    }
}

/// What the binding needs to know of the sandbox a state runs in (engines check URLs and
/// harden their connections with it).
#[derive(Clone, Debug)]
pub struct Policy {
    pub allow_dir: Option<PathBuf>,
    pub deadline: Instant,
    pub max_string: usize,
}

impl Policy {
    /// The hardening of the engines a sandboxed script creates.
    pub fn hardening(&self) -> Hardening {
        Hardening {
            deadline: Some(self.deadline),
            max_length: self.max_string.min(i32::MAX as usize) as i32,
            ..Hardening::default()
        }
    }

    /// Checks an engine URL: an in-memory database, or a file under the allowed directory
    /// (after normalising `..` and resolving symlinks), without URI parameters. Returns the
    /// URL to open: a file's absolute, resolved path (SQLite would take a relative one from
    /// the working directory).
    pub fn check_url(&self, url: &str) -> Result<String> {
        let refuse = |why: &str| {
            Err(Error::new(
                ErrorKind::ArgumentError,
                format!("the sandbox refuses database URL '{url}': {why}"),
            ))
        };
        let Some(rest) = url.strip_prefix("sqlite://") else {
            return refuse("only sqlite:// databases are allowed");
        };
        if rest.contains('?') || rest.contains('#') {
            return refuse("URI parameters are not allowed");
        }
        let path = rest.strip_prefix('/').unwrap_or(rest);
        if path.is_empty() || path == ":memory:" {
            return Ok(url.to_string());
        }
        let Some(dir) = &self.allow_dir else {
            return refuse(
                "file databases need --allow-dir; only sqlite:// (in memory) is allowed",
            );
        };
        let Ok(dir) = dir.canonicalize() else {
            return refuse("the allowed directory does not exist");
        };
        let p = Path::new(path);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        };
        let Some(resolved) = resolve(&p) else {
            return refuse("the path cannot be resolved");
        };
        if !resolved.starts_with(&dir) {
            return refuse(&format!(
                "the file is outside the allowed directory {}",
                dir.display()
            ));
        }
        let Some(text) = resolved.to_str() else {
            return refuse("the path is not valid UTF-8");
        };
        // `sqlite:///` + an absolute path (SQLAlchemy's four slashes)
        Ok(format!("sqlite:///{text}"))
    }
}

/// `p` with `.` and `..` removed and symlinks resolved (as far as the file exists; a file
/// not yet created resolves through its directory).
pub(crate) fn resolve(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    // a symlink whose target does not exist: SQLite would create the target, wherever it is
    if std::fs::symlink_metadata(p).is_ok() {
        return None;
    }
    let name = p.file_name()?;
    if matches!(p.components().next_back(), Some(Component::ParentDir)) {
        return None;
    }
    let parent = resolve(p.parent()?)?;
    Some(parent.join(name))
}

impl Sandbox {
    /// A new Lua state with lualchemy installed, sandboxed.
    pub fn new_lua(&self) -> mlua::Result<Lua> {
        let lua = Lua::new_with(compat::sandbox_libs(), LuaOptions::default())?;
        self.install(&lua)?;
        Ok(lua)
    }

    /// Installs lualchemy into `lua` and sandboxes it: the whitelist environment, the
    /// limits, the engine policy. `lua` should hold no libraries beyond those `new_lua`
    /// loads (the environment removes every global outside the whitelist either way).
    pub fn install(&self, lua: &Lua) -> mlua::Result<()> {
        let deadline = Instant::now() + self.timeout;
        lua.set_app_data(Policy {
            allow_dir: self.allow_dir.clone(),
            deadline,
            max_string: self.max_string,
        });
        let orm = crate::lua::install(lua)?;
        let readonly = lua.create_function(|lua, (t, name): (mlua::Table, String)| {
            lua.create_userdata(ReadOnly { t, name })
        })?;
        // pairs over a read-only view where Lua ignores `__pairs` (nothing for other values)
        let readonly_pairs = lua.create_function(|lua, v: LuaValue| match v {
            LuaValue::UserData(ud) if ud.is::<ReadOnly>() => {
                let (f, s, c) = ud.borrow::<ReadOnly>()?.snapshot_pairs(lua)?;
                Ok((LuaValue::Function(f), s, c))
            }
            _ => Ok((LuaValue::Nil, LuaValue::Nil, LuaValue::Nil)),
        })?;
        let spent = Rc::new(Cell::new(0u64));
        let max = self.max_instructions;
        let timeout = self.timeout;
        let limit_error = move |n: u64| -> Option<String> {
            if n > max {
                Some(format!("sandbox: instruction limit of {max} reached"))
            } else if Instant::now() > deadline {
                Some(format!(
                    "sandbox: timeout of {:.1} s reached",
                    timeout.as_secs_f64()
                ))
            } else {
                None
            }
        };
        // a big C call (string or table functions) charges one instruction per 64 bytes or
        // elements, and checks the limits first
        let charge = {
            let spent = spent.clone();
            lua.create_function(move |_, n: usize| {
                let total = spent.get() + (n / 64) as u64;
                spent.set(total);
                match limit_error(total) {
                    Some(msg) => Err(mlua::Error::runtime(msg)),
                    None => Ok(()),
                }
            })?
        };
        lua.load(include_str!("../lua/sandbox.lua"))
            .set_name("=lualchemy/sandbox.lua")
            .call::<()>((orm, self.max_string, readonly, charge, readonly_pairs))?;
        // SQLite's own heap, process-wide
        unsafe {
            rusqlite::ffi::sqlite3_hard_heap_limit64(self.max_memory as i64);
        }
        // lowered to what the process can still obtain, so that a limit above it is still
        // an error, not an abort (`memory`)
        lua.set_memory_limit(crate::memory::cap(self.max_memory))?;
        // the budget: a count hook (LuaJIT: with the JIT compiler off; Luau: the interrupt)
        compat::set_budget_hook(lua, HOOK_EVERY, move || {
            let n = spent.get() + HOOK_EVERY as u64;
            spent.set(n);
            match limit_error(n) {
                Some(msg) => Err(msg),
                None => Ok(()),
            }
        })?;
        Ok(())
    }
}

/// The message for a limit that ended a script, if `e` is one.
pub fn limit_message(e: &mlua::Error, sandbox: &Sandbox) -> Option<String> {
    match e {
        mlua::Error::MemoryError(_) => Some(format!(
            "sandbox: memory limit of {} bytes reached",
            sandbox.max_memory
        )),
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            limit_message(cause, sandbox)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: &Path) -> Policy {
        Policy {
            allow_dir: Some(dir.to_path_buf()),
            deadline: Instant::now(),
            max_string: 1 << 20,
        }
    }

    #[test]
    fn each_script_gets_pristine_globals_and_a_whitelist() {
        let sandbox = Sandbox::default();
        let first = sandbox.new_lua().unwrap();
        first
            .load(
                r#"
                evil = true
                string.upper = function() return "hacked" end
                assert(("x"):upper() == "X", "string methods come from the sandbox's own table")
                local orm = require("lualchemy")
                assert(not pcall(rawset, orm, "select", print), "the module refuses rawset")
                assert(not pcall(function() orm.select = print end), "and assignment")
                assert(not pcall(function() orm.event.listen = print end), "and inside")
                -- pairs walks a snapshot of a read-only view, on every version (Lua 5.1
                -- and LuaJIT ignore __pairs: the sandbox's pairs does it there)
                local n = 0
                for k, v in pairs(orm) do n = n + 1 end
                assert(n > 20, "pairs over the module saw " .. n .. " entries")
                assert(io == nil and package == nil and debug == nil and dofile == nil)
                assert(os.execute == nil and os.getenv == nil and string.dump == nil)
                assert(getmetatable("") == false)
            "#,
            )
            .exec()
            .unwrap();
        let second = sandbox.new_lua().unwrap();
        let (evil, upper): (Option<bool>, String) =
            second.load(r#"return evil, ("x"):upper()"#).eval().unwrap();
        assert_eq!(evil, None);
        assert_eq!(upper, "X");
    }

    #[test]
    fn the_instruction_limit_cannot_be_swallowed_by_pcall() {
        let sandbox = Sandbox {
            max_instructions: 200_000,
            ..Sandbox::default()
        };
        let lua = sandbox.new_lua().unwrap();
        let err = lua
            .load(
                r#"
                for _ = 1, 100 do
                  pcall(function() while true do end end)
                end
                -- still spent: the next call fails too
                local co = coroutine.wrap(function() return 1 end)
                return co()
            "#,
            )
            .exec()
            .unwrap_err();
        assert!(err.to_string().contains("instruction limit"), "{err}");
    }

    #[test]
    fn the_budget_holds_in_a_hot_loop_of_a_state_with_every_library() {
        // Lua::new() opens LuaJIT's `jit` library, which turns the compiler on: the count hook
        // is not called inside compiled traces, so the sandbox turns it off again
        let lua = Lua::new();
        Sandbox {
            max_instructions: 2_000_000,
            ..Sandbox::default()
        }
        .install(&lua)
        .unwrap();
        let err = lua
            .load("local x = 0 for _ = 1, 1e12 do x = x + 1 end return x")
            .exec()
            .unwrap_err();
        assert!(err.to_string().contains("instruction limit"), "{err}");
    }

    #[test]
    fn urls_are_checked_against_the_allowed_directory() {
        let base = std::env::temp_dir().join(format!("lualchemy_sbx_{}", std::process::id()));
        let allowed = base.join("allowed");
        std::fs::create_dir_all(&allowed).unwrap();
        let p = policy(&allowed);
        assert!(p.check_url("sqlite://").is_ok());
        assert!(p.check_url("sqlite:///:memory:").is_ok());
        assert!(p
            .check_url(&format!("sqlite:///{}/db.sqlite", allowed.display()))
            .is_ok());
        assert!(
            p.check_url("sqlite:///db.sqlite").is_ok(),
            "relative to the allowed directory"
        );
        let outside = format!("sqlite:///{}/../x.db", allowed.display());
        assert!(p.check_url(&outside).is_err(), ".. escapes");
        assert!(p.check_url("sqlite:////etc/passwd").is_err());
        assert!(
            p.check_url("sqlite:///db.sqlite?mode=rwc").is_err(),
            "URI parameters"
        );
        assert!(p.check_url("postgresql://x").is_err());
        #[cfg(unix)]
        {
            let link = allowed.join("link");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&base, &link).unwrap();
            assert!(p.check_url("sqlite:///link/x.db").is_err(), "a symlink out");
        }
        let none = Policy {
            allow_dir: None,
            ..policy(&allowed)
        };
        assert!(none.check_url("sqlite:///x.db").is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
