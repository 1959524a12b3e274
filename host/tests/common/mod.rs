//! Shared setup of the core ORM tests (no Lua): tables built with `schema`, created on an
//! in-memory engine, mapped with `orm::Mapper`, and an echo sink that records every
//! statement the engine sends.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lualchemy::engine::{EchoParams, EchoSink, Engine, EngineOptions};
use lualchemy::orm::session::SessionCore;
use lualchemy::orm::{Instance, Mapper, Session, SessionConfig};
use lualchemy::schema::{Column, ForeignKey, MetaData, SqlType, Table};
use lualchemy::sql::ddl;
use lualchemy::{Result, Value};

/// One statement as the engine reported it: the SQL and its parameter sets (one set for a
/// single execution, several for a batch, none for BEGIN / COMMIT).
#[derive(Clone, Debug)]
pub struct Sent {
    pub sql: String,
    pub params: Vec<Vec<Value>>,
}

/// Records statements while not paused.
#[derive(Default)]
pub struct Capture {
    sent: RefCell<Vec<Sent>>,
    paused: Cell<bool>,
}

impl EchoSink for Capture {
    fn statement(&self, sql: &str, params: &EchoParams<'_>) -> lualchemy::error::Result<()> {
        if self.paused.get() {
            return Ok(());
        }
        let params = match params {
            EchoParams::None => Vec::new(),
            EchoParams::One(p) | EchoParams::Batch(p) => vec![p.to_vec()],
            EchoParams::Many(rows) => rows.to_vecs(),
        };
        self.sent.borrow_mut().push(Sent {
            sql: sql.to_string(),
            params,
        });
        Ok(())
    }
}

impl Capture {
    /// Everything recorded since the last `take`, and forgets it.
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }
    /// The SQL of everything recorded since the last `take`, and forgets it.
    pub fn take_sql(&self) -> Vec<String> {
        self.take().into_iter().map(|s| s.sql).collect()
    }
    pub fn clear(&self) {
        self.sent.borrow_mut().clear();
    }
}

pub fn col(name: &str, ty: SqlType) -> Column {
    Column::new(name, ty)
}

pub fn pk(name: &str) -> Column {
    let mut c = Column::new(name, SqlType::Integer);
    c.primary_key = true;
    c
}

pub fn not_null(mut c: Column) -> Column {
    c.nullable = false;
    c
}

pub fn unique(mut c: Column) -> Column {
    c.unique = true;
    c
}

pub fn fk(mut c: Column, target: &str) -> Column {
    c.foreign_keys.push(ForeignKey {
        target: target.to_string(),
        name: None,
        ondelete: None,
        onupdate: None,
    });
    c
}

/// An in-memory engine recording its statements, with a MetaData to create tables in.
pub struct Db {
    pub engine: Engine,
    pub capture: Rc<Capture>,
    pub metadata: Rc<MetaData>,
    /// The sessions made by `session()`: `rows` and `exec` run inside the transaction of
    /// the latest one that has one open (each session has a connection of its own).
    sessions: RefCell<Vec<std::rc::Weak<SessionCore>>>,
}

impl Db {
    pub fn empty() -> Db {
        let capture = Rc::new(Capture::default());
        let engine = Engine::new(
            "sqlite://",
            EngineOptions {
                echo: Some(capture.clone()),
                ..EngineOptions::default()
            },
        )
        .expect("in-memory engine");
        Db {
            engine,
            capture,
            metadata: MetaData::new(),
            sessions: RefCell::new(Vec::new()),
        }
    }

    /// Adds a table to the MetaData and returns its mapper (class name = table name).
    pub fn table(&self, class_name: &str, table: Table) -> Rc<Mapper> {
        let table = Rc::new(table);
        self.metadata.add(table.clone()).expect("new table");
        Rc::new(Mapper::new(class_name, table).expect("mappable table"))
    }

    /// `metadata.create_all(engine)`: CREATE TABLE and CREATE INDEX in dependency order,
    /// as the binding's `create_all` does; nothing of it is recorded.
    pub fn create_all(&self) {
        self.paused(|| {
            let conn = self.engine.connect()?;
            let dialect = self.engine.dialect();
            for t in self.metadata.sorted_tables() {
                if !conn.has_table(&t.name)? {
                    conn.execute(&ddl::create_table(&t, dialect), &[])?;
                    for ix in ddl::create_indexes(&t, dialect) {
                        conn.execute(&ix, &[])?;
                    }
                }
            }
            Ok(())
        })
        .expect("create_all");
    }

    pub fn session(&self) -> Session {
        self.session_with(SessionConfig::default())
    }

    pub fn session_with(&self, config: SessionConfig) -> Session {
        let s = Session::new(Some(self.engine.clone()), config);
        self.sessions.borrow_mut().push(Rc::downgrade(&s.0));
        s
    }

    fn paused<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let was = self.capture.paused.replace(true);
        let out = f();
        self.capture.paused.set(was);
        out
    }

    /// The connection of the latest session in a transaction, else a new one.
    fn conn(&self) -> Result<Rc<lualchemy::engine::Connection>> {
        let open = self.sessions.borrow().iter().rev().find_map(|w| {
            let s = w.upgrade()?;
            s.in_transaction().then_some(s)
        });
        match open.map(|s| s.connection()) {
            Some(Ok(c)) => Ok(c),
            _ => Ok(Rc::new(self.engine.connect()?)),
        }
    }

    /// The rows of a query, read inside the latest session's transaction (else on a
    /// connection of their own), not recorded.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Value>> {
        self.paused(|| {
            let conn = self.conn()?;
            let n = conn.column_names(sql)?.len();
            let mut out = Vec::new();
            conn.query(sql, &[], |row| {
                let mut r = Vec::with_capacity(n);
                for i in 0..n {
                    r.push(row.value(i)?);
                }
                out.push(r);
                Ok(())
            })?;
            Ok(out)
        })
        .unwrap_or_else(|e| panic!("query {sql}: {e}"))
    }

    pub fn count(&self, table: &str) -> i64 {
        self.rows(&format!("SELECT count(*) FROM {table}"))[0][0]
            .as_i64()
            .expect("count")
    }

    /// Runs a statement behind the session's back (inside its transaction), not recorded.
    pub fn exec(&self, sql: &str) -> usize {
        self.paused(|| self.conn()?.execute(sql, &[]))
            .unwrap_or_else(|e| panic!("execute {sql}: {e}"))
    }
}

/// The users / addresses schema most tests use:
/// `users(id, name NOT NULL, email UNIQUE, age)` and
/// `addresses(id, user_id NOT NULL REFERENCES users, email)`.
pub struct Fixture {
    pub db: Db,
    pub users: Rc<Mapper>,
    pub addresses: Rc<Mapper>,
}

impl std::ops::Deref for Fixture {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let db = Db::empty();
        let users = db.table(
            "User",
            Table::new(
                "users",
                vec![
                    pk("id"),
                    not_null(col("name", SqlType::String(Some(50)))),
                    unique(col("email", SqlType::String(Some(100)))),
                    col("age", SqlType::Integer),
                ],
                vec![],
                vec![],
            )
            .unwrap(),
        );
        let addresses = db.table(
            "Address",
            Table::new(
                "addresses",
                vec![
                    pk("id"),
                    not_null(fk(col("user_id", SqlType::Integer), "users.id")),
                    col("email", SqlType::String(Some(100))),
                ],
                vec![],
                vec![],
            )
            .unwrap(),
        );
        db.create_all();
        Fixture {
            db,
            users,
            addresses,
        }
    }

    /// A transient user.
    pub fn user(&self, name: &str, email: &str) -> Rc<Instance> {
        make(
            &self.users,
            &[("name", name.into()), ("email", email.into())],
        )
    }

    /// A transient address of the user with id `user_id`.
    pub fn address(&self, user_id: &Value, email: &str) -> Rc<Instance> {
        make(
            &self.addresses,
            &[("user_id", user_id.clone()), ("email", email.into())],
        )
    }

    /// Inserts users behind the session (committed), returning their ids.
    pub fn seed_users(&self, names: &[&str]) -> Vec<i64> {
        names
            .iter()
            .map(|n| {
                self.exec(&format!(
                    "INSERT INTO users (name, email, age) VALUES ('{n}', '{n}@example.com', 30)"
                ));
                self.rows("SELECT max(id) FROM users")[0][0]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }
}

/// The index of attribute `key`.
pub fn attr(inst: &Instance, key: &str) -> usize {
    inst.mapper
        .attr_index(key)
        .unwrap_or_else(|| panic!("no attribute {key}"))
}

/// A transient instance with the given attributes set.
pub fn make(mapper: &Rc<Mapper>, values: &[(&str, Value)]) -> Rc<Instance> {
    let inst = Instance::new(mapper);
    for (k, v) in values {
        let i = attr(&inst, k);
        inst.set(i, v.clone());
    }
    inst
}

pub fn set(inst: &Rc<Instance>, key: &str, value: impl Into<Value>) {
    inst.set(attr(inst, key), value.into());
}

/// Reads an attribute as the binding does: loads it first when it is expired.
pub fn try_get(inst: &Rc<Instance>, key: &str) -> Result<Value> {
    let i = attr(inst, key);
    SessionCore::ensure_loaded(inst, i)?;
    let v = inst.state().values[i].clone();
    Ok(v)
}

pub fn get(inst: &Rc<Instance>, key: &str) -> Value {
    try_get(inst, key).unwrap_or_else(|e| panic!("reading {key}: {e}"))
}

/// True when attribute `key` holds a value (is not expired / unloaded).
pub fn is_loaded(inst: &Instance, key: &str) -> bool {
    inst.state().loaded.contains(attr(inst, key))
}

pub fn int(v: i64) -> Value {
    Value::Integer(v)
}

pub fn text(s: &str) -> Value {
    Value::text(s)
}

/// True when `list` holds this very instance.
pub fn holds(list: &[Rc<Instance>], inst: &Rc<Instance>) -> bool {
    list.iter().any(|o| Rc::ptr_eq(o, inst))
}
