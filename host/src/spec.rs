//! The Lua spec runner (`lualchemy test`): finds `*_spec.lua` files and runs them with the
//! busted-style runner in `lua/spec_runner.lua`.

use std::path::{Path, PathBuf};

use mlua::{Lua, Value as LuaValue};

fn collect_specs(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            collect_specs(&e, out);
        }
    } else if path.to_string_lossy().ends_with("_spec.lua") {
        // a spec of a newer Lua's syntax (`-- requires: Lua 5.4` first line) is skipped
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let first = text.lines().next().unwrap_or("");
        match crate::lua::compat::unmet_requirement(first) {
            Some(why) => println!("SKIP {}: {why}", path.display()),
            None => out.push(path.to_path_buf()),
        }
    }
}

/// Runs the specs under `paths`; returns (passed, failed).
pub fn run_specs(paths: &[String]) -> mlua::Result<(i64, i64)> {
    run_specs_on(paths, None)
}

/// Runs the specs under `paths`, on the database server at `db` when given (see
/// `SpecDatabase`); returns (passed, failed).
pub fn run_specs_on(paths: &[String], db: Option<&str>) -> mlua::Result<(i64, i64)> {
    let mut files = Vec::new();
    let paths: Vec<String> = if paths.is_empty() {
        vec!["spec".into()]
    } else {
        paths.to_vec()
    };
    for p in &paths {
        let path = Path::new(p);
        if !path.exists() {
            return Err(mlua::Error::runtime(format!(
                "no such file or directory: {p}"
            )));
        }
        collect_specs(path, &mut files);
    }
    let lua = Lua::new();
    crate::install(&lua)?;
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
    let runner: mlua::Table = lua
        .load(include_str!("../lua/spec_runner.lua"))
        .set_name("=lualchemy/spec_runner.lua")
        .call(())?;
    let run: mlua::Function = runner.get("run")?;
    let list = lua.create_sequence_from(files.iter().map(|f| f.to_string_lossy().into_owned()))?;
    let opts = lua.create_table()?;
    if let Ok(f) = std::env::var("LUALCHEMY_SPEC_FILTER") {
        opts.set("filter", f)?;
    }
    opts.set("verbose", std::env::var("LUALCHEMY_SPEC_VERBOSE").is_ok())?;
    if db.is_some() {
        // each file and test drops the namespaces it made, its connections closed first
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
        opts.set("scope", scope)?;
    }
    let (passed, failed, _pending): (i64, i64, LuaValue) = run.call((list, opts))?;
    // engines first, then the namespaces they used
    lua.gc_collect()?;
    lua.gc_collect()?;
    drop(lua.remove_app_data::<SpecDatabase>());
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
