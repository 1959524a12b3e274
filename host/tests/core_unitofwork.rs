//! The core unit of work without Lua: batched INSERTs and generated keys, UPDATEs of net
//! changes only, DELETEs, foreign-key order, row-count checks, defaults and onupdate, and
//! the contract of a failed flush.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use lualchemy::orm::{Mapper, Status};
use lualchemy::schema::{ColumnDefault, Constraint, DefaultContext, DefaultFn, SqlType, Table};
use lualchemy::sql::Expr;
use lualchemy::{Error, ErrorKind, Result, Value};

/// The statements among `sent` that start with `verb`.
fn only(sent: &[Sent], verb: &str) -> Vec<Sent> {
    sent.iter()
        .filter(|s| s.sql.starts_with(verb))
        .cloned()
        .collect()
}

/// The table an INSERT / UPDATE / DELETE statement names.
fn target(sql: &str) -> &str {
    let rest = sql
        .strip_prefix("INSERT INTO ")
        .or_else(|| sql.strip_prefix("UPDATE "))
        .or_else(|| sql.strip_prefix("DELETE FROM "))
        .unwrap_or_else(|| panic!("not DML: {sql}"));
    rest.split([' ', '(']).next().unwrap()
}

// ---- INSERT -------------------------------------------------------------------------

#[test]
fn rows_of_one_shape_are_inserted_by_one_statement_with_keys_in_add_order() {
    let f = Fixture::new();
    let s = f.session();
    let users: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| f.user(n, &format!("{n}@x")))
        .collect();
    for u in &users {
        s.add(u).unwrap();
    }
    f.capture.clear();
    s.flush().unwrap();
    let inserts = only(&f.capture.take(), "INSERT");
    assert_eq!(inserts.len(), 1, "one batched statement: {inserts:?}");
    assert_eq!(
        inserts[0].sql,
        "INSERT INTO users (name, email, age) VALUES (?, ?, ?)"
    );
    assert_eq!(inserts[0].params.len(), 3);
    assert_eq!(
        inserts[0].params[1],
        vec![text("b"), text("b@x"), Value::Null]
    );

    let ids: Vec<i64> = users
        .iter()
        .map(|u| get(u, "id").as_i64().unwrap())
        .collect();
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    for (u, id) in users.iter().zip(&ids) {
        assert_eq!(u.status(), Status::Persistent);
        let name = f.rows(&format!("SELECT name FROM users WHERE id = {id}"));
        assert_eq!(name, vec![vec![get(u, "name")]]);
    }
}

#[test]
fn explicit_and_generated_keys_mix_in_add_order() {
    let f = Fixture::new();
    let s = f.session();
    let a = f.user("a", "a@x");
    let b = make(
        &f.users,
        &[
            ("id", int(100)),
            ("name", text("b")),
            ("email", text("b@x")),
        ],
    );
    let c = f.user("c", "c@x");
    for u in [&a, &b, &c] {
        s.add(u).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(get(&a, "id"), int(1));
    assert_eq!(get(&b, "id"), int(100));
    assert_eq!(get(&c, "id"), int(101), "inserted after b");
    assert!(a.state().generated_key() && !b.state().generated_key());
    assert_eq!(
        f.rows("SELECT id, name FROM users ORDER BY id"),
        vec![
            vec![int(1), text("a")],
            vec![int(100), text("b")],
            vec![int(101), text("c")]
        ]
    );
}

#[test]
fn a_flush_with_nothing_to_do_sends_nothing() {
    let f = Fixture::new();
    let s = f.session();
    s.flush().unwrap();
    s.commit().unwrap();
    assert!(f.capture.take_sql().is_empty(), "not even BEGIN");
}

#[test]
fn composite_primary_keys_insert_update_and_delete_by_the_whole_key() {
    let db = Db::empty();
    let mut a = col("a", SqlType::Integer);
    a.primary_key = true;
    let mut b = col("b", SqlType::String(Some(10)));
    b.primary_key = true;
    let pairs = db.table(
        "Pair",
        Table::new(
            "pairs",
            vec![a, b, col("v", SqlType::Integer)],
            vec![],
            vec![],
        )
        .unwrap(),
    );
    db.create_all();
    assert_eq!(pairs.autoincrement, None);
    let s = db.session();
    let p1 = make(&pairs, &[("a", int(1)), ("b", text("x")), ("v", int(10))]);
    let p2 = make(&pairs, &[("a", int(1)), ("b", text("y")), ("v", int(20))]);
    s.add(&p1).unwrap();
    s.add(&p2).unwrap();
    s.flush().unwrap();
    assert!(Rc::ptr_eq(
        &s.get(&pairs, &[int(1), text("y")]).unwrap().unwrap(),
        &p2
    ));
    set(&p1, "v", 11);
    s.delete(&p2).unwrap();
    db.capture.clear();
    s.commit().unwrap();
    let sent = db.capture.take();
    let upd = only(&sent, "UPDATE");
    assert_eq!(upd[0].params, vec![vec![int(11), int(1), text("x")]]);
    let del = only(&sent, "DELETE");
    assert_eq!(del[0].params, vec![vec![int(1), text("y")]]);
    assert_eq!(
        db.rows("SELECT a, b, v FROM pairs"),
        vec![vec![int(1), text("x"), int(11)]]
    );
}

// ---- UPDATE: net changes only -------------------------------------------------------

#[test]
fn update_names_only_the_changed_columns() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "age", 31);
    f.capture.clear();
    s.flush().unwrap();
    let sent = f.capture.take();
    let upd = only(&sent, "UPDATE");
    assert_eq!(upd.len(), 1);
    assert_eq!(upd[0].sql, "UPDATE users SET age=? \nWHERE users.id = ?");
    assert_eq!(upd[0].params, vec![vec![int(31), int(ids[0])]]);
    assert_eq!(
        f.rows("SELECT name, email, age FROM users"),
        vec![vec![text("a"), text("a@example.com"), int(31)]]
    );
    assert!(!u.is_modified());
}

#[test]
fn a_value_set_back_to_its_committed_value_sends_no_update() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "name", "temporary");
    set(&u, "age", 99);
    set(&u, "name", "a");
    set(&u, "age", 30);
    assert!(holds(&s.dirty_objects(), &u));
    assert!(!u.is_modified());
    f.capture.clear();
    s.flush().unwrap();
    assert!(
        only(&f.capture.take(), "UPDATE").is_empty(),
        "no net change, no UPDATE"
    );
    assert!(s.dirty_objects().is_empty());
}

#[test]
fn only_the_columns_still_changed_are_written() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "name", "x");
    set(&u, "name", "y");
    set(&u, "age", 5);
    set(&u, "age", 30); // back to the committed value
    f.capture.clear();
    s.flush().unwrap();
    let upd = only(&f.capture.take(), "UPDATE");
    assert_eq!(upd.len(), 1);
    assert_eq!(upd[0].sql, "UPDATE users SET name=? \nWHERE users.id = ?");
    assert_eq!(upd[0].params, vec![vec![text("y"), int(ids[0])]]);
}

#[test]
fn an_integer_set_as_an_equal_real_is_no_change() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "age", 30.0);
    f.capture.clear();
    s.flush().unwrap();
    assert!(only(&f.capture.take(), "UPDATE").is_empty());
}

#[test]
fn rows_with_the_same_changed_columns_share_one_update_statement() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b", "c"]);
    let s = f.session();
    let us: Vec<_> = ids
        .iter()
        .map(|&id| s.get(&f.users, &[int(id)]).unwrap().unwrap())
        .collect();
    set(&us[0], "age", 1);
    set(&us[1], "age", 2);
    set(&us[2], "name", "c2");
    f.capture.clear();
    s.flush().unwrap();
    let upd = only(&f.capture.take(), "UPDATE");
    assert_eq!(upd.len(), 2, "{upd:?}");
    let by_age = upd.iter().find(|u| u.sql.contains("SET age=?")).unwrap();
    assert_eq!(
        by_age.params,
        vec![vec![int(1), int(ids[0])], vec![int(2), int(ids[1])]]
    );
    assert_eq!(
        f.rows("SELECT name, age FROM users ORDER BY id"),
        vec![
            vec![text("a"), int(1)],
            vec![text("b"), int(2)],
            vec![text("c2"), int(30)]
        ]
    );
}

#[test]
fn a_set_of_an_unloaded_attribute_is_always_written() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.expire(&u, Some(&[attr(&u, "name")])).unwrap();
    f.capture.clear();
    set(&u, "name", "a"); // the value in the row, but the session cannot know it
    assert!(
        f.capture.take_sql().is_empty(),
        "setting does not load the old value"
    );
    s.flush().unwrap();
    let upd = only(&f.capture.take(), "UPDATE");
    assert_eq!(upd.len(), 1);
    assert_eq!(upd[0].params, vec![vec![text("a"), int(ids[0])]]);
}

#[test]
fn a_primary_key_change_updates_by_the_old_key_and_rekeys_the_identity_map() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "id", 500);
    f.capture.clear();
    s.flush().unwrap();
    let upd = only(&f.capture.take(), "UPDATE");
    assert_eq!(upd[0].params, vec![vec![int(500), int(ids[0])]]);
    assert_eq!(f.rows("SELECT id FROM users"), vec![vec![int(500)]]);
    assert!(Rc::ptr_eq(
        &s.get(&f.users, &[int(500)]).unwrap().unwrap(),
        &u
    ));
    assert!(s.get(&f.users, &[int(ids[0])]).unwrap().is_none());
}

// ---- DELETE -------------------------------------------------------------------------

#[test]
fn delete_removes_the_row_and_the_object_is_deleted_then_detached() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.delete(&a).unwrap();
    assert_eq!(a.status(), Status::Persistent, "marked, not yet flushed");
    assert_eq!(f.count("users"), 2);
    f.capture.clear();
    s.flush().unwrap();
    let del = only(&f.capture.take(), "DELETE");
    assert_eq!(del.len(), 1);
    assert_eq!(del[0].sql, "DELETE FROM users \nWHERE users.id = ?");
    assert_eq!(del[0].params, vec![vec![int(ids[0])]]);
    assert_eq!(a.status(), Status::Deleted);
    assert!(!s.contains(&a));
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("b")]]);
    s.commit().unwrap();
    assert_eq!(a.status(), Status::Detached);
}

#[test]
fn a_deleted_object_is_not_updated() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&a, "name", "changed");
    s.delete(&a).unwrap();
    f.capture.clear();
    s.flush().unwrap();
    let sent = f.capture.take();
    assert!(only(&sent, "UPDATE").is_empty(), "{sent:?}");
    assert_eq!(only(&sent, "DELETE").len(), 1);
    assert_eq!(f.count("users"), 0);
}

// ---- foreign-key order --------------------------------------------------------------

#[test]
fn foreign_keys_are_enforced_on_the_engine() {
    let f = Fixture::new();
    assert_eq!(f.rows("PRAGMA foreign_keys"), vec![vec![int(1)]]);
    let s = f.session();
    s.add(&f.address(&int(12345), "orphan@x")).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::IntegrityError, "{err}");
    assert!(err.kind.is("DBAPIError"));
}

#[test]
fn parents_are_inserted_before_children_whatever_the_add_order() {
    let f = Fixture::new();
    let s = f.session();
    let parent = make(
        &f.users,
        &[("id", int(10)), ("name", text("p")), ("email", text("p@x"))],
    );
    let child1 = f.address(&int(10), "c1@x");
    let child2 = f.address(&int(10), "c2@x");
    s.add(&child1).unwrap();
    s.add(&parent).unwrap();
    s.add(&child2).unwrap();
    f.capture.clear();
    s.commit().unwrap();
    let order: Vec<String> = only(&f.capture.take(), "INSERT")
        .iter()
        .map(|q| target(&q.sql).to_string())
        .collect();
    assert_eq!(order, ["users", "addresses"]);
    assert_eq!(
        f.rows("SELECT user_id, email FROM addresses ORDER BY id"),
        vec![vec![int(10), text("c1@x")], vec![int(10), text("c2@x")]]
    );
}

#[test]
fn children_are_deleted_before_parents_whatever_the_delete_order() {
    let f = Fixture::new();
    let ids = f.seed_users(&["p"]);
    f.exec(&format!(
        "INSERT INTO addresses (user_id, email) VALUES ({0}, 'x'), ({0}, 'y')",
        ids[0]
    ));
    let s = f.session();
    let parent = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let a1 = s.get(&f.addresses, &[int(1)]).unwrap().unwrap();
    let a2 = s.get(&f.addresses, &[int(2)]).unwrap().unwrap();
    s.delete(&parent).unwrap();
    s.delete(&a1).unwrap();
    s.delete(&a2).unwrap();
    f.capture.clear();
    s.commit().unwrap();
    let dels = only(&f.capture.take(), "DELETE");
    let order: Vec<&str> = dels.iter().map(|q| target(&q.sql)).collect();
    assert_eq!(order, ["addresses", "users"]);
    assert_eq!(dels[0].params.len(), 2, "both children in one batch");
    assert_eq!(f.count("addresses"), 0);
    assert_eq!(f.count("users"), 0);
}

#[test]
fn deleting_only_the_parent_of_existing_children_fails_the_flush() {
    let f = Fixture::new();
    let ids = f.seed_users(&["p"]);
    f.exec(&format!(
        "INSERT INTO addresses (user_id, email) VALUES ({}, 'x')",
        ids[0]
    ));
    let s = f.session();
    let parent = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.delete(&parent).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::IntegrityError);
    assert_eq!(f.count("users"), 1);
}

// ---- the failed flush ---------------------------------------------------------------

#[test]
fn a_failed_flush_rolls_back_and_the_session_needs_rollback() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let b = s.get(&f.users, &[int(ids[1])]).unwrap().unwrap();

    // an earlier, successful flush of the same transaction
    let early = f.user("early", "early@x");
    s.add(&early).unwrap();
    s.flush().unwrap();
    let early_id = get(&early, "id");
    assert!(!early_id.is_null());

    // then a flush that violates UNIQUE(email)
    set(&a, "age", 77);
    s.delete(&b).unwrap();
    let dup = f.user("dup", "a@example.com");
    s.add(&dup).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::IntegrityError);
    assert!(err.message.contains("UNIQUE"), "{}", err.message);
    assert!(err.statement().unwrap().starts_with("INSERT INTO users"));

    // the database transaction is rolled back at once: the early INSERT too
    assert_eq!(
        f.rows("SELECT name, age FROM users ORDER BY id"),
        vec![vec![text("a"), int(30)], vec![text("b"), int(30)]]
    );

    // the session's transaction is rolled back at the failure, as SQLAlchemy's: the new
    // object is transient again without a key, the deleted one persistent again
    assert_eq!(dup.status(), Status::Transient);
    assert!(get(&dup, "id").is_null());
    assert_eq!(b.status(), Status::Persistent);
    assert!(!holds(&s.deleted_objects(), &b));

    // a flush with nothing to write returns (as SQLAlchemy's); the session refuses any
    // other work until rollback()
    s.flush().unwrap();
    for e in [
        s.commit().unwrap_err(),
        s.get(&f.users, &[int(9999)]).err().expect("an error"),
        s.begin_nested().unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::PendingRollbackError);
        assert!(
            e.message.contains("UNIQUE"),
            "names the original: {}",
            e.message
        );
    }

    s.rollback().unwrap();
    // pending objects (flushed earlier or not) are transient, generated keys cleared
    assert_eq!(dup.status(), Status::Transient);
    assert_eq!(early.status(), Status::Transient);
    assert!(get(&early, "id").is_null());
    assert!(early.state().key.is_none());
    // the deleted object is persistent again, no longer marked
    assert_eq!(b.status(), Status::Persistent);
    assert!(s.deleted_objects().is_empty());
    // persistent objects are expired and reload the database's values
    assert!(a.is_expired());
    assert_eq!(get(&a, "age"), int(30));
    assert!(!s.has_pending_changes());

    // the session works again
    set(&dup, "email", "dup@x");
    s.add(&dup).unwrap();
    s.commit().unwrap();
    assert_eq!(f.count("users"), 3);
}

#[test]
fn a_not_null_violation_applies_nothing_to_the_objects_of_the_flush() {
    let f = Fixture::new();
    let s = f.session();
    let ok = f.user("ok", "ok@x");
    let bad = make(&f.users, &[("email", text("bad@x"))]); // name is NOT NULL
    s.add(&ok).unwrap();
    s.add(&bad).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::IntegrityError);
    assert!(err.message.contains("NOT NULL"), "{}", err.message);
    // the first row was sent but its key was not applied, and it is rolled back: the
    // session's transaction ends at the failure, so the objects are transient at once
    assert_eq!(ok.status(), Status::Transient);
    assert!(get(&ok, "id").is_null());
    assert!(ok.state().key.is_none());
    assert_eq!(f.count("users"), 0);
    assert_eq!(
        s.commit().unwrap_err().kind,
        ErrorKind::PendingRollbackError
    );
    s.rollback().unwrap();
    assert_eq!(ok.status(), Status::Transient);
    assert_eq!(bad.status(), Status::Transient);
    assert!(s.all_instances().is_empty());
}

#[test]
fn a_failed_flush_in_a_savepoint_rolls_back_only_the_savepoint() {
    let f = Fixture::new();
    let s = f.session();
    let outer = f.user("outer", "o@x");
    s.add(&outer).unwrap();
    s.begin_nested().unwrap();
    let dup = f.user("dup", "o@x");
    s.add(&dup).unwrap();
    assert_eq!(s.flush().unwrap_err().kind, ErrorKind::IntegrityError);
    s.flush().unwrap(); // nothing to write: returns, as SQLAlchemy's
    assert_eq!(
        s.commit().unwrap_err().kind,
        ErrorKind::PendingRollbackError
    );
    s.rollback_nested().unwrap();
    assert_eq!(f.count("users"), 1, "the outer INSERT survives");
    assert_eq!(dup.status(), Status::Transient);
    assert_eq!(outer.status(), Status::Persistent);
    s.commit().unwrap();
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("outer")]]);
}

// ---- row-count checks ---------------------------------------------------------------

#[test]
fn an_update_of_a_row_deleted_behind_the_session_raises_stale_data() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "name", "changed");
    f.exec("DELETE FROM users");
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::StaleDataError);
    assert!(
        err.message
            .contains("expected to update 1 row(s); 0 were matched"),
        "{}",
        err.message
    );
    s.flush().unwrap(); // nothing to write: returns, as SQLAlchemy's
    assert_eq!(
        s.commit().unwrap_err().kind,
        ErrorKind::PendingRollbackError
    );
    s.rollback().unwrap();
    assert_eq!(u.status(), Status::Persistent);
}

#[test]
fn a_delete_of_a_row_deleted_behind_the_session_raises_stale_data() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.delete(&u).unwrap();
    f.exec("DELETE FROM users");
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::StaleDataError);
    assert!(err.message.contains("expected to delete 1 row(s)"));
    assert_eq!(u.status(), Status::Persistent, "not applied");
    assert_eq!(f.count("users"), 1, "the outside DELETE is rolled back too");
}

// ---- defaults -----------------------------------------------------------------------

/// A callable default that reads the row's `name` and counts its calls.
#[derive(Default)]
struct CodeFn {
    calls: Cell<u32>,
}

impl DefaultFn for CodeFn {
    fn call(&self, ctx: &DefaultContext<'_>) -> Result<Value> {
        self.calls.set(self.calls.get() + 1);
        let name = ctx
            .current_parameter("name")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        Ok(Value::text(&format!(
            "{}.{}:{name}#{}",
            ctx.table,
            ctx.column,
            self.calls.get()
        )))
    }
}

struct FailingFn;

impl DefaultFn for FailingFn {
    fn call(&self, _: &DefaultContext<'_>) -> Result<Value> {
        Err(Error::new(ErrorKind::ArgumentError, "no default today"))
    }
}

/// `items(id, name NOT NULL, status DEFAULT 'new' (value), code (callable),
/// rank DEFAULT abs(-7) (SQL), note server_default 'srv')`.
fn items(db: &Db, code: Rc<dyn DefaultFn>) -> Rc<Mapper> {
    let mut status = col("status", SqlType::String(Some(10)));
    status.default = Some(ColumnDefault::Value(text("new")));
    let mut code_col = col("code", SqlType::String(Some(50)));
    code_col.default = Some(ColumnDefault::Callable(code));
    let mut rank = col("rank", SqlType::Integer);
    rank.default = Some(ColumnDefault::Sql(Expr::Func {
        name: Rc::from("abs"),
        args: vec![Expr::bind(int(-7))],
    }));
    let mut note = col("note", SqlType::Text);
    note.server_default = Some("'srv'".into());
    db.table(
        "Item",
        Table::new(
            "items",
            vec![
                pk("id"),
                not_null(col("name", SqlType::String(Some(50)))),
                status,
                code_col,
                rank,
                note,
            ],
            vec![],
            vec![],
        )
        .unwrap(),
    )
}

#[test]
fn defaults_by_value_callable_sql_and_server_fill_an_insert() {
    let db = Db::empty();
    let code = Rc::new(CodeFn::default());
    let items = items(&db, code.clone());
    db.create_all();
    let s = db.session();
    let i1 = make(&items, &[("name", text("one"))]);
    let i2 = make(&items, &[("name", text("two"))]);
    s.add(&i1).unwrap();
    s.add(&i2).unwrap();
    db.capture.clear();
    s.flush().unwrap();
    let ins = only(&db.capture.take(), "INSERT");
    assert_eq!(ins.len(), 1, "{ins:?}");
    assert!(
        ins[0].sql.contains("abs(?)"),
        "SQL default inline: {}",
        ins[0].sql
    );
    assert!(
        !ins[0].sql.contains("note"),
        "server default not sent: {}",
        ins[0].sql
    );
    assert_eq!(code.calls.get(), 2, "one call per row");

    // value and callable defaults are set on the object at once
    assert!(is_loaded(&i1, "status") && is_loaded(&i1, "code"));
    assert_eq!(get(&i1, "status"), text("new"));
    assert_eq!(get(&i1, "code"), text("items.code:one#1"));
    assert_eq!(get(&i2, "code"), text("items.code:two#2"));
    // what the database computed is expired, and loaded on access
    assert!(!is_loaded(&i1, "rank") && !is_loaded(&i1, "note"));
    db.capture.clear();
    assert_eq!(get(&i1, "rank"), int(7));
    assert_eq!(get(&i1, "note"), text("srv"));
    assert_eq!(only(&db.capture.take(), "SELECT").len(), 1);

    assert_eq!(
        db.rows("SELECT name, status, code, rank, note FROM items ORDER BY id"),
        vec![
            vec![
                text("one"),
                text("new"),
                text("items.code:one#1"),
                int(7),
                text("srv")
            ],
            vec![
                text("two"),
                text("new"),
                text("items.code:two#2"),
                int(7),
                text("srv")
            ],
        ]
    );
}

#[test]
fn rows_of_alternating_shapes_keep_add_order_and_reuse_statements() {
    let db = Db::empty();
    let items = items(&db, Rc::new(CodeFn::default()));
    db.create_all();
    let s = db.session();
    let given = |n: &str| make(&items, &[("name", text(n)), ("rank", int(5))]);
    let rows = [given("a"), make(&items, &[("name", text("b"))]), given("c")];
    for r in &rows {
        s.add(r).unwrap();
    }
    db.capture.clear();
    s.flush().unwrap();
    let ins = only(&db.capture.take(), "INSERT");
    assert_eq!(ins.len(), 3, "one statement per run of a shape");
    assert_eq!(ins[0].sql, ins[2].sql);
    assert_ne!(ins[0].sql, ins[1].sql);
    let ids: Vec<Value> = rows.iter().map(|r| get(r, "id")).collect();
    assert_eq!(ids, vec![int(1), int(2), int(3)]);
    assert_eq!(
        db.rows("SELECT name, rank FROM items ORDER BY id"),
        vec![
            vec![text("a"), int(5)],
            vec![text("b"), int(7)],
            vec![text("c"), int(5)]
        ]
    );
}

#[test]
fn explicit_values_override_every_kind_of_default() {
    let db = Db::empty();
    let code = Rc::new(CodeFn::default());
    let items = items(&db, code.clone());
    db.create_all();
    let s = db.session();
    let i = make(
        &items,
        &[
            ("name", text("x")),
            ("status", text("old")),
            ("code", text("mine")),
            ("rank", int(1)),
            ("note", text("given")),
        ],
    );
    s.add(&i).unwrap();
    s.commit().unwrap();
    assert_eq!(code.calls.get(), 0, "the callable is not called");
    assert_eq!(
        db.rows("SELECT status, code, rank, note FROM items"),
        vec![vec![text("old"), text("mine"), int(1), text("given")]]
    );
}

#[test]
fn an_attribute_set_to_null_gets_the_column_default() {
    let db = Db::empty();
    let items = items(&db, Rc::new(CodeFn::default()));
    db.create_all();
    let s = db.session();
    let i = make(
        &items,
        &[
            ("name", text("x")),
            ("status", Value::Null),
            ("rank", Value::Null),
        ],
    );
    s.add(&i).unwrap();
    s.flush().unwrap();
    assert_eq!(get(&i, "status"), text("new"));
    assert_eq!(get(&i, "rank"), int(7));
}

#[test]
fn a_failing_default_function_fails_the_flush_before_any_insert() {
    let db = Db::empty();
    let items = items(&db, Rc::new(FailingFn));
    db.create_all();
    let s = db.session();
    let i = make(&items, &[("name", text("x"))]);
    s.add(&i).unwrap();
    db.capture.clear();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind, ErrorKind::ArgumentError);
    assert_eq!(err.message, "no default today");
    assert!(only(&db.capture.take(), "INSERT").is_empty());
    assert_eq!(i.status(), Status::Transient);
    s.flush().unwrap(); // nothing to write: returns, as SQLAlchemy's
    assert_eq!(
        s.commit().unwrap_err().kind,
        ErrorKind::PendingRollbackError
    );
    s.rollback().unwrap();
    assert_eq!(db.count("items"), 0);
}

// ---- onupdate -----------------------------------------------------------------------

/// A callable onupdate that reads the row's new `body`.
struct StampFn;

impl DefaultFn for StampFn {
    fn call(&self, ctx: &DefaultContext<'_>) -> Result<Value> {
        let body = ctx
            .current_parameter("body")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "-".into());
        Ok(Value::text(&format!("stamp:{body}")))
    }
}

/// `docs(id, body, title, edits server_default 0 onupdate edits + 1 (SQL),
/// touched onupdate 'touched' (value), stamp onupdate StampFn (callable))`.
fn docs(db: &Db) -> Rc<Mapper> {
    let mut edits = col("edits", SqlType::Integer);
    edits.server_default = Some("0".into());
    edits.onupdate = Some(ColumnDefault::Sql(Expr::Raw(
        Rc::from("edits + 1"),
        SqlType::Integer,
    )));
    let mut touched = col("touched", SqlType::Text);
    touched.onupdate = Some(ColumnDefault::Value(text("touched")));
    let mut stamp = col("stamp", SqlType::Text);
    stamp.onupdate = Some(ColumnDefault::Callable(Rc::new(StampFn)));
    let m = db.table(
        "Doc",
        Table::new(
            "docs",
            vec![
                pk("id"),
                col("body", SqlType::Text),
                col("title", SqlType::Text),
                edits,
                touched,
                stamp,
            ],
            vec![Constraint::Check {
                name: None,
                sql: "edits >= 0".into(),
            }],
            vec![],
        )
        .unwrap(),
    );
    db.create_all();
    m
}

#[test]
fn onupdate_is_not_applied_by_an_insert() {
    let db = Db::empty();
    let docs = docs(&db);
    let s = db.session();
    let d = make(&docs, &[("body", text("v1"))]);
    s.add(&d).unwrap();
    s.commit().unwrap();
    assert_eq!(
        db.rows("SELECT body, edits, touched, stamp FROM docs"),
        vec![vec![text("v1"), int(0), Value::Null, Value::Null]]
    );
}

#[test]
fn onupdate_value_callable_and_sql_are_applied_by_an_update() {
    let db = Db::empty();
    let docs = docs(&db);
    let s = db.session();
    let d = make(&docs, &[("body", text("v1"))]);
    s.add(&d).unwrap();
    s.flush().unwrap();
    set(&d, "body", "v2");
    db.capture.clear();
    s.flush().unwrap();
    let upd = only(&db.capture.take(), "UPDATE");
    assert_eq!(upd.len(), 1);
    assert!(upd[0].sql.contains("edits=edits + 1"), "{}", upd[0].sql);
    assert!(!upd[0].sql.contains("title"), "{}", upd[0].sql);
    // value and callable results are on the object; the SQL one is expired
    assert!(is_loaded(&d, "touched") && is_loaded(&d, "stamp"));
    assert_eq!(get(&d, "touched"), text("touched"));
    assert_eq!(get(&d, "stamp"), text("stamp:v2"));
    assert!(!is_loaded(&d, "edits"));
    assert_eq!(get(&d, "edits"), int(1));

    set(&d, "title", "t");
    s.commit().unwrap();
    assert_eq!(
        db.rows("SELECT body, title, edits, touched, stamp FROM docs"),
        vec![vec![
            text("v2"),
            text("t"),
            int(2),
            text("touched"),
            text("stamp:-")
        ]]
    );
}

#[test]
fn onupdate_sends_no_update_when_nothing_changed() {
    let db = Db::empty();
    let docs = docs(&db);
    let s = db.session();
    let d = make(&docs, &[("body", text("v1"))]);
    s.add(&d).unwrap();
    s.flush().unwrap();
    set(&d, "body", "v1"); // set back to the same value
    db.capture.clear();
    s.commit().unwrap();
    assert!(only(&db.capture.take(), "UPDATE").is_empty());
    assert_eq!(db.rows("SELECT edits FROM docs"), vec![vec![int(0)]]);
}

#[test]
fn an_explicitly_set_column_is_not_overridden_by_its_onupdate() {
    let db = Db::empty();
    let docs = docs(&db);
    let s = db.session();
    let d = make(&docs, &[("body", text("v1"))]);
    s.add(&d).unwrap();
    s.flush().unwrap();
    set(&d, "body", "v2");
    set(&d, "touched", "by hand");
    set(&d, "edits", 40);
    s.commit().unwrap();
    assert_eq!(
        db.rows("SELECT touched, edits, stamp FROM docs"),
        vec![vec![text("by hand"), int(40), text("stamp:v2")]]
    );
}

#[test]
fn a_commit_whose_flush_fails_leaves_the_session_pending_rollback() {
    let f = Fixture::new();
    f.seed_users(&["a"]);
    let s = f.session();
    let dup = f.user("dup", "a@example.com");
    s.add(&dup).unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.kind, ErrorKind::IntegrityError);
    assert!(s.in_transaction(), "the commit did not end the transaction");
    assert_eq!(
        s.commit().unwrap_err().kind,
        ErrorKind::PendingRollbackError
    );
    s.rollback().unwrap();
    assert_eq!(dup.status(), Status::Transient);
    s.commit().unwrap();
    assert_eq!(f.count("users"), 1);
}

/// A column an INSERT left NULL is not in SQLAlchemy's `__dict__`: setting it, to NULL too,
/// is a change (its committed value is NO_VALUE) the next flush writes (difftest seed 781).
#[test]
fn a_null_the_insert_left_unset_set_to_null_is_written() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    set(&u, "age", Value::Null);
    assert!(u.is_modified());
    f.capture.clear();
    s.flush().unwrap();
    assert_eq!(only(&f.capture.take(), "UPDATE").len(), 1);
    // written once: set to NULL again, it is a NULL like any other
    set(&u, "age", Value::Null);
    s.flush().unwrap();
    assert!(only(&f.capture.take(), "UPDATE").is_empty());
}
