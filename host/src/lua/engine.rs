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
use crate::engine::{Connection, EchoParams, EchoSink, Engine, EngineOptions, PrintEcho};
use crate::schema::ValueKind;
use crate::sql::{compile, Statement};
use crate::value::Value;

pub struct LuaEngine(pub Engine);

/// The connection of a Lua `Connection` value (`engine:connect()`), if `v` is one;
/// `Err` when that connection is closed.
pub fn connection_of(v: &LuaValue) -> Option<LuaResult<Connection>> {
    match v {
        LuaValue::UserData(ud) => {
            let c = ud.borrow::<LuaConnection>().ok()?;
            Some(c.share())
        }
        _ => None,
    }
}

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
    /// Statements sent while a session was being finalized (`Finalizing`): reported before
    /// the next one, never by a Lua call from inside the garbage collector.
    deferred: RefCell<Vec<(String, OwnedParams)>>,
}

/// `EchoParams` kept for later.
enum OwnedParams {
    None,
    One(Vec<Value>),
    Many(Vec<Vec<Value>>),
    Batch(Vec<Value>),
}

impl OwnedParams {
    fn of(p: &EchoParams<'_>) -> OwnedParams {
        match p {
            EchoParams::None => OwnedParams::None,
            EchoParams::One(v) => OwnedParams::One(v.to_vec()),
            EchoParams::Many(v) => OwnedParams::Many(v.to_vecs()),
            EchoParams::Batch(v) => OwnedParams::Batch(v.to_vec()),
        }
    }

    fn params(&self) -> EchoParams<'_> {
        match self {
            OwnedParams::None => EchoParams::None,
            OwnedParams::One(v) => EchoParams::One(v),
            OwnedParams::Many(v) => EchoParams::Many(crate::engine::echo::Rows::Vecs(v)),
            OwnedParams::Batch(v) => EchoParams::Batch(v),
        }
    }
}

thread_local! {
    static FINALIZING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// While alive, lualchemy is finalizing a Lua value (a session the garbage collector took):
/// what it does then (a ROLLBACK) calls no Lua function (Luau aborts on a Lua call from a
/// userdata destructor, and a finalizer is no place for the script's code on any version).
pub(crate) struct Finalizing(());

impl Finalizing {
    pub(crate) fn enter() -> Finalizing {
        FINALIZING.with(|f| f.set(f.get() + 1));
        Finalizing(())
    }

    fn active() -> bool {
        FINALIZING.with(|f| f.get() > 0)
    }
}

impl Drop for Finalizing {
    fn drop(&mut self) {
        FINALIZING.with(|f| f.set(f.get() - 1));
    }
}

impl EchoSink for LuaEcho {
    fn statement(&self, sql: &str, params: &EchoParams<'_>) -> crate::error::Result<()> {
        if Finalizing::active() {
            self.deferred
                .borrow_mut()
                .push((sql.to_string(), OwnedParams::of(params)));
            return Ok(());
        }
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for (sql, params) in &deferred {
            // sent long ago, while a session was finalized: an error can stop nothing
            if let Err(e) = self.report(sql, &params.params()) {
                eprintln!("lualchemy: error in echo function: {e}");
            }
        }
        self.report(sql, params)
    }
}

impl LuaEcho {
    /// Calls the echo function; what it raises comes back as a core error carrying the
    /// very value (as a listener's does).
    fn report(&self, sql: &str, params: &EchoParams<'_>) -> crate::error::Result<()> {
        let Some(lua) = self.lua.try_upgrade() else {
            return Ok(());
        };
        let list = |vals: &[Value]| -> LuaResult<mlua::Table> {
            let t = lua.create_table()?;
            for (i, v) in vals.iter().enumerate() {
                t.raw_set(i + 1, value_to_lua(&lua, v, ValueKind::Any)?)?;
            }
            Ok(t)
        };
        let run = || -> LuaResult<mlua::MultiValue> {
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
            Ok(mlua::MultiValue::from_iter([
                LuaValue::String(lua.create_string(sql)?),
                LuaValue::Table(p),
                LuaValue::Boolean(matches!(params, EchoParams::Many(_) | EchoParams::Batch(_))),
            ]))
        };
        let args = run().map_err(super::error::from_lua)?;
        super::events::call(&lua, &self.func, args).map(|_| ())
    }
}

/// `engine:connect()`: a connection that begins a transaction on first use, as SQLAlchemy
/// 2.0's does; `commit()` and `rollback()` end it, `close()` rolls back what is left.
/// `begin()` and `begin_nested()` return transaction objects (`LuaTransaction`). Whether a
/// transaction is open is the core connection's to say, so a session joined to this
/// connection that ends the transaction (`join_transaction_mode`) is seen here too.
pub struct LuaConnection {
    conn: RefCell<Option<Connection>>,
    /// Lent to an event listener: the transaction is the flush's, not this handle's.
    lent: bool,
}

impl LuaConnection {
    /// A connection inside a transaction someone else owns (a listener's `connection`):
    /// its statements run in that transaction, which it neither commits nor rolls back.
    pub fn joined(conn: Connection) -> LuaConnection {
        LuaConnection {
            conn: RefCell::new(Some(conn)),
            lent: true,
        }
    }

    /// Another handle on the connection (for a session bound to it).
    pub fn share(&self) -> LuaResult<Connection> {
        let c = self.conn.borrow();
        Ok(c.as_ref()
            .ok_or_else(|| invalid("This Connection is closed"))?
            .share())
    }

    /// Runs `f` on the open connection, without beginning a transaction.
    fn open<T>(&self, f: impl FnOnce(&Connection) -> crate::error::Result<T>) -> LuaResult<T> {
        let c = self.conn.borrow();
        let conn = c
            .as_ref()
            .ok_or_else(|| invalid("This Connection is closed"))?;
        f(conn).lua()
    }

    /// Runs `f` inside a transaction, beginning one first if none is open (autobegin).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> crate::error::Result<T>) -> LuaResult<T> {
        let lent = self.lent;
        self.open(|conn| {
            if !lent && !conn.in_transaction() {
                conn.begin()?;
            }
            f(conn)
        })
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
        if self.lent {
            return Ok(());
        }
        let c = self.conn.borrow();
        if let Some(conn) = c.as_ref() {
            if commit {
                conn.commit()
            } else {
                conn.rollback()
            }
            .lua()?;
        }
        Ok(())
    }

    fn is_open_and(&self, f: impl FnOnce(&Connection) -> bool) -> bool {
        self.conn.borrow().as_ref().is_some_and(f)
    }
}

/// `connection:begin()` / `begin_nested()`: the transaction (or SAVEPOINT) begun, as
/// SQLAlchemy's `RootTransaction` / `NestedTransaction`. It keeps its connection alive.
pub struct LuaTransaction {
    conn: AnyUserData,
    /// The connection's transaction number when begun (`Connection::transaction_id`).
    id: u64,
    /// The SAVEPOINT of a nested transaction.
    savepoint: Option<String>,
}

impl LuaTransaction {
    fn with_conn<T>(&self, f: impl FnOnce(&LuaConnection) -> LuaResult<T>) -> LuaResult<T> {
        f(&*self.conn.borrow::<LuaConnection>()?)
    }

    /// Still the connection's current transaction (or an open SAVEPOINT of it).
    fn is_active(&self) -> LuaResult<bool> {
        self.with_conn(|c| {
            Ok(c.is_open_and(|conn| match &self.savepoint {
                Some(sp) => conn.has_savepoint(sp),
                None => conn.in_transaction() && conn.transaction_id() == self.id,
            }))
        })
    }

    fn commit(&self) -> LuaResult<()> {
        if !self.is_active()? {
            return Err(invalid("This transaction is inactive"));
        }
        self.with_conn(|c| {
            c.open(|conn| match &self.savepoint {
                Some(sp) => conn.release_savepoint(sp),
                None => conn.commit(),
            })
        })
    }

    /// Rolls back while active; an ended transaction's rollback does nothing, as
    /// SQLAlchemy's.
    fn rollback(&self) -> LuaResult<()> {
        if !self.is_active()? {
            return Ok(());
        }
        self.with_conn(|c| {
            c.open(|conn| match &self.savepoint {
                Some(sp) => conn.rollback_to_savepoint(sp),
                None => conn.rollback(),
            })
        })
    }
}

impl UserData for LuaTransaction {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("is_active", |_, this| this.is_active());
        f.add_field_method_get("nested", |_, this| Ok(this.savepoint.is_some()));
        f.add_field_method_get("connection", |_, this| Ok(this.conn.clone()));
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("commit", |_, this, ()| this.commit());
        m.add_method("rollback", |_, this, ()| this.rollback());
        m.add_method("close", |_, this, ()| this.rollback());
        if super::compat::CLOSE {
            // `local tx <close> = conn:begin()`: committed when the block ends normally,
            // rolled back when it ends by an error, as SQLAlchemy's `with conn.begin():`
            m.add_meta_method("__close", |_, this, err: LuaValue| {
                if err.is_nil() && this.is_active()? {
                    this.commit()
                } else {
                    this.rollback()
                }
            });
        }
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(match &this.savepoint {
                Some(sp) => format!("NestedTransaction({sp})"),
                None => "RootTransaction".to_string(),
            })
        });
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
                if let Ok(up) = ud.borrow::<super::upsert::LuaDialectInsert>() {
                    let n = super::upsert::execute_on(lua, &up, params, &|ins, values| {
                        let stmt = Statement::Insert(ins.clone());
                        this.with(|conn| {
                            let c = compile(&stmt, conn.engine().dialect())?;
                            let bound = c.bind(values, &|_| None)?;
                            Ok(conn.run_text(&c.sql, &bound)?.affected as usize)
                        })
                    })?;
                    return Ok(super::result::ResultSet::with_rowcount(n as i64));
                }
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
                    let conn = this.with(|c| Ok(c.share()))?;
                    return match super::connection_dml::execute(lua, &conn, ud, &params)? {
                        Some(result) => Ok(result),
                        None => Err(arg(
                            "conn:execute() expects orm.text(), orm.select(), orm.insert(), orm.update() or orm.delete()",
                        )),
                    };
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
        if super::compat::CLOSE {
            m.add_meta_method("__close", |_, this, _: LuaValue| {
                this.end(false)?;
                this.conn.borrow_mut().take();
                Ok(())
            });
        }
        m.add_method("in_transaction", |_, this, ()| {
            Ok(this.is_open_and(Connection::in_transaction))
        });
        m.add_method("in_nested_transaction", |_, this, ()| {
            Ok(this.is_open_and(Connection::in_nested_transaction))
        });
        m.add_function("begin", |_, ud: AnyUserData| {
            let this = ud.borrow::<LuaConnection>()?;
            this.not_lent("begin")?;
            let id = this.open(|conn| {
                if conn.in_transaction() {
                    return Err(crate::invalid!(
                        "This connection has already begun a transaction (by begin() or autobegin); commit() or rollback() it before calling begin() again"
                    ));
                }
                conn.begin()?;
                Ok(conn.transaction_id())
            })?;
            drop(this);
            Ok(LuaTransaction {
                conn: ud,
                id,
                savepoint: None,
            })
        });
        m.add_function("begin_nested", |_, ud: AnyUserData| {
            let this = ud.borrow::<LuaConnection>()?;
            this.not_lent("begin_nested")?;
            let (id, name) = this.with(|conn| {
                let name = conn.next_savepoint_name();
                conn.savepoint(&name)?;
                Ok((conn.transaction_id(), name))
            })?;
            drop(this);
            Ok(LuaTransaction {
                conn: ud,
                id,
                savepoint: Some(name),
            })
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
        // two values of one engine (`session.bind`, `session:get_bind(M)`) compare equal
        m.add_meta_function(MetaMethod::Eq, |_, (a, b): (LuaValue, LuaValue)| {
            Ok(match (engine_of(&a), engine_of(&b)) {
                (Ok(a), Ok(b)) => a.ptr_eq(&b),
                _ => false,
            })
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
        LuaValue::Function(f) => Some({
            // what it raises comes back unchanged from the session methods
            super::events::raise_values_from_now_on(lua)?;
            Rc::new(LuaEcho {
                func: f.clone(),
                lua: lua.weak(),
                deferred: RefCell::new(Vec::new()),
            })
        }),
        other => {
            return Err(arg(format!(
                "echo must be true, false or a function, got {}",
                other.type_name()
            )))
        }
    })
}

/// The options `orm.create_engine` knows.
const ENGINE_OPTIONS: [&str; 5] = [
    "connect_args",
    "echo",
    "future",
    "pool_size",
    "sqlite_begin",
];
/// The keys of `connect_args`: SQLite's (pysqlite's) and the servers'.
const CONNECT_ARGS: &str = "timeout and check_same_thread (SQLite), connect_timeout (servers)";

/// `create_engine`'s options table; an unknown key or a bad value is an `ArgumentError`.
fn engine_options(lua: &Lua, opts: Option<mlua::Table>) -> LuaResult<EngineOptions> {
    let mut options = EngineOptions::default();
    let Some(t) = opts else {
        return Ok(options);
    };
    let number = |what: &str, v: &LuaValue| -> LuaResult<f64> {
        match v {
            LuaValue::Integer(i) => Ok(*i as f64),
            LuaValue::Number(n) => Ok(*n),
            other => Err(arg(format!(
                "create_engine: {what} must be a number of seconds, got {}",
                other.type_name()
            ))),
        }
    };
    super::options::check_keys(&t, &ENGINE_OPTIONS, "create_engine", false)?;
    for pair in t.pairs::<String, LuaValue>() {
        let (key, v) = pair?;
        match key.as_str() {
            "echo" => options.echo = echo_sink(lua, &v)?,
            "pool_size" => {
                options.pool_size = match v {
                    LuaValue::Integer(n) if n > 0 => n as usize,
                    LuaValue::Number(n) if n > 0.0 && n.fract() == 0.0 => n as usize,
                    other => {
                        return Err(arg(format!(
                            "create_engine: pool_size must be a positive integer, got {}",
                            match other {
                                LuaValue::Integer(n) => n.to_string(),
                                LuaValue::Number(n) => n.to_string(),
                                _ => other.type_name().to_string(),
                            }
                        )))
                    }
                }
            }
            "future" => {
                if v != LuaValue::Boolean(true) {
                    return Err(arg(
                        "create_engine: the 'future' option may only be true (SQLAlchemy 2.0's engine is the only one)",
                    ));
                }
            }
            "sqlite_begin" => {
                let LuaValue::String(name) = &v else {
                    return Err(arg(format!(
                        "create_engine: sqlite_begin must be {}, got {}",
                        crate::engine::SqliteBegin::NAMES,
                        v.type_name()
                    )));
                };
                options.sqlite_begin = crate::engine::SqliteBegin::parse(&name.to_str()?).lua()?;
            }
            "connect_args" => {
                let LuaValue::Table(args) = &v else {
                    return Err(arg(format!(
                        "create_engine: connect_args must be a table ({CONNECT_ARGS}), got {}",
                        v.type_name()
                    )));
                };
                for pair in args.pairs::<LuaValue, LuaValue>() {
                    let (k, v) = pair?;
                    let name = match &k {
                        LuaValue::String(s) => s.to_str()?.to_string(),
                        other => other.type_name().to_string(),
                    };
                    match name.as_str() {
                        "timeout" => {
                            options.sqlite_timeout = Some(
                                crate::engine::options::seconds(
                                    "connect_args.timeout",
                                    number("connect_args.timeout", &v)?,
                                )
                                .lua()?,
                            )
                        }
                        "connect_timeout" => {
                            let secs = number("connect_args.connect_timeout", &v)?;
                            if secs <= 0.0 {
                                return Err(arg(format!(
                                    "create_engine: connect_args.connect_timeout must be more than 0 seconds, got {secs}"
                                )));
                            }
                            options.connect_timeout = Some(
                                crate::engine::options::seconds("connect_args.connect_timeout", secs)
                                    .lua()?,
                            )
                        }
                        // pysqlite's thread check: lualchemy's connections never leave the
                        // Lua state that made them, so either value is right
                        "check_same_thread" if matches!(v, LuaValue::Boolean(_)) => {}
                        "check_same_thread" => {
                            return Err(arg(format!(
                                "create_engine: connect_args.check_same_thread must be a boolean, got {}",
                                v.type_name()
                            )))
                        }
                        other => {
                            return Err(arg(format!(
                                "create_engine: unknown connect_args key '{other}' (lualchemy knows {CONNECT_ARGS})"
                            )))
                        }
                    }
                }
            }
            _ => unreachable!("check_keys admits only ENGINE_OPTIONS"),
        }
    }
    Ok(options)
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "create_engine",
        lua.create_function(|lua, (url, opts): (String, Option<mlua::Table>)| {
            let options = engine_options(lua, opts)?;
            let mut options = options;
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
