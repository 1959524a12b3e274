//! The engine and its connections as Lua values.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{
    AnyUserData, Lua, MetaMethod, UserData, UserDataFields, UserDataMethods, Value as LuaValue,
};

use super::convert::value_to_lua;
use super::error::{arg, invalid, IntoLuaResult, LuaResult};
use super::expr::LuaText;
use super::statement::LuaSelect;
use crate::engine::connection::TxOwnership;
use crate::engine::{Connection, EchoParams, EchoSink, Engine, EngineOptions, PrintEcho};
use crate::schema::ValueKind;
use crate::sql::{compile, Statement};
use crate::value::Value;

pub struct LuaEngine(pub Engine);

pub fn engine_of(v: &LuaValue) -> LuaResult<Engine> {
    match v {
        LuaValue::UserData(ud) if ud.is::<LuaEngine>() => Ok(ud.borrow::<LuaEngine>()?.0.clone()),
        other => Err(arg(format!(
            "expected an engine (orm.create_engine(url)), got {}",
            other.type_name()
        ))),
    }
}

/// `echo = function(sql, params) ... end`.
struct LuaEcho {
    func: mlua::Function,
    lua: mlua::WeakLua,
}

impl EchoSink for LuaEcho {
    fn statement(&self, sql: &str, params: &EchoParams<'_>) {
        let Some(lua) = self.lua.try_upgrade() else {
            return;
        };
        let list = |vals: &[Value]| -> LuaResult<mlua::Table> {
            let t = lua.create_table()?;
            for (i, v) in vals.iter().enumerate() {
                t.raw_set(i + 1, value_to_lua(&lua, v, ValueKind::Any)?)?;
            }
            Ok(t)
        };
        let run = || -> LuaResult<()> {
            let p = match params {
                EchoParams::None => lua.create_table()?,
                EchoParams::One(v) | EchoParams::Batch(v) => list(v)?,
                EchoParams::Many(rows) => {
                    let t = lua.create_table()?;
                    for (i, r) in rows.iter().enumerate() {
                        t.raw_set(i + 1, list(r)?)?;
                    }
                    t
                }
            };
            self.func.call::<()>((
                sql,
                p,
                matches!(params, EchoParams::Many(_) | EchoParams::Batch(_)),
            ))
        };
        if let Err(e) = run() {
            eprintln!("lualchemy: error in echo function: {e}");
        }
    }
}

/// `engine:connect()`: a connection that begins a transaction on first use, as SQLAlchemy
/// 2.0's does; `commit()` and `rollback()` end it, `close()` rolls back what is left.
pub struct LuaConnection {
    conn: RefCell<Option<Connection>>,
    owner: RefCell<Option<TxOwnership>>,
    /// Lent to an event listener: the transaction is the flush's, not this handle's.
    lent: bool,
}

impl LuaConnection {
    /// A connection inside a transaction someone else owns (a listener's `connection`):
    /// its statements run in that transaction, which it neither commits nor rolls back.
    pub fn joined(conn: Connection) -> LuaConnection {
        LuaConnection {
            conn: RefCell::new(Some(conn)),
            owner: RefCell::new(Some(TxOwnership::Joined)),
            lent: true,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> crate::error::Result<T>) -> LuaResult<T> {
        let c = self.conn.borrow();
        let conn = c
            .as_ref()
            .ok_or_else(|| invalid("This Connection is closed"))?;
        if self.owner.borrow().is_none() {
            *self.owner.borrow_mut() = Some(conn.begin().lua()?);
        }
        f(conn).lua()
    }

    /// A lent connection (an event listener's) cannot end the flush's transaction.
    fn not_lent(&self, what: &str) -> LuaResult<()> {
        if self.lent {
            return Err(invalid(format!(
                "connection:{what}(): this connection runs inside the session's flush; its transaction is the session's to end"
            )));
        }
        Ok(())
    }

    fn end(&self, commit: bool) -> LuaResult<()> {
        let owner = self.owner.borrow_mut().take();
        if owner == Some(TxOwnership::Owner) {
            let c = self.conn.borrow();
            if let Some(conn) = c.as_ref() {
                if commit {
                    conn.commit()
                } else {
                    conn.rollback()
                }
                .lua()?;
            }
        }
        Ok(())
    }
}

impl UserData for LuaConnection {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method(
            "execute",
            |lua, this, (stmt, params): (LuaValue, Option<LuaValue>)| {
                let LuaValue::UserData(ud) = &stmt else {
                    return Err(arg(format!(
                        "conn:execute() expects orm.text() or orm.select(), got {}",
                        stmt.type_name()
                    )));
                };
                let (compiled, values) = if let Ok(t) = ud.borrow::<LuaText>() {
                    let dialect = this.with(|conn| Ok(conn.engine().clone()))?;
                    super::convert::text_with_params(lua, &t.0, &params, dialect.dialect())?
                } else if let Ok(s) = ud.borrow::<LuaSelect>() {
                    let stmt = Statement::Select(s.q.select.clone());
                    let c = this.with(|conn| compile(&stmt, conn.engine().dialect()))?;
                    // text fragments inside the SELECT take the named parameters too
                    let named = super::convert::named_params(lua, &params)?;
                    let values = c
                        .bind(&[], &|n| {
                            named
                                .iter()
                                .find(|(k, ..)| k == n)
                                .map(|(_, v, _)| v.clone())
                        })
                        .lua()?;
                    (c, values)
                } else {
                    return Err(arg("conn:execute() expects orm.text() or orm.select()"));
                };
                let out = this.with(|conn| conn.run_text(&compiled.sql, &values))?;
                Ok(super::session::text_result(out))
            },
        );
        m.add_method("commit", |_, this, ()| {
            this.not_lent("commit")?;
            this.end(true)
        });
        m.add_method("rollback", |_, this, ()| {
            this.not_lent("rollback")?;
            this.end(false)
        });
        m.add_method("close", |_, this, ()| {
            this.end(false)?;
            this.conn.borrow_mut().take();
            Ok(())
        });
        m.add_meta_method(MetaMethod::Close, |_, this, _: LuaValue| {
            this.end(false)?;
            this.conn.borrow_mut().take();
            Ok(())
        });
        m.add_method("in_transaction", |_, this, ()| {
            Ok(this.owner.borrow().is_some())
        });
    }
}

impl UserData for LuaEngine {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("url", |_, this| Ok(this.0.url().to_string()));
        f.add_field_method_get("dialect", |_, this| Ok(this.0.dialect().name()));
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("connect", |_, this, ()| {
            Ok(LuaConnection {
                conn: RefCell::new(Some(this.0.connect().lua()?)),
                owner: RefCell::new(None),
                lent: false,
            })
        });
        m.add_method("dispose", |_, this, ()| {
            this.0.dispose();
            Ok(())
        });
        m.add_method("set_echo", |lua, this, v: LuaValue| {
            this.0.set_echo(echo_sink(lua, &v)?);
            Ok(())
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("Engine({})", this.0.url()))
        });
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (_ud, key): (AnyUserData, LuaValue)| super::extension(lua, "Engine", key),
        );
    }
}

fn echo_sink(lua: &Lua, v: &LuaValue) -> LuaResult<Option<Rc<dyn EchoSink>>> {
    Ok(match v {
        LuaValue::Boolean(true) => Some(Rc::new(PrintEcho::default())),
        LuaValue::Boolean(false) | LuaValue::Nil => None,
        LuaValue::Function(f) => Some(Rc::new(LuaEcho {
            func: f.clone(),
            lua: lua.weak(),
        })),
        other => {
            return Err(arg(format!(
                "echo must be true, false or a function, got {}",
                other.type_name()
            )))
        }
    })
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "create_engine",
        lua.create_function(|lua, (url, opts): (String, Option<mlua::Table>)| {
            let mut options = EngineOptions::default();
            if let Some(t) = opts {
                for pair in t.pairs::<String, LuaValue>() {
                    let (k, v) = pair?;
                    match k.as_str() {
                        "echo" => options.echo = echo_sink(lua, &v)?,
                        "pool_size" => options.pool_size = v.as_usize().unwrap_or(5),
                        "future" | "connect_args" | "poolclass" => {}
                        other => {
                            return Err(arg(format!("create_engine: unknown option '{other}'")))
                        }
                    }
                }
            }
            let mut url = url;
            if let Some(db) = lua.app_data_ref::<crate::spec::SpecDatabase>() {
                // specs run on a server: each in-memory database is a fresh namespace
                if let Ok(crate::engine::Url::SqliteMemory) = crate::engine::Url::parse(&url) {
                    url = db.fresh_url().lua()?;
                    // engines of earlier specs let go of their connections
                    if db.engines_made() % 16 == 0 {
                        lua.gc_collect()?;
                    }
                }
            }
            if let Some(policy) = lua.app_data_ref::<crate::sandbox::Policy>() {
                url = policy.check_url(&url).lua()?;
                options.hardening = Some(policy.hardening());
            }
            Ok(LuaEngine(Engine::new(&url, options).lua()?))
        })?,
    )?;
    Ok(())
}
