//! Criterion bench: the reference workloads W1 (insert), W2 (load), W3 (update), W4 (get-by-pk),
//! W5 (relationships-selectin), W6 (relationships-lazy), W7 (insert-cascade), W8 (delete) and W9
//! (small-transactions) of `../shared/bench/README.md`, each run two ways in one group: `lualchemy` (the Lua code of `benches/workloads.lua` on a fresh `mlua::Lua` with
//! `lualchemy::install`) and `rusqlite` (the hand-written work of `shared/bench/rusqlite_ref`).
//!
//! Only the timed part of each workload is measured (from just before the Session is created to
//! just after the last commit, objects kept alive until then); creating the Lua state, the
//! engine or connection, the tables and the seeding run outside the clock for every iteration.
//!
//! Sizes: `N = floor(100000 * scale)` users, `NQ = floor(10000 * scale)` lookups,
//! `NA = floor(1000 * scale)` authors with 10 books each, with
//! `scale = $LUALCHEMY_BENCH_SCALE`, default 0.1 (N = 10,000, NA = 100). W9 always makes 1000
//! transactions, as in the references.
//!
//! ```sh
//! cargo bench --bench workloads                       # all, N = 10,000
//! cargo bench --bench workloads -- W4                 # one group
//! LUALCHEMY_BENCH_SCALE=1 cargo bench --bench workloads
//! cargo bench --bench workloads -- --test             # run each once, as a check
//! ```

use std::collections::{hash_map::Entry, HashMap};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use mlua::{Function, Lua, MultiValue, Table};
use rusqlite::{params, Connection};

/// Users, lookups and authors for a scale factor, as in the references.
#[derive(Clone, Copy)]
struct Sizes {
    n: i64,
    nq: i64,
    na: i64,
}

fn sizes() -> Sizes {
    let scale: f64 = std::env::var("LUALCHEMY_BENCH_SCALE")
        .ok()
        .map_or(0.1, |s| {
            s.parse().expect("LUALCHEMY_BENCH_SCALE must be a number")
        });
    Sizes {
        n: (100000.0 * scale) as i64,
        nq: (10000.0 * scale) as i64,
        na: (1000.0 * scale) as i64,
    }
}

/// Transactions of W9, whatever the scale (as in the references).
const W9_TXNS: i64 = 1000;

/// A W9 database file in the temp directory (`$TMPDIR`, else `/tmp`), with its `-wal` and
/// `-shm` files removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let k = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench_w9_criterion_{tag}_{}_{k}.db", std::process::id());
        let db = TempDb(std::env::temp_dir().join(name));
        db.remove();
        db
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

// ---------------------------------------------------------------------------------------------
// lualchemy: the workloads of benches/workloads.lua, split into setup (untimed), run (timed) and
// teardown (untimed). `run` returns the row count, then what it keeps alive until the timer stops
// (the session, the objects); `teardown` gets those back to close the session.

/// The workloads in Lua, shared with `workloads.lua`.
const LUA_WORKLOADS: &str = include_str!("workload_defs.lua");

/// One lualchemy iteration of workload `name` on a fresh Lua state; returns the time of `run`.
fn lualchemy_once(name: &str, z: Sizes) -> Duration {
    let lua = Lua::new();
    lualchemy::install(&lua).expect("install lualchemy");
    let workloads: Table = lua
        .load(LUA_WORKLOADS)
        .set_name("=benches/workload_defs.lua")
        .call((z.n, z.nq, W9_TXNS, z.na))
        .expect("load the Lua workloads");
    let w: Table = workloads.get(name).expect("workload");
    let setup: Function = w.get("setup").expect("setup");
    let run: Function = w.get("run").expect("run");
    let teardown: Function = w.get("teardown").expect("teardown");

    let db = (name == "W9").then(|| TempDb::new("lua"));
    let state: MultiValue = match &db {
        Some(db) => setup.call(db.path()),
        None => setup.call(()),
    }
    .expect("setup");
    // as workloads.lua: the seed rows are garbage by now; two full collections (objects with
    // finalizers) before the timer starts
    lua.gc_collect().expect("gc");
    lua.gc_collect().expect("gc");

    let start = Instant::now();
    let mut kept: MultiValue = run.call(state).expect("run");
    let elapsed = start.elapsed();

    let rows = kept.pop_front().and_then(|v| v.as_i64());
    assert_eq!(rows, Some(expected_rows(name, z)), "{name} rows");
    teardown.call::<()>(kept).expect("teardown");
    drop(lua);
    drop(db);
    elapsed
}

fn expected_rows(name: &str, z: Sizes) -> i64 {
    match name {
        "W4" => z.nq,
        "W5" | "W6" => z.na * 10,
        "W7" => z.na * 11,
        "W9" => W9_TXNS,
        _ => z.n,
    }
}

// ---------------------------------------------------------------------------------------------
// rusqlite: the hand-written work of shared/bench/rusqlite_ref (one explicit transaction per
// workload except W2; rows into structs; prepared statements reused through prepare_cached).

const SCHEMA: &str = "
    PRAGMA foreign_keys = OFF;
    CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL,
                        email VARCHAR(100), age INTEGER);
    CREATE TABLE authors (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50));
    CREATE TABLE books (id INTEGER NOT NULL PRIMARY KEY, title VARCHAR(100),
                        author_id INTEGER REFERENCES authors (id));";

#[allow(dead_code)] // the fields are what the workloads load, not all are read back
struct User {
    id: i64,
    name: String,
    email: Option<String>,
    age: Option<i64>,
}

#[allow(dead_code)]
struct Author {
    id: i64,
    name: Option<String>,
    books: Vec<Book>,
}

#[allow(dead_code)]
struct Book {
    id: i64,
    title: Option<String>,
    author_id: Option<i64>,
}

/// Ids per `IN (...)` query of W5, as in `rusqlite_ref` (one query up to scale 10).
const IN_CHUNK: usize = 10000;

type Res<T> = rusqlite::Result<T>;

fn fresh(path: &str) -> Res<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn seeded(z: Sizes) -> Res<Connection> {
    let mut conn = fresh(":memory:")?;
    let tx = conn.transaction()?;
    {
        let mut ins =
            tx.prepare_cached("INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)")?;
        for i in 1..=z.n {
            ins.execute(params![
                format!("user{i}"),
                format!("user{i}@example.com"),
                i % 80
            ])?;
        }
    }
    tx.commit()?;
    Ok(conn)
}

fn seeded_books(z: Sizes) -> Res<Connection> {
    let mut conn = fresh(":memory:")?;
    let tx = conn.transaction()?;
    {
        let mut ins_a = tx.prepare_cached("INSERT INTO authors (id, name) VALUES (?1, ?2)")?;
        let mut ins_b =
            tx.prepare_cached("INSERT INTO books (title, author_id) VALUES (?1, ?2)")?;
        for i in 1..=z.na {
            ins_a.execute(params![i, format!("author{i}")])?;
            for j in 1..=10 {
                ins_b.execute(params![format!("book{i}-{j}"), i])?;
            }
        }
    }
    tx.commit()?;
    Ok(conn)
}

fn book_from(r: &rusqlite::Row) -> Res<Book> {
    Ok(Book {
        id: r.get(0)?,
        title: r.get(1)?,
        author_id: r.get(2)?,
    })
}

fn load_authors(conn: &Connection) -> Res<Vec<Author>> {
    let mut st = conn.prepare_cached("SELECT id, name FROM authors")?;
    let rows = st.query_map([], |r| {
        Ok(Author {
            id: r.get(0)?,
            name: r.get(1)?,
            books: Vec::new(),
        })
    })?;
    rows.collect()
}

fn user_from(r: &rusqlite::Row) -> Res<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        age: r.get(3)?,
    })
}

fn load_users(conn: &Connection) -> Res<Vec<User>> {
    let mut st = conn.prepare_cached("SELECT id, name, email, age FROM users")?;
    let rows = st.query_map([], user_from)?;
    rows.collect()
}

fn rq_w1(conn: &mut Connection, z: Sizes) -> Res<(i64, Vec<User>)> {
    let mut users: Vec<User> = (1..=z.n)
        .map(|i| User {
            id: 0,
            name: format!("user{i}"),
            email: Some(format!("user{i}@example.com")),
            age: Some(i % 80),
        })
        .collect();
    let tx = conn.transaction()?;
    {
        let mut ins =
            tx.prepare_cached("INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)")?;
        for u in users.iter_mut() {
            ins.execute(params![u.name, u.email, u.age])?;
            u.id = tx.last_insert_rowid();
        }
    }
    tx.commit()?;
    Ok((z.n, users))
}

fn rq_w2(conn: &mut Connection, _: Sizes) -> Res<(i64, Vec<User>)> {
    let users = load_users(conn)?;
    let n = users.iter().filter(|u| !u.name.is_empty()).count() as i64;
    Ok((n, users))
}

fn rq_w3(conn: &mut Connection, _: Sizes) -> Res<(i64, Vec<User>)> {
    let tx = conn.transaction()?;
    let mut users = load_users(&tx)?;
    for u in users.iter_mut() {
        u.age = u.age.map(|a| a + 1);
    }
    {
        let mut upd = tx.prepare_cached("UPDATE users SET age = ?1 WHERE id = ?2")?;
        for u in &users {
            upd.execute(params![u.age, u.id])?;
        }
    }
    tx.commit()?;
    Ok((users.len() as i64, users))
}

fn rq_w4(conn: &mut Connection, z: Sizes) -> Res<(i64, HashMap<i64, User>)> {
    let tx = conn.transaction()?;
    let mut seen: HashMap<i64, User> = HashMap::new(); // identity map
    {
        let mut get = tx.prepare_cached("SELECT id, name, email, age FROM users WHERE id = ?1")?;
        for j in 0..z.nq {
            let pk = 1 + (j * 7919) % z.n;
            if let Entry::Vacant(slot) = seen.entry(pk) {
                slot.insert(get.query_row([pk], user_from)?);
            }
        }
    }
    tx.commit()?;
    Ok((z.nq, seen))
}

fn rq_w5(conn: &mut Connection, z: Sizes) -> Res<(i64, Vec<Author>)> {
    let tx = conn.transaction()?;
    let mut authors = load_authors(&tx)?;
    let index: HashMap<i64, usize> = authors.iter().enumerate().map(|(k, a)| (a.id, k)).collect();
    let ids: Vec<i64> = authors.iter().map(|a| a.id).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!("SELECT id, title, author_id FROM books WHERE author_id IN ({marks})");
        let mut st = tx.prepare(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(chunk))?;
        while let Some(r) = rows.next()? {
            let b = book_from(r)?;
            let k = index[&b.author_id.expect("author_id")];
            authors[k].books.push(b);
        }
    }
    tx.commit()?;
    let total: i64 = authors.iter().map(|a| a.books.len() as i64).sum();
    assert_eq!(total, z.na * 10);
    Ok((total, authors))
}

fn rq_w6(conn: &mut Connection, z: Sizes) -> Res<(i64, Vec<Author>)> {
    let tx = conn.transaction()?;
    let mut authors = load_authors(&tx)?;
    let mut total = 0i64;
    {
        let mut st =
            tx.prepare_cached("SELECT id, title, author_id FROM books WHERE author_id = ?1")?;
        for a in authors.iter_mut() {
            a.books = st.query_map([a.id], book_from)?.collect::<Res<_>>()?;
            total += a.books.len() as i64;
        }
    }
    tx.commit()?;
    assert_eq!(total, z.na * 10);
    Ok((total, authors))
}

fn rq_w7(conn: &mut Connection, z: Sizes) -> Res<(i64, Vec<Author>)> {
    let mut authors: Vec<Author> = (1..=z.na)
        .map(|i| Author {
            id: 0,
            name: Some(format!("author{i}")),
            books: (1..=10)
                .map(|j| Book {
                    id: 0,
                    title: Some(format!("book{i}-{j}")),
                    author_id: None,
                })
                .collect(),
        })
        .collect();
    let tx = conn.transaction()?;
    {
        let mut ins_a = tx.prepare_cached("INSERT INTO authors (name) VALUES (?1)")?;
        let mut ins_b =
            tx.prepare_cached("INSERT INTO books (title, author_id) VALUES (?1, ?2)")?;
        for a in authors.iter_mut() {
            ins_a.execute([&a.name])?;
            a.id = tx.last_insert_rowid();
            for b in a.books.iter_mut() {
                b.author_id = Some(a.id);
                ins_b.execute(params![b.title, b.author_id])?;
                b.id = tx.last_insert_rowid();
            }
        }
    }
    tx.commit()?;
    Ok((z.na * 11, authors))
}

fn rq_w8(conn: &mut Connection, _: Sizes) -> Res<(i64, Vec<User>)> {
    let tx = conn.transaction()?;
    let users = load_users(&tx)?;
    {
        let mut del = tx.prepare_cached("DELETE FROM users WHERE id = ?1")?;
        for u in &users {
            del.execute([u.id])?;
        }
    }
    tx.commit()?;
    Ok((users.len() as i64, users))
}

fn rq_w9(conn: &mut Connection, _: Sizes) -> Res<(i64, ())> {
    for i in 1..=W9_TXNS {
        let tx = conn.transaction()?;
        tx.prepare_cached("INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)")?
            .execute(params![format!("user{i}"), "e", 1])?;
        tx.commit()?;
    }
    Ok((W9_TXNS, ()))
}

/// One rusqlite iteration: `setup` untimed, `run` timed (what it returns is dropped after the
/// timer stops), then the connection (and W9's files) dropped.
fn rusqlite_once<K>(
    name: &str,
    z: Sizes,
    run: fn(&mut Connection, Sizes) -> Res<(i64, K)>,
) -> Duration {
    let (db, mut conn) = match name {
        "W1" | "W7" => (None, fresh(":memory:").expect("open")),
        "W5" | "W6" => (None, seeded_books(z).expect("seed")),
        "W9" => {
            let db = TempDb::new("rusqlite");
            let conn = Connection::open(db.path()).expect("open");
            conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
                .expect("WAL");
            conn.execute_batch(SCHEMA).expect("schema");
            (Some(db), conn)
        }
        _ => (None, seeded(z).expect("seed")),
    };
    let start = Instant::now();
    let (rows, kept) = run(&mut conn, z).expect("run");
    let elapsed = start.elapsed();
    assert_eq!(rows, expected_rows(name, z), "{name} rows");
    drop(black_box(kept));
    drop(conn);
    drop(db);
    elapsed
}

// ---------------------------------------------------------------------------------------------

fn workload_group<K>(
    c: &mut Criterion,
    name: &str,
    label: &str,
    z: Sizes,
    rq: fn(&mut Connection, Sizes) -> Res<(i64, K)>,
) {
    let mut g = c.benchmark_group(format!("{name}_{label}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sampling_mode(SamplingMode::Flat);
    g.bench_function("lualchemy", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| lualchemy_once(name, z)).sum())
    });
    g.bench_function("rusqlite", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rusqlite_once(name, z, rq)).sum())
    });
    g.finish();
}

fn workloads(c: &mut Criterion) {
    let z = sizes();
    workload_group(c, "W1", "insert", z, rq_w1);
    workload_group(c, "W2", "load", z, rq_w2);
    workload_group(c, "W3", "update", z, rq_w3);
    workload_group(c, "W4", "get-by-pk", z, rq_w4);
    workload_group(c, "W5", "relationships-selectin", z, rq_w5);
    workload_group(c, "W6", "relationships-lazy", z, rq_w6);
    workload_group(c, "W7", "insert-cascade", z, rq_w7);
    workload_group(c, "W8", "delete", z, rq_w8);
    workload_group(c, "W9", "small-transactions", z, rq_w9);
}

criterion_group!(benches, workloads);
criterion_main!(benches);
