//! Criterion bench of the query language: building and compiling a SELECT, executing it, and
//! fetching many rows as plain tuples, each measured from Lua, through the Rust core, and (for
//! execution and fetching) by hand on rusqlite.
//!
//! The statement is a five-table join with filters, an ORDER BY and a LIMIT:
//!
//! ```text
//! SELECT comments.id, comments.body, tasks.title, projects.name, depts.name, users.name
//! FROM comments JOIN tasks ON tasks.id = comments.task_id JOIN projects ON ...
//!   JOIN depts ON ... JOIN users ON users.id = comments.author_id
//! WHERE depts.name = ? AND tasks.priority >= ? AND comments.score > ?
//!   AND users.age BETWEEN ? AND ? AND projects.budget < ?
//! ORDER BY comments.id DESC LIMIT ?
//! ```
//!
//! on a small in-memory data set (5 depts, 50 users, 20 projects, 500 tasks, 2,000 comments;
//! the query returns 20 rows). Groups:
//!
//! - `QL_build-compile` (10,000 statements an iteration): building only, building and
//!   compiling, and compiling one already built statement, from Lua (`orm.select(...)`,
//!   `tostring(stmt)`) and in Rust (`sql::Select` built by hand, `SessionCore::compile`).
//! - `QL_execute` (1,000 executions an iteration): `session:execute(stmt):all()` from Lua
//!   (statement built once, or built anew for every execution), `SessionCore::execute_select`
//!   in Rust, and the same SQL by hand on rusqlite (`prepare_cached`, `query_map`, rows into a
//!   `Vec` of tuples), once more with `prepare` instead (SQLite parses and plans the statement
//!   at every execution: what a miss in the prepared-statement cache costs).
//! - `QL_fetch-100k` (one fetch of 100,000 rows an iteration):
//!   `session:execute(orm.select(Item.id, Item.name, Item.value)):all()` from Lua (with and
//!   without reading the three fields of every row), `execute_select` in Rust, and rusqlite
//!   (`prepare`, `query_map`, collected into `Vec<(i64, String, f64)>`).
//!
//! Sizes are fixed (a hundredth of them in criterion's test mode, which only checks that each
//! benchmark runs). Only the work itself is timed (`iter_custom`): seeding runs once per
//! process, and between iterations the Lua side runs two full garbage collections and the Rust
//! side drops what an iteration returned, both outside the clock.
//!
//! ```sh
//! cargo bench --bench query_language                  # all three groups
//! cargo bench --bench query_language -- QL_fetch      # one group (a filter on the names)
//! cargo bench --bench query_language -- --test        # run each once, small, as a check
//! ```

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use lualchemy::engine::{Engine, EngineOptions};
use lualchemy::orm::query::SelectItem;
use lualchemy::orm::{Item, OrmSelect, Session, SessionConfig};
use lualchemy::schema::{Column, ForeignKey, SqlType, Table};
use lualchemy::sql::expr::UnaryOp;
use lualchemy::sql::{ddl, BinOp, Expr, FromItem, Join, Select, Statement};
use lualchemy::Value;
use mlua::{Function, Lua, MultiValue, Table as LuaTable};
use rusqlite::params;

/// The sizes of a run.
#[derive(Clone, Copy)]
struct Sizes {
    /// Statements built or compiled in one iteration of `QL_build-compile`.
    stmt: i64,
    /// Statements executed in one iteration of `QL_execute` (each takes SQLite far longer than
    /// it takes to build, so fewer keep the run short).
    exec: i64,
    /// Rows fetched in one iteration of `QL_fetch-100k`.
    rows: i64,
}

/// 10,000 statements, 1,000 executions, 100,000 rows; a hundredth of that in criterion's test
/// mode (`-- --test`, or run without `--bench` as `cargo test --all-targets` does), which only
/// checks that every benchmark runs.
fn sizes() -> Sizes {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    if test_mode {
        Sizes {
            stmt: 100,
            exec: 10,
            rows: 1_000,
        }
    } else {
        Sizes {
            stmt: 10_000,
            exec: 1_000,
            rows: 100_000,
        }
    }
}
/// Rows the join returns (its LIMIT; the data set has more matching rows).
const JOIN_ROWS: i64 = 20;

// ---------------------------------------------------------------------------------------------
// The data set, the same in all three (Lua seeds it with the same formulas).

const N_DEPTS: i64 = 5;
const N_USERS: i64 = 50;
const N_PROJECTS: i64 = 20;
const N_TASKS: i64 = 500;
const N_COMMENTS: i64 = 2_000;

/// The rows of every table, in foreign-key order: (table, columns, rows).
fn seed_rows(n_rows: i64) -> Vec<(&'static str, &'static str, Vec<Vec<Value>>)> {
    let rows = |n: i64, f: &dyn Fn(i64) -> Vec<Value>| (1..=n).map(f).collect::<Vec<_>>();
    vec![
        (
            "depts",
            "id, name",
            rows(N_DEPTS, &|i| {
                vec![i.into(), format!("dept{i}").as_str().into()]
            }),
        ),
        (
            "users",
            "id, name, age, dept_id",
            rows(N_USERS, &|i| {
                vec![
                    i.into(),
                    format!("user{i}").as_str().into(),
                    (20 + (i * 7) % 40).into(),
                    (1 + i % N_DEPTS).into(),
                ]
            }),
        ),
        (
            "projects",
            "id, name, budget, dept_id",
            rows(N_PROJECTS, &|i| {
                vec![
                    i.into(),
                    format!("project{i}").as_str().into(),
                    (1000.0 * i as f64).into(),
                    (1 + i % N_DEPTS).into(),
                ]
            }),
        ),
        (
            "tasks",
            "id, title, priority, project_id, assignee_id",
            rows(N_TASKS, &|i| {
                vec![
                    i.into(),
                    format!("task{i}").as_str().into(),
                    ((i / 20) % 5).into(),
                    (1 + i % N_PROJECTS).into(),
                    (1 + i % N_USERS).into(),
                ]
            }),
        ),
        (
            "comments",
            "id, body, score, task_id, author_id",
            rows(N_COMMENTS, &|i| {
                vec![
                    i.into(),
                    format!("comment {i}").as_str().into(),
                    ((i * 3) % 10).into(),
                    (1 + i % N_TASKS).into(),
                    (1 + (i * 7) % N_USERS).into(),
                ]
            }),
        ),
        (
            "items",
            "id, name, value",
            rows(n_rows, &|i| {
                vec![
                    i.into(),
                    format!("item{i}").as_str().into(),
                    (i as f64 * 0.5).into(),
                ]
            }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Lua: the models, the seeding and the timed functions. Each timed function takes the number of
// statements and returns what must stay alive until the clock stops.

const LUA_CODE: &str = r#"
local N_DEPTS, N_USERS, N_PROJECTS, N_TASKS, N_COMMENTS, N_ROWS = ...
local orm = require("lualchemy")

local Base = orm.declarative_base()
local function pk() return orm.Column(orm.Integer, { primary_key = true }) end
local function fk(target) return orm.Column(orm.Integer, orm.ForeignKey(target)) end

local Dept = Base:model("Dept", {
  __tablename__ = "depts",
  id = pk(),
  name = orm.Column(orm.String(50), { nullable = false }),
})
local User = Base:model("User", {
  __tablename__ = "users",
  id = pk(),
  name = orm.Column(orm.String(50), { nullable = false }),
  age = orm.Column(orm.Integer),
  dept_id = fk("depts.id"),
})
local Project = Base:model("Project", {
  __tablename__ = "projects",
  id = pk(),
  name = orm.Column(orm.String(50), { nullable = false }),
  budget = orm.Column(orm.Float),
  dept_id = fk("depts.id"),
})
local Task = Base:model("Task", {
  __tablename__ = "tasks",
  id = pk(),
  title = orm.Column(orm.String(100), { nullable = false }),
  priority = orm.Column(orm.Integer),
  project_id = fk("projects.id"),
  assignee_id = fk("users.id"),
})
local Comment = Base:model("Comment", {
  __tablename__ = "comments",
  id = pk(),
  body = orm.Column(orm.String(200)),
  score = orm.Column(orm.Integer),
  task_id = fk("tasks.id"),
  author_id = fk("users.id"),
})
local Item = Base:model("Item", {
  __tablename__ = "items",
  id = pk(),
  name = orm.Column(orm.String(50), { nullable = false }),
  value = orm.Column(orm.Float),
})

local engine = orm.create_engine("sqlite://")
Base.metadata:create_all(engine)
do
  local s = orm.Session(engine)
  local function seed(M, n, make)
    local rows = {}
    for i = 1, n do rows[i] = make(i) end
    s:execute(orm.insert(M), rows)
  end
  seed(Dept, N_DEPTS, function(i) return { id = i, name = "dept" .. i } end)
  seed(User, N_USERS, function(i)
    return { id = i, name = "user" .. i, age = 20 + (i * 7) % 40, dept_id = 1 + i % N_DEPTS }
  end)
  seed(Project, N_PROJECTS, function(i)
    return { id = i, name = "project" .. i, budget = 1000.0 * i, dept_id = 1 + i % N_DEPTS }
  end)
  seed(Task, N_TASKS, function(i)
    return { id = i, title = "task" .. i, priority = (i // 20) % 5,
             project_id = 1 + i % N_PROJECTS, assignee_id = 1 + i % N_USERS }
  end)
  seed(Comment, N_COMMENTS, function(i)
    return { id = i, body = "comment " .. i, score = (i * 3) % 10,
             task_id = 1 + i % N_TASKS, author_id = 1 + (i * 7) % N_USERS }
  end)
  seed(Item, N_ROWS, function(i) return { id = i, name = "item" .. i, value = i * 0.5 } end)
  s:commit()
  s:close()
end

-- the five-table join with filters, order and limit
local function stmt()
  return orm.select(Comment.id, Comment.body, Task.title, Project.name, Dept.name, User.name)
    :join(Task, Task.id:eq(Comment.task_id))
    :join(Project, Project.id:eq(Task.project_id))
    :join(Dept, Dept.id:eq(Project.dept_id))
    :join(User, User.id:eq(Comment.author_id))
    :where(Dept.name:eq("dept2"), Task.priority:ge(2))
    :where(Comment.score:gt(3), User.age:between(25, 50), Project.budget:lt(15000.0))
    :order_by(Comment.id:desc())
    :limit(20)
end

local B = {}

function B.sql() return tostring(stmt()) end

-- the rows of the join: count, and the sum of comments.id
function B.check()
  local s = orm.Session(engine)
  local n, sum = 0, 0
  for _, r in ipairs(s:execute(stmt()):all()) do n = n + 1; sum = sum + r[1] end
  s:close()
  return n, sum
end

function B.build(n)
  local last
  for _ = 1, n do last = stmt() end
  return last
end

function B.build_tostring(n)
  local sql
  for _ = 1, n do sql = tostring(stmt()) end
  return sql
end

function B.tostring(n)
  local st, sql = stmt(), nil
  for _ = 1, n do sql = tostring(st) end
  return sql
end

function B.execute(n)
  local s = orm.Session(engine)
  local st, rows = stmt(), nil
  for _ = 1, n do rows = s:execute(st):all() end
  s:close()
  return #rows, rows
end

function B.build_execute(n)
  local s = orm.Session(engine)
  local rows
  for _ = 1, n do rows = s:execute(stmt()):all() end
  s:close()
  return #rows, rows
end

function B.fetch()
  local s = orm.Session(engine)
  local rows = s:execute(orm.select(Item.id, Item.name, Item.value)):all()
  s:close()
  return #rows, rows
end

function B.fetch_read()
  local s = orm.Session(engine)
  local rows = s:execute(orm.select(Item.id, Item.name, Item.value)):all()
  local n, sum = 0, 0.0
  for _, r in ipairs(rows) do
    local id, name, value = r[1], r[2], r[3]
    if id and name then n = n + 1 end
    sum = sum + value
  end
  s:close()
  return n, rows, sum
end

return B
"#;

/// The Lua state with the bench functions.
struct LuaSide {
    lua: Lua,
    fns: LuaTable,
}

impl LuaSide {
    fn new(n_rows: i64) -> LuaSide {
        let lua = Lua::new();
        lualchemy::install(&lua).expect("install lualchemy");
        let fns: LuaTable = lua
            .load(LUA_CODE)
            .set_name("=benches/query_language.rs")
            .call((N_DEPTS, N_USERS, N_PROJECTS, N_TASKS, N_COMMENTS, n_rows))
            .expect("Lua setup");
        lua.gc_collect().expect("gc");
        lua.gc_collect().expect("gc");
        LuaSide { lua, fns }
    }

    fn func(&self, name: &str) -> Function {
        self.fns.get(name).expect("bench function")
    }

    /// `iters` timed calls of `name(arg)`; a full collection after each, outside the clock.
    /// When `rows` is given, the first result must be that row count.
    fn time(&self, name: &str, arg: Option<i64>, rows: Option<i64>, iters: u64) -> Duration {
        let f = self.func(name);
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let kept: MultiValue = f.call(arg).expect("Lua bench function");
            total += start.elapsed();
            if let Some(n) = rows {
                assert_eq!(
                    kept.front().and_then(|v| v.as_i64()),
                    Some(n),
                    "{name} rows"
                );
            }
            drop(kept);
            self.lua.gc_collect().expect("gc");
            self.lua.gc_collect().expect("gc");
        }
        total
    }
}

// ---------------------------------------------------------------------------------------------
// Rust: the same tables and statement through the core API (no Lua).

fn column(name: &str, ty: SqlType) -> Column {
    Column::new(name, ty)
}

fn pk(name: &str) -> Column {
    let mut c = Column::new(name, SqlType::Integer);
    c.primary_key = true;
    c
}

fn fk(name: &str, target: &str) -> Column {
    let mut c = Column::new(name, SqlType::Integer);
    c.foreign_keys.push(ForeignKey {
        target: target.to_string(),
        name: None,
        ondelete: None,
        onupdate: None,
    });
    c
}

fn not_null(mut c: Column) -> Column {
    c.nullable = false;
    c
}

fn table(name: &str, columns: Vec<Column>) -> Rc<Table> {
    Rc::new(Table::new(name, columns, vec![], vec![]).expect("table"))
}

struct Schema {
    depts: Rc<Table>,
    users: Rc<Table>,
    projects: Rc<Table>,
    tasks: Rc<Table>,
    comments: Rc<Table>,
    items: Rc<Table>,
}

impl Schema {
    fn new() -> Schema {
        Schema {
            depts: table(
                "depts",
                vec![
                    pk("id"),
                    not_null(column("name", SqlType::String(Some(50)))),
                ],
            ),
            users: table(
                "users",
                vec![
                    pk("id"),
                    not_null(column("name", SqlType::String(Some(50)))),
                    column("age", SqlType::Integer),
                    fk("dept_id", "depts.id"),
                ],
            ),
            projects: table(
                "projects",
                vec![
                    pk("id"),
                    not_null(column("name", SqlType::String(Some(50)))),
                    column("budget", SqlType::Float),
                    fk("dept_id", "depts.id"),
                ],
            ),
            tasks: table(
                "tasks",
                vec![
                    pk("id"),
                    not_null(column("title", SqlType::String(Some(100)))),
                    column("priority", SqlType::Integer),
                    fk("project_id", "projects.id"),
                    fk("assignee_id", "users.id"),
                ],
            ),
            comments: table(
                "comments",
                vec![
                    pk("id"),
                    column("body", SqlType::String(Some(200))),
                    column("score", SqlType::Integer),
                    fk("task_id", "tasks.id"),
                    fk("author_id", "users.id"),
                ],
            ),
            items: table(
                "items",
                vec![
                    pk("id"),
                    not_null(column("name", SqlType::String(Some(50)))),
                    column("value", SqlType::Float),
                ],
            ),
        }
    }

    fn tables(&self) -> [&Rc<Table>; 6] {
        [
            &self.depts,
            &self.users,
            &self.projects,
            &self.tasks,
            &self.comments,
            &self.items,
        ]
    }
}

/// Column `name` of `t` as an expression.
fn col(t: &Rc<Table>, name: &str) -> Expr {
    Expr::column(t, t.column_index(name).expect("column"))
}

/// `l op value`, the value bound with the column's type (as the Lua operators do).
fn cmp(l: Expr, op: BinOp, v: Value) -> Expr {
    let ty = l.sql_type();
    Expr::compare(l, op, Expr::Bind(v, ty))
}

fn eq(l: Expr, r: Expr) -> Expr {
    Expr::compare(l, BinOp::Eq, r)
}

fn join(target: &Rc<Table>, on: Expr) -> Join {
    Join {
        target: FromItem::Table(target.clone()),
        on,
        outer: false,
    }
}

/// The join of the Lua `stmt()`, built through `sql::Select`.
fn build_select(s: &Schema) -> Select {
    let (d, u, p, t, c) = (&s.depts, &s.users, &s.projects, &s.tasks, &s.comments);
    let mut q = Select::new(vec![
        col(c, "id"),
        col(c, "body"),
        col(t, "title"),
        col(p, "name"),
        col(d, "name"),
        col(u, "name"),
    ]);
    q.joins = vec![
        join(t, eq(col(t, "id"), col(c, "task_id"))),
        join(p, eq(col(p, "id"), col(t, "project_id"))),
        join(d, eq(col(d, "id"), col(p, "dept_id"))),
        join(u, eq(col(u, "id"), col(c, "author_id"))),
    ];
    let age = col(u, "age");
    let age_ty = age.sql_type();
    q.where_ = vec![
        cmp(col(d, "name"), BinOp::Eq, Value::text("dept2")),
        cmp(col(t, "priority"), BinOp::Ge, Value::Integer(2)),
        cmp(col(c, "score"), BinOp::Gt, Value::Integer(3)),
        Expr::Between {
            expr: Box::new(age),
            low: Box::new(Expr::Bind(Value::Integer(25), age_ty.clone())),
            high: Box::new(Expr::Bind(Value::Integer(50), age_ty)),
            negate: false,
        },
        cmp(col(p, "budget"), BinOp::Lt, Value::Real(15000.0)),
    ];
    q.order_by = vec![Expr::Unary(UnaryOp::Desc, Box::new(col(c, "id")))];
    q.limit = Some(JOIN_ROWS);
    q
}

/// An ORM select of value columns (no entities) over `select`.
fn orm_select(select: Select) -> OrmSelect {
    let mut q = OrmSelect::new(
        select
            .columns
            .iter()
            .cloned()
            .map(SelectItem::Expr)
            .collect(),
    );
    q.select = select;
    q
}

/// The Rust core's side: an in-memory engine seeded with the data set, and a session on it.
struct RustSide {
    schema: Schema,
    session: Session,
    join_q: OrmSelect,
    items_q: OrmSelect,
}

impl RustSide {
    fn new(n_rows: i64) -> RustSide {
        let schema = Schema::new();
        let engine = Engine::new("sqlite://", EngineOptions::default()).expect("engine");
        {
            let conn = engine.connect().expect("connect");
            for t in schema.tables() {
                conn.execute(&ddl::create_table(t, engine.dialect()), &[])
                    .expect("create table");
            }
            conn.begin().expect("begin");
            for (name, cols, rows) in seed_rows(n_rows) {
                let marks = vec!["?"; rows[0].len()].join(", ");
                let sql = format!("INSERT INTO {name} ({cols}) VALUES ({marks})");
                conn.execute_many(&sql, &rows, |_, _, _| Ok(()))
                    .expect("seed");
            }
            conn.commit().expect("commit");
        }
        let session = Session::new(Some(engine), SessionConfig::default());
        let join_q = orm_select(build_select(&schema));
        let it = &schema.items;
        let items_q = orm_select(Select::new(vec![
            col(it, "id"),
            col(it, "name"),
            col(it, "value"),
        ]));
        RustSide {
            schema,
            session,
            join_q,
            items_q,
        }
    }
}

/// Calls `f` `n` times and returns the last result (each earlier one is dropped in turn).
fn repeat<T>(n: i64, mut f: impl FnMut() -> T) -> Option<T> {
    let mut last = None;
    for _ in 0..n {
        last = Some(black_box(f()));
    }
    last
}

/// `iters` timed calls of `f`; what each returns is dropped outside the clock.
fn time_rust<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let kept = f();
        total += start.elapsed();
        drop(black_box(kept));
    }
    total
}

// ---------------------------------------------------------------------------------------------
// rusqlite by hand: the same tables (the DDL the core generates) and data.

type JoinRow = (i64, String, String, String, String, String);

fn rusqlite_db(schema: &Schema, n_rows: i64) -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open_in_memory().expect("open");
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("pragma");
    let dialect = lualchemy::sql::dialect::default_dialect();
    for t in schema.tables() {
        conn.execute_batch(&ddl::create_table(t, dialect))
            .expect("create table");
    }
    let tx = conn.transaction().expect("begin");
    for (name, cols, rows) in seed_rows(n_rows) {
        let marks = vec!["?"; rows[0].len()].join(", ");
        let mut ins = tx
            .prepare(&format!("INSERT INTO {name} ({cols}) VALUES ({marks})"))
            .expect("prepare");
        for r in &rows {
            ins.execute(rusqlite::params_from_iter(r)).expect("insert");
        }
    }
    tx.commit().expect("commit");
    conn
}

/// The join by hand; `cached`: through rusqlite's prepared-statement cache (as lualchemy's
/// engine executes), else prepared anew.
fn rusqlite_join(conn: &rusqlite::Connection, sql: &str, cached: bool) -> Vec<JoinRow> {
    let mut cached_st;
    let mut fresh_st;
    let st = if cached {
        cached_st = conn.prepare_cached(sql).expect("prepare");
        &mut *cached_st
    } else {
        fresh_st = conn.prepare(sql).expect("prepare");
        &mut fresh_st
    };
    let rows = st
        .query_map(params!["dept2", 2, 3, 25, 50, 15000.0, JOIN_ROWS], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .expect("query");
    rows.collect::<rusqlite::Result<_>>().expect("rows")
}

fn rusqlite_fetch(conn: &rusqlite::Connection) -> Vec<(i64, String, f64)> {
    let mut st = conn
        .prepare("SELECT items.id, items.name, items.value FROM items")
        .expect("prepare");
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query");
    rows.collect::<rusqlite::Result<_>>().expect("rows")
}

// ---------------------------------------------------------------------------------------------

fn configure(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, secs: u64) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(secs))
        .sampling_mode(SamplingMode::Flat);
}

fn query_language(c: &mut Criterion) {
    let z = sizes();
    let lua = LuaSide::new(z.rows);
    let rust = RustSide::new(z.rows);
    let raw = rusqlite_db(&rust.schema, z.rows);

    // The three sides compile the same SQL and read the same rows.
    let compiled = rust
        .session
        .compile(&Statement::Select(rust.join_q.select.clone()))
        .expect("compile");
    let lua_sql: String = lua.func("sql").call(()).expect("Lua sql");
    assert_eq!(lua_sql, compiled.sql, "Lua and Rust compile the same SQL");
    let (lua_n, lua_sum): (i64, i64) = lua.func("check").call(()).expect("Lua check");
    let rows = rust.session.execute_select(&rust.join_q).expect("execute");
    let rust_sum: i64 = (0..rows.len())
        .map(|i| match &rows.row(i)[0] {
            Item::Value(v, _) => v.as_i64().expect("id"),
            _ => panic!("a value column"),
        })
        .sum();
    let raw_rows = rusqlite_join(&raw, &compiled.sql, true);
    let raw_sum: i64 = raw_rows.iter().map(|r| r.0).sum();
    assert_eq!(lua_n, JOIN_ROWS, "the join returns its LIMIT of rows");
    assert_eq!((rows.len() as i64, rust_sum), (lua_n, lua_sum));
    assert_eq!((raw_rows.len() as i64, raw_sum), (lua_n, lua_sum));
    rust.session.rollback().expect("rollback");

    let mut g = c.benchmark_group("QL_build-compile");
    configure(&mut g, 2);
    g.throughput(Throughput::Elements(z.stmt as u64));
    g.bench_function("lua_build", |b| {
        b.iter_custom(|iters| lua.time("build", Some(z.stmt), None, iters))
    });
    g.bench_function("lua_build+tostring", |b| {
        b.iter_custom(|iters| lua.time("build_tostring", Some(z.stmt), None, iters))
    });
    g.bench_function("lua_tostring", |b| {
        b.iter_custom(|iters| lua.time("tostring", Some(z.stmt), None, iters))
    });
    let session = &rust.session;
    let schema = &rust.schema;
    g.bench_function("rust_build", |b| {
        b.iter_custom(|iters| time_rust(iters, || repeat(z.stmt, || build_select(schema))))
    });
    g.bench_function("rust_build+compile", |b| {
        b.iter_custom(|iters| {
            time_rust(iters, || {
                repeat(z.stmt, || {
                    let stmt = Statement::Select(build_select(schema));
                    session.compile(&stmt).expect("compile")
                })
            })
        })
    });
    let stmt = Statement::Select(build_select(schema));
    g.bench_function("rust_compile", |b| {
        b.iter_custom(|iters| {
            time_rust(iters, || {
                repeat(z.stmt, || {
                    session.compile(black_box(&stmt)).expect("compile")
                })
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("QL_execute");
    configure(&mut g, 3);
    g.throughput(Throughput::Elements(z.exec as u64));
    g.bench_function("lua_execute", |b| {
        b.iter_custom(|iters| lua.time("execute", Some(z.exec), Some(JOIN_ROWS), iters))
    });
    g.bench_function("lua_build+execute", |b| {
        b.iter_custom(|iters| lua.time("build_execute", Some(z.exec), Some(JOIN_ROWS), iters))
    });
    g.bench_function("rust_execute", |b| {
        b.iter_custom(|iters| {
            time_rust(iters, || {
                let mut last = None;
                for _ in 0..z.exec {
                    last = Some(session.execute_select(&rust.join_q).expect("execute"));
                }
                session.rollback().expect("rollback");
                let rows = last.expect("rows");
                assert_eq!(rows.len() as i64, JOIN_ROWS);
                rows
            })
        })
    });
    let sql = compiled.sql.as_str();
    for (name, cached) in [
        ("rusqlite_execute", true),
        ("rusqlite_execute_uncached", false),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                time_rust(iters, || {
                    let mut last = Vec::new();
                    for _ in 0..z.exec {
                        last = rusqlite_join(&raw, sql, cached);
                    }
                    assert_eq!(last.len() as i64, JOIN_ROWS);
                    last
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("QL_fetch-100k");
    configure(&mut g, 3);
    g.throughput(Throughput::Elements(z.rows as u64));
    g.bench_function("lua_all", |b| {
        b.iter_custom(|iters| lua.time("fetch", None, Some(z.rows), iters))
    });
    g.bench_function("lua_all+read", |b| {
        b.iter_custom(|iters| lua.time("fetch_read", None, Some(z.rows), iters))
    });
    g.bench_function("rust_execute_select", |b| {
        b.iter_custom(|iters| {
            time_rust(iters, || {
                let rows = session.execute_select(&rust.items_q).expect("execute");
                session.rollback().expect("rollback");
                assert_eq!(rows.len() as i64, z.rows);
                rows
            })
        })
    });
    g.bench_function("rusqlite", |b| {
        b.iter_custom(|iters| {
            time_rust(iters, || {
                let rows = rusqlite_fetch(&raw);
                assert_eq!(rows.len() as i64, z.rows);
                rows
            })
        })
    });
    g.finish();
}

criterion_group!(benches, query_language);
criterion_main!(benches);
