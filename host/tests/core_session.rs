//! The core ORM session without Lua: object states, the identity map, commit / rollback /
//! close, expiry and reload, refresh, get, merge, expunge and savepoints.

mod common;

use std::rc::Rc;

use common::*;
use lualchemy::orm::query::SelectItem;
use lualchemy::orm::{Item, OrmSelect, SessionConfig, Status};
use lualchemy::{ErrorKind, Value};

// ---- states and the identity map ----------------------------------------------------

#[test]
fn add_makes_pending_and_flush_makes_persistent_with_generated_key() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    assert_eq!(u.status(), Status::Transient);
    assert!(u.session().is_none());

    s.add(&u).unwrap();
    assert_eq!(u.status(), Status::Pending);
    assert!(holds(&s.new_objects(), &u));
    assert!(s.contains(&u));
    assert_eq!(f.count("users"), 0, "add alone sends nothing");
    assert!(get(&u, "id").is_null(), "no key before the flush");

    s.flush().unwrap();
    assert_eq!(u.status(), Status::Persistent);
    assert!(s.new_objects().is_empty());
    let id = get(&u, "id");
    assert!(
        matches!(id, Value::Integer(n) if n > 0),
        "generated key {id:?}"
    );
    assert!(u.state().key.is_some());
    assert_eq!(
        f.rows("SELECT id, name, email, age FROM users"),
        vec![vec![id, text("ed"), text("ed@x"), Value::Null]]
    );
}

#[test]
fn identity_map_hands_out_the_same_instance_for_the_same_row() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s = f.session();
    let a1 = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let a2 = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert!(Rc::ptr_eq(&a1, &a2));

    // a SELECT of the whole table yields the very same object for row a
    let q = OrmSelect::new(vec![SelectItem::Entity(f.users.clone())]);
    let rows = s.execute_select(&q).unwrap();
    assert_eq!(rows.len(), 2);
    let loaded: Vec<Rc<lualchemy::orm::Instance>> = rows
        .items
        .iter()
        .map(|i| match i {
            Item::Instance(i) => i.clone(),
            _ => panic!("an entity column"),
        })
        .collect();
    assert!(loaded.iter().any(|i| Rc::ptr_eq(i, &a1)));
    let b = loaded.iter().find(|i| !Rc::ptr_eq(i, &a1)).unwrap();
    assert_eq!(get(b, "name"), text("b"));
    assert!(Rc::ptr_eq(
        b,
        &s.get(&f.users, &[int(ids[1])]).unwrap().unwrap()
    ));
}

#[test]
fn get_answers_from_the_identity_map_without_sql_and_none_for_a_missing_row() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    f.capture.clear();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let first = f.capture.take_sql();
    assert!(
        first.iter().any(|q| q.starts_with("SELECT")),
        "first get selects: {first:?}"
    );
    let again = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert!(Rc::ptr_eq(&a, &again));
    assert!(f.capture.take_sql().is_empty(), "second get sends nothing");

    assert!(s.get(&f.users, &[int(9999)]).unwrap().is_none());
    let err = s.get(&f.users, &[int(1), int(2)]).err().expect("an error");
    assert_eq!(err.kind, ErrorKind::ArgumentError);
}

#[test]
fn a_flushed_object_is_found_by_get_as_the_same_instance() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    let id = get(&u, "id");
    f.capture.clear();
    let found = s.get(&f.users, &[id]).unwrap().unwrap();
    assert!(Rc::ptr_eq(&found, &u));
    assert!(f.capture.take_sql().is_empty());
}

#[test]
fn get_autoflushes_pending_objects_before_selecting() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    // the key the INSERT will produce in an empty table
    let found = s.get(&f.users, &[int(1)]).unwrap();
    assert_eq!(
        u.status(),
        Status::Persistent,
        "get flushed the pending user"
    );
    assert!(Rc::ptr_eq(&found.unwrap(), &u));
}

#[test]
fn adding_an_object_of_another_session_is_refused() {
    let f = Fixture::new();
    let s1 = f.session();
    let s2 = f.session();
    let u = f.user("ed", "ed@x");
    s1.add(&u).unwrap();
    let err = s2.add(&u).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequestError);
    assert!(s1.contains(&u) && !s2.contains(&u));
    // adding it again to its own session is a no-op
    s1.add(&u).unwrap();
    assert_eq!(s1.new_objects().len(), 1);
}

#[test]
fn deleting_a_transient_or_pending_object_is_refused() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    assert_eq!(
        s.delete(&u).unwrap_err().kind,
        ErrorKind::InvalidRequestError
    );
    s.add(&u).unwrap();
    assert_eq!(
        s.delete(&u).unwrap_err().kind,
        ErrorKind::InvalidRequestError
    );
    assert_eq!(u.status(), Status::Pending);
}

// ---- commit, expiry and reload ------------------------------------------------------

#[test]
fn commit_expires_everything_and_access_reloads_in_a_new_transaction() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.commit().unwrap();
    assert_eq!(u.status(), Status::Persistent);
    assert!(!s.in_transaction());
    assert!(u.is_expired());
    assert!(!is_loaded(&u, "name"));
    let id = u.state().key.as_ref().unwrap().values()[0].clone();

    // changed behind the session's back after the commit
    f.exec("UPDATE users SET name = 'edward'");
    f.capture.clear();
    assert_eq!(get(&u, "name"), text("edward"));
    let sent = f.capture.take_sql();
    assert_eq!(sent.len(), 2, "BEGIN, then one SELECT by key: {sent:?}");
    assert_eq!(sent[0], "BEGIN (implicit)");
    assert!(sent[1].starts_with("SELECT") && sent[1].contains("WHERE users.id = ?"));
    assert!(s.in_transaction());
    assert!(!u.is_expired(), "one SELECT loads every attribute");
    assert_eq!(get(&u, "id"), id);
    assert!(f.capture.take_sql().is_empty());
}

#[test]
fn expire_on_commit_false_keeps_the_values() {
    let f = Fixture::new();
    let s = f.session_with(SessionConfig {
        expire_on_commit: false,
        ..SessionConfig::default()
    });
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.commit().unwrap();
    assert!(!u.is_expired());
    f.exec("UPDATE users SET name = 'edward'");
    f.capture.clear();
    assert_eq!(get(&u, "name"), text("ed"), "the stale value is kept");
    assert!(f.capture.take_sql().is_empty());
}

#[test]
fn commit_writes_to_the_database_and_a_new_session_sees_it() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.commit().unwrap();
    let id = get(&u, "id");
    s.close();
    let s2 = f.session();
    let other = s2.get(&f.users, &[id]).unwrap().unwrap();
    assert!(!Rc::ptr_eq(&other, &u), "another session, another instance");
    assert_eq!(get(&other, "email"), text("ed@x"));
}

#[test]
fn expire_of_some_attributes_reloads_only_those() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    f.exec("UPDATE users SET name = 'z', age = 99");
    s.expire(&u, Some(&[attr(&u, "name")])).unwrap();
    assert!(!is_loaded(&u, "name") && is_loaded(&u, "age"));
    assert_eq!(get(&u, "name"), text("z"));
    assert_eq!(
        get(&u, "age"),
        int(30),
        "age was not expired, so not reloaded"
    );
}

#[test]
fn expire_discards_a_pending_change() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "name", "changed");
    s.expire(&u, None).unwrap();
    f.capture.clear();
    s.flush().unwrap();
    assert!(
        !f.capture.take_sql().iter().any(|q| q.starts_with("UPDATE")),
        "the expired change is not written"
    );
    assert_eq!(get(&u, "name"), text("a"));
}

#[test]
fn expire_of_an_object_not_in_the_session_is_refused() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    assert_eq!(
        s.expire(&u, None).unwrap_err().kind,
        ErrorKind::InvalidRequestError
    );
}

#[test]
fn refresh_reloads_from_the_database_and_drops_unflushed_changes() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "age", 1);
    f.exec("UPDATE users SET name = 'renamed'");
    s.refresh(&u).unwrap();
    assert_eq!(get(&u, "name"), text("renamed"));
    assert_eq!(get(&u, "age"), int(30));
    assert!(!u.is_modified());
    f.capture.clear();
    s.flush().unwrap();
    assert!(!f.capture.take_sql().iter().any(|q| q.starts_with("UPDATE")));
}

#[test]
fn refresh_of_a_row_deleted_elsewhere_is_an_invalid_request() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    f.exec("DELETE FROM users");
    let err = s.refresh(&u).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequestError);
}

#[test]
fn expired_attribute_of_a_row_deleted_elsewhere_raises_object_deleted() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.commit().unwrap();
    f.exec("DELETE FROM users");
    let err = try_get(&u, "name").unwrap_err();
    assert_eq!(err.kind, ErrorKind::ObjectDeletedError);
    // and get() of that key now finds nothing
    assert!(s.get(&f.users, &[int(ids[0])]).unwrap().is_none());
}

// ---- detached objects ---------------------------------------------------------------

#[test]
fn unloaded_attribute_of_a_detached_instance_raises_detached_instance_error() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.commit().unwrap(); // expires every attribute
    s.close();
    assert_eq!(u.status(), Status::Detached);
    assert!(u.session().is_none());
    let err = try_get(&u, "name").unwrap_err();
    assert_eq!(err.kind, ErrorKind::DetachedInstanceError);
    assert!(err.message.contains("User.name"), "{}", err.message);
}

#[test]
fn loaded_attributes_of_a_detached_instance_stay_readable() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.expire(&u, Some(&[attr(&u, "age")])).unwrap();
    s.expunge(&u).unwrap();
    assert_eq!(u.status(), Status::Detached);
    assert_eq!(get(&u, "name"), text("a"));
    assert_eq!(
        try_get(&u, "age").unwrap_err().kind,
        ErrorKind::DetachedInstanceError
    );
}

#[test]
fn expunge_detaches_and_a_later_get_builds_a_new_instance() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.expunge(&u).unwrap();
    assert!(!s.contains(&u));
    assert_eq!(u.status(), Status::Detached);
    let again = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert!(!Rc::ptr_eq(&again, &u));
    // expunging it twice is an error
    assert_eq!(
        s.expunge(&u).unwrap_err().kind,
        ErrorKind::InvalidRequestError
    );
}

#[test]
fn expunge_of_a_pending_object_keeps_it_out_of_the_flush() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.expunge(&u).unwrap();
    assert_eq!(u.status(), Status::Transient);
    s.commit().unwrap();
    assert_eq!(f.count("users"), 0);
}

#[test]
fn a_detached_object_added_to_a_new_session_is_persistent_and_flushes_its_earlier_changes() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s1 = f.session();
    let u = s1.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "name", "changed before close");
    s1.close(); // rolls back; the unflushed change stays on the object
    assert_eq!(u.status(), Status::Detached);
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("a")]]);

    let s2 = f.session();
    s2.add(&u).unwrap();
    assert_eq!(u.status(), Status::Persistent);
    assert!(holds(&s2.dirty_objects(), &u));
    assert!(Rc::ptr_eq(
        &s2.get(&f.users, &[int(ids[0])]).unwrap().unwrap(),
        &u
    ));
    s2.commit().unwrap();
    assert_eq!(
        f.rows("SELECT name FROM users"),
        vec![vec![text("changed before close")]]
    );
}

#[test]

fn a_change_made_while_detached_is_flushed_after_add() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s1 = f.session();
    let u = s1.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s1.close();
    assert_eq!(u.status(), Status::Detached);
    set(&u, "name", "changed while detached");
    assert!(u.is_modified(), "the change is in the attribute history");

    let s2 = f.session();
    s2.add(&u).unwrap();
    assert!(holds(&s2.dirty_objects(), &u));
    s2.commit().unwrap();
    assert_eq!(
        f.rows("SELECT name FROM users"),
        vec![vec![text("changed while detached")]]
    );
}

#[test]
fn a_detached_object_cannot_join_a_session_holding_another_instance_of_its_row() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s1 = f.session();
    let u = s1.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s1.close();
    let s2 = f.session();
    let _other = s2.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert_eq!(s2.add(&u).unwrap_err().kind, ErrorKind::InvalidRequestError);
    assert_eq!(u.status(), Status::Detached);
}

#[test]
fn close_detaches_every_object_and_keeps_loaded_values() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let p = f.user("p", "p@x");
    s.add(&p).unwrap();
    s.close();
    assert_eq!(u.status(), Status::Detached);
    assert_eq!(p.status(), Status::Transient);
    assert!(s.all_instances().is_empty());
    assert_eq!(get(&u, "name"), text("a"));
    assert_eq!(f.count("users"), 1, "the pending user was never flushed");
    // close_resets_only (the default): the session can be used again
    assert!(s.get(&f.users, &[int(ids[0])]).unwrap().is_some());
}

#[test]
fn a_closed_session_refuses_work_without_close_resets_only() {
    let f = Fixture::new();
    let s = f.session_with(SessionConfig {
        close_resets_only: false,
        ..SessionConfig::default()
    });
    s.close();
    assert!(s.is_closed());
    assert_eq!(
        s.add(&f.user("a", "a@x")).unwrap_err().kind,
        ErrorKind::InvalidRequestError
    );
    assert!(s.get(&f.users, &[int(1)]).is_err());
}

// ---- rollback -----------------------------------------------------------------------

#[test]
fn rollback_makes_flushed_pending_objects_transient_with_generated_keys_cleared() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    assert!(!get(&u, "id").is_null());
    assert_eq!(f.count("users"), 1);

    s.rollback().unwrap();
    assert_eq!(f.count("users"), 0, "the INSERT is rolled back");
    assert_eq!(u.status(), Status::Transient);
    assert!(u.state().key.is_none());
    assert!(get(&u, "id").is_null(), "the generated key is cleared");
    assert_eq!(get(&u, "name"), text("ed"), "other values are kept");
    assert!(s.all_instances().is_empty());

    // it can be added and committed again, and gets a key again
    s.add(&u).unwrap();
    s.commit().unwrap();
    assert_eq!(f.count("users"), 1);
    assert!(!get(&u, "id").is_null());
}

#[test]
fn rollback_keeps_an_explicit_primary_key() {
    let f = Fixture::new();
    let s = f.session();
    let u = make(
        &f.users,
        &[("id", int(42)), ("name", text("ed")), ("email", text("e"))],
    );
    s.add(&u).unwrap();
    s.flush().unwrap();
    s.rollback().unwrap();
    assert_eq!(u.status(), Status::Transient);
    assert_eq!(
        get(&u, "id"),
        int(42),
        "a key the user set is not generated"
    );
}

#[test]
fn rollback_restores_deleted_objects_and_expires_persistent_ones() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let b = s.get(&f.users, &[int(ids[1])]).unwrap().unwrap();
    s.delete(&a).unwrap();
    set(&b, "name", "b2");
    s.flush().unwrap();
    assert_eq!(a.status(), Status::Deleted);
    assert!(s.get(&f.users, &[int(ids[0])]).unwrap().is_none());
    assert_eq!(f.count("users"), 1);

    s.rollback().unwrap();
    assert_eq!(f.count("users"), 2);
    assert_eq!(a.status(), Status::Persistent);
    assert!(s.contains(&a));
    assert!(a.is_expired() && b.is_expired());
    assert_eq!(
        get(&b, "name"),
        text("b"),
        "b's flushed change is rolled back"
    );
    assert!(Rc::ptr_eq(
        &s.get(&f.users, &[int(ids[0])]).unwrap().unwrap(),
        &a
    ));
    assert_eq!(get(&a, "name"), text("a"));
}

#[test]
fn rollback_discards_unflushed_changes_and_marks() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&a, "name", "unflushed");
    s.delete(&a).unwrap();
    let p = f.user("p", "p@x");
    s.add(&p).unwrap();
    s.rollback().unwrap();
    assert!(!s.has_pending_changes());
    assert_eq!(p.status(), Status::Transient);
    assert_eq!(a.status(), Status::Persistent);
    assert_eq!(get(&a, "name"), text("a"));
    s.commit().unwrap();
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("a")]]);
}

#[test]
fn commit_detaches_objects_deleted_in_the_transaction() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.delete(&a).unwrap();
    assert!(holds(&s.deleted_objects(), &a));
    s.commit().unwrap();
    assert_eq!(a.status(), Status::Detached);
    assert!(!s.contains(&a));
    assert_eq!(f.count("users"), 0);
}

// ---- dirty tracking -----------------------------------------------------------------

#[test]
fn dirty_is_optimistic_but_is_modified_is_net() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert!(s.dirty_objects().is_empty());
    set(&a, "name", "a"); // the same value
    assert!(holds(&s.dirty_objects(), &a), "dirty counts any set");
    assert!(!a.is_modified());
    set(&a, "name", "b");
    assert!(a.is_modified());
    assert_eq!(a.net_changes(), vec![attr(&a, "name")]);
    let h = a.history(attr(&a, "name"));
    assert_eq!(h.added, vec![text("b")]);
    assert_eq!(h.deleted, vec![text("a")]);
    s.flush().unwrap();
    assert!(s.dirty_objects().is_empty());
    let h = a.history(attr(&a, "name"));
    assert_eq!(h.unchanged, vec![text("b")]);
    assert!(h.added.is_empty() && h.deleted.is_empty());
}

// ---- merge --------------------------------------------------------------------------

#[test]
fn merge_copies_onto_the_persistent_instance_of_the_same_key() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let existing = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let source = make(&f.users, &[("id", int(ids[0])), ("name", text("merged"))]);
    let merged = s.merge(&source).unwrap();
    assert!(Rc::ptr_eq(&merged, &existing));
    assert_eq!(source.status(), Status::Transient, "the source stays out");
    assert!(!s.contains(&source));
    assert_eq!(get(&merged, "name"), text("merged"));
    f.capture.clear();
    s.flush().unwrap();
    let updates: Vec<_> = f
        .capture
        .take()
        .into_iter()
        .filter(|q| q.sql.starts_with("UPDATE"))
        .collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].sql,
        "UPDATE users SET name=? \nWHERE users.id = ?"
    );
    assert_eq!(updates[0].params, vec![vec![text("merged"), int(ids[0])]]);
    assert_eq!(
        f.rows("SELECT name, email FROM users"),
        vec![vec![text("merged"), text("a@example.com")]],
        "attributes the source did not set are left alone"
    );
}

#[test]
fn merge_loads_the_row_when_it_is_not_in_the_identity_map() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let source = make(&f.users, &[("id", int(ids[0])), ("age", int(31))]);
    let merged = s.merge(&source).unwrap();
    assert!(!Rc::ptr_eq(&merged, &source));
    assert_eq!(merged.status(), Status::Persistent);
    assert_eq!(get(&merged, "name"), text("a"));
    assert_eq!(get(&merged, "age"), int(31));
    s.commit().unwrap();
    assert_eq!(f.rows("SELECT age FROM users"), vec![vec![int(31)]]);
}

#[test]
fn merge_of_an_unknown_key_adds_a_new_pending_copy() {
    let f = Fixture::new();
    let s = f.session();
    let source = make(
        &f.users,
        &[("id", int(7)), ("name", text("n")), ("email", text("n@x"))],
    );
    let merged = s.merge(&source).unwrap();
    assert!(!Rc::ptr_eq(&merged, &source));
    assert_eq!(merged.status(), Status::Pending);
    assert_eq!(source.status(), Status::Transient);
    s.commit().unwrap();
    assert_eq!(
        f.rows("SELECT id, name FROM users"),
        vec![vec![int(7), text("n")]]
    );
}

#[test]
fn merge_of_a_detached_instance_into_another_session() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s1 = f.session();
    let u = s1.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s1.close();
    set(&u, "name", "offline edit");
    let s2 = f.session();
    let merged = s2.merge(&u).unwrap();
    assert!(!Rc::ptr_eq(&merged, &u));
    assert_eq!(u.status(), Status::Detached);
    s2.commit().unwrap();
    assert_eq!(
        f.rows("SELECT name FROM users"),
        vec![vec![text("offline edit")]]
    );
}

// ---- savepoints ---------------------------------------------------------------------

#[test]
fn rollback_nested_undoes_only_the_savepoint() {
    let f = Fixture::new();
    let s = f.session();
    let outer = f.user("outer", "o@x");
    s.add(&outer).unwrap();
    let depth = s.begin_nested().unwrap();
    assert_eq!(depth, 1);
    assert!(s.in_nested_transaction());
    assert_eq!(outer.status(), Status::Persistent, "begin_nested flushes");
    let inner = f.user("inner", "i@x");
    s.add(&inner).unwrap();
    s.flush().unwrap();
    assert_eq!(f.count("users"), 2);

    s.rollback_nested().unwrap();
    assert!(!s.in_nested_transaction() && s.in_transaction());
    assert_eq!(f.count("users"), 1);
    assert_eq!(inner.status(), Status::Transient);
    assert!(get(&inner, "id").is_null());
    assert_eq!(outer.status(), Status::Persistent);
    s.commit().unwrap();
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("outer")]]);
}

#[test]
fn rollback_nested_restores_objects_deleted_in_the_savepoint() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.begin_nested().unwrap();
    s.delete(&a).unwrap();
    s.flush().unwrap();
    assert_eq!(a.status(), Status::Deleted);
    s.rollback_nested().unwrap();
    assert_eq!(a.status(), Status::Persistent);
    assert_eq!(f.count("users"), 1);
    assert_eq!(get(&a, "name"), text("a"));
    s.commit().unwrap();
    assert_eq!(f.count("users"), 1);
}

#[test]
fn release_nested_keeps_the_work_for_the_outer_transaction() {
    let f = Fixture::new();
    let s = f.session();
    s.begin_nested().unwrap();
    let u = f.user("inner", "i@x");
    s.add(&u).unwrap();
    s.release_nested().unwrap();
    assert!(!s.in_nested_transaction());
    assert_eq!(u.status(), Status::Persistent);
    // the outer rollback undoes what the released savepoint did
    s.rollback().unwrap();
    assert_eq!(u.status(), Status::Transient);
    assert_eq!(f.count("users"), 0);

    s.begin_nested().unwrap();
    let v = f.user("kept", "k@x");
    s.add(&v).unwrap();
    s.release_nested().unwrap();
    s.commit().unwrap();
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("kept")]]);
}

#[test]
fn savepoint_statements_are_sent() {
    let f = Fixture::new();
    let s = f.session();
    // a savepoint is taken when something in it first needs the connection
    s.begin_nested().unwrap();
    s.connection().unwrap();
    s.rollback_nested().unwrap();
    s.begin_nested().unwrap();
    s.connection().unwrap();
    s.release_nested().unwrap();
    // one nothing used sends nothing, as SQLAlchemy's
    s.begin_nested().unwrap();
    s.release_nested().unwrap();
    s.begin_nested().unwrap();
    s.rollback_nested().unwrap();
    let sent = f.capture.take_sql();
    assert_eq!(
        sent,
        vec![
            "BEGIN (implicit)",
            "SAVEPOINT sa_savepoint_1",
            "ROLLBACK TO SAVEPOINT sa_savepoint_1",
            "RELEASE SAVEPOINT sa_savepoint_1",
            "SAVEPOINT sa_savepoint_2",
            "RELEASE SAVEPOINT sa_savepoint_2",
        ]
    );
    assert_eq!(
        s.rollback_nested().unwrap_err().kind,
        ErrorKind::InvalidRequestError,
        "no savepoint is open"
    );
}

#[test]

fn rollback_nested_leaves_objects_untouched_by_the_savepoint_loaded() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    let b = s.get(&f.users, &[int(ids[1])]).unwrap().unwrap();
    s.begin_nested().unwrap();
    set(&b, "name", "b2");
    s.flush().unwrap();
    s.rollback_nested().unwrap();
    assert!(b.is_expired(), "b was modified in the savepoint");
    assert!(!a.is_expired(), "a was not touched in the savepoint");
}

#[test]
fn rollback_nested_reverts_changes_flushed_in_the_savepoint() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&a, "age", 40);
    s.begin_nested().unwrap(); // flushes age = 40 in the outer transaction
    set(&a, "age", 50);
    set(&a, "name", "in savepoint");
    s.flush().unwrap();
    s.rollback_nested().unwrap();
    assert_eq!(get(&a, "age"), int(40));
    assert_eq!(get(&a, "name"), text("a"));
    s.commit().unwrap();
    assert_eq!(
        f.rows("SELECT name, age FROM users"),
        vec![vec![text("a"), int(40)]]
    );
}

#[test]
fn commit_with_an_open_savepoint_releases_it_and_commits_everything() {
    let f = Fixture::new();
    let s = f.session();
    s.add(&f.user("outer", "o@x")).unwrap();
    s.begin_nested().unwrap();
    s.add(&f.user("inner", "i@x")).unwrap();
    s.commit().unwrap();
    assert!(!s.in_transaction());
    s.close();
    assert_eq!(
        f.rows("SELECT name FROM users ORDER BY id"),
        vec![vec![text("outer")], vec![text("inner")]]
    );
}

#[test]

fn rollback_restores_a_primary_key_changed_in_the_transaction() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let u = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    set(&u, "id", 500);
    s.flush().unwrap();
    s.rollback().unwrap();
    assert_eq!(f.rows("SELECT id FROM users"), vec![vec![int(ids[0])]]);
    assert_eq!(u.status(), Status::Persistent);
    let found = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    assert!(
        Rc::ptr_eq(&found, &u),
        "the old key finds the same instance"
    );
    assert_eq!(get(&u, "id"), int(ids[0]));
    assert!(s.get(&f.users, &[int(500)]).unwrap().is_none());
}

// ---- autoflush ----------------------------------------------------------------------

#[test]
fn a_select_autoflushes_pending_objects() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    let q = OrmSelect::new(vec![SelectItem::Entity(f.users.clone())]);
    let rows = s.execute_select(&q).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(matches!(&rows.items[0], Item::Instance(i) if Rc::ptr_eq(i, &u)));
}

#[test]
fn without_autoflush_a_select_does_not_see_pending_objects() {
    let f = Fixture::new();
    let s = f.session_with(SessionConfig {
        autoflush: false,
        ..SessionConfig::default()
    });
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    assert!(s.get(&f.users, &[int(1)]).unwrap().is_none());
    assert_eq!(u.status(), Status::Pending);

    let s2 = f.session();
    let v = f.user("v", "v@x");
    s2.add(&v).unwrap();
    s2.enter_no_autoflush();
    let q = OrmSelect::new(vec![SelectItem::Entity(f.users.clone())]);
    assert_eq!(s2.execute_select(&q).unwrap().len(), 0);
    s2.exit_no_autoflush();
    assert_eq!(s2.execute_select(&q).unwrap().len(), 1);
    assert_eq!(v.status(), Status::Persistent);
}

#[test]

fn rollback_of_an_object_inserted_then_deleted_in_the_transaction_makes_it_transient() {
    let f = Fixture::new();
    let s = f.session();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    s.delete(&u).unwrap();
    s.flush().unwrap();
    assert_eq!(u.status(), Status::Deleted);
    s.rollback().unwrap();
    assert_eq!(f.count("users"), 0);
    assert_eq!(u.status(), Status::Transient);
    assert!(u.state().key.is_none());
    assert!(u.session().is_none());
    assert!(s.all_instances().is_empty());
}

#[test]

fn rollback_nested_of_an_object_inserted_then_deleted_in_the_savepoint_makes_it_transient() {
    let f = Fixture::new();
    let s = f.session();
    s.begin_nested().unwrap();
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    s.delete(&u).unwrap();
    s.flush().unwrap();
    s.rollback_nested().unwrap();
    assert_eq!(u.status(), Status::Transient);
    assert!(u.session().is_none());
    assert!(!s.contains(&u));
}

#[test]
fn deleting_a_detached_object_attaches_it_and_deletes_its_row() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a", "b"]);
    let s1 = f.session();
    let a = s1.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s1.close();
    let s2 = f.session();
    s2.delete(&a).unwrap();
    assert_eq!(a.status(), Status::Persistent);
    assert!(holds(&s2.deleted_objects(), &a));
    s2.commit().unwrap();
    assert_eq!(a.status(), Status::Detached);
    assert_eq!(f.rows("SELECT name FROM users"), vec![vec![text("b")]]);
}

/// Two models with a bidirectional one-to-many (`posts` / `author`), configured.
fn linked_models(
    db: &Db,
    prefix: &str,
) -> (Rc<lualchemy::orm::Mapper>, Rc<lualchemy::orm::Mapper>) {
    use lualchemy::orm::relationships::{configure, RelationshipSpec};
    use lualchemy::schema::{SqlType, Table};
    let (ut, pt) = (format!("{prefix}_users"), format!("{prefix}_posts"));
    let users = db.table(
        &format!("{prefix}User"),
        Table::new(&ut, vec![pk("id")], vec![], vec![]).unwrap(),
    );
    let posts = db.table(
        &format!("{prefix}Post"),
        Table::new(
            &pt,
            vec![
                pk("id"),
                fk(col("user_id", SqlType::Integer), &format!("{ut}.id")),
            ],
            vec![],
            vec![],
        )
        .unwrap(),
    );
    let mut spec = RelationshipSpec::new("posts", &posts.class_name);
    spec.back_populates = Some("author".into());
    users.rel_specs.borrow_mut().push(spec);
    let mut spec = RelationshipSpec::new("author", &users.class_name);
    spec.back_populates = Some("posts".into());
    posts.rel_specs.borrow_mut().push(spec);
    let metadata = db.metadata.clone();
    configure(&[users.clone(), posts.clone()], &|n| metadata.get(n)).unwrap();
    (users, posts)
}

/// A parent and its child hold each other through a bidirectional relationship; once the
/// session closes and the program drops them, the cycle collector frees both.
#[test]
fn instances_in_a_relationship_cycle_are_freed_once_nothing_else_holds_them() {
    use lualchemy::orm::collections::Events;
    let db = Db::empty();
    let (users, posts) = linked_models(&db, "Cy");
    db.create_all();
    let session = db.session();
    let u = lualchemy::orm::Instance::new(&users);
    let p = lualchemy::orm::Instance::new(&posts);
    let rel = users.relationship("posts").unwrap();
    Events.append(&u, &rel, &p).unwrap();
    session.0.add(&u).unwrap();
    // flushed, not committed: commit would expire (unload) the relationships
    session.0.flush().unwrap();
    let (wu, wp) = (Rc::downgrade(&u), Rc::downgrade(&p));
    drop((u, p));
    // the session's identity map still holds them
    assert!(wu.upgrade().is_some() && wp.upgrade().is_some());
    session.0.close();
    // closed: only the cycle held them, and the collector freed it
    assert!(wu.upgrade().is_none(), "the user is still alive");
    assert!(wp.upgrade().is_none(), "the post is still alive");
}

/// Objects the program still holds are never freed of their relationships.
#[test]
fn the_cycle_collector_leaves_objects_the_program_holds() {
    use lualchemy::orm::collections::{Events, RelState};
    let db = Db::empty();
    let (users, posts) = linked_models(&db, "Cz");
    let u = lualchemy::orm::Instance::new(&users);
    let p = lualchemy::orm::Instance::new(&posts);
    let rel = users.relationship("posts").unwrap();
    Events.append(&u, &rel, &p).unwrap();
    let wp = Rc::downgrade(&p);
    drop(p);
    lualchemy::orm::cycles::collect();
    // held through u, which the program holds
    let p = wp.upgrade().expect("the post is reachable from the user");
    assert!(matches!(u.rel_state(rel.index), RelState::Collection(c) if c.items.len() == 1));
    assert!(p.rel_loaded(rel.reverse().unwrap().index));
}

// ---- a session bound to a connection: join_transaction_mode ---------------------------

/// One step's view of the test's connection: in a transaction, in a SAVEPOINT, the test's
/// outer transaction still the current one, and the users it sees (counting begins a
/// transaction when none is open, as SQLAlchemy's `conn.execute` autobegins).
fn joined_state(conn: &lualchemy::engine::Connection, outer: u64) -> (bool, bool, bool, i64) {
    let in_tx = conn.in_transaction();
    let nested = conn.in_nested_transaction();
    let active = in_tx && conn.transaction_id() == outer;
    if !in_tx {
        conn.begin().unwrap();
    }
    let mut n = 0;
    conn.query("SELECT count(*) FROM users", &[], |row| {
        n = row.value(0)?.as_i64().unwrap();
        Ok(())
    })
    .unwrap();
    (in_tx, nested, active, n)
}

type JoinedRun = [(bool, bool, bool, i64); 3];

/// The test's transaction (and, with `nested`, a SAVEPOINT in it) on a connection, one row
/// written on it, then a session joined to it in `mode` commits one user, flushes and rolls
/// back another, flushes and closes with a third. Returns the state after each of the three
/// and the names left once the test rolls its transaction back.
fn joined_run(mode: &str, nested: bool) -> (JoinedRun, Vec<Vec<Value>>) {
    use lualchemy::orm::session_bind::JoinMode;
    let f = Fixture::new();
    let conn = f.engine.connect().unwrap();
    conn.begin().unwrap();
    let outer = conn.transaction_id();
    if nested {
        let name = conn.next_savepoint_name();
        conn.savepoint(&name).unwrap();
    }
    conn.execute(
        "INSERT INTO users (name, email) VALUES ('zero', 'zero@x')",
        &[],
    )
    .unwrap();
    let config = SessionConfig {
        join_transaction_mode: JoinMode::parse(mode).unwrap(),
        ..SessionConfig::default()
    };
    let s = lualchemy::orm::Session::new(None, config);
    s.bind_connection(&conn);
    s.add(&f.user("a", "a@x")).unwrap();
    s.commit().unwrap();
    let after_commit = joined_state(&conn, outer);
    s.add(&f.user("b", "b@x")).unwrap();
    s.flush().unwrap();
    s.rollback().unwrap();
    let after_rollback = joined_state(&conn, outer);
    s.add(&f.user("c", "c@x")).unwrap();
    s.flush().unwrap();
    s.close();
    let after_close = joined_state(&conn, outer);
    // the test's trans.rollback(): only while it is still the current transaction
    if conn.in_transaction() && conn.transaction_id() == outer {
        conn.rollback().unwrap();
    }
    drop(s);
    conn.rollback().unwrap(); // conn.close() rolls back what is left
    drop(conn);
    let left = f.rows("SELECT name FROM users ORDER BY id");
    ([after_commit, after_rollback, after_close], left)
}

// The expected values below were checked against SQLAlchemy 2.0.58 running the same
// sequence (Session(conn, join_transaction_mode=...)) on a SQLite file database, with the
// pysqlite recipe of SQLAlchemy's SQLite docs (BEGIN emitted by the `begin` event), without
// which pysqlite lets a SAVEPOINT begin a transaction of its own that RELEASE commits.

#[test]
fn conditional_savepoint_is_rollback_only_outside_a_savepoint_and_create_savepoint_inside() {
    let (steps, left) = joined_run("conditional_savepoint", false);
    assert_eq!(
        steps,
        [
            (true, false, true, 2),
            (false, false, false, 0),
            (true, false, false, 1)
        ]
    );
    assert!(left.is_empty());
    let (steps, left) = joined_run("conditional_savepoint", true);
    assert_eq!(steps, [(true, true, true, 2); 3]);
    assert!(left.is_empty());
}

#[test]
fn create_savepoint_never_ends_the_tests_transaction() {
    for nested in [false, true] {
        let (steps, left) = joined_run("create_savepoint", nested);
        assert_eq!(steps, [(true, nested, true, 2); 3], "nested {nested}");
        assert!(left.is_empty());
    }
}

#[test]
fn rollback_only_rolls_back_the_joined_transaction_but_never_commits_it() {
    let (steps, left) = joined_run("rollback_only", false);
    assert_eq!(
        steps,
        [
            (true, false, true, 2),
            (false, false, false, 0),
            (true, false, false, 1)
        ]
    );
    assert!(left.is_empty());
    let (steps, left) = joined_run("rollback_only", true);
    assert_eq!(
        steps,
        [
            (true, true, true, 2),
            (true, false, true, 0),
            (true, false, true, 1)
        ]
    );
    assert!(left.is_empty());
}

#[test]
fn control_fully_commits_the_joined_transaction() {
    let (steps, left) = joined_run("control_fully", false);
    assert_eq!(
        steps,
        [
            (false, false, false, 2),
            (false, false, false, 2),
            (false, false, false, 2)
        ]
    );
    assert_eq!(left, vec![vec![text("zero")], vec![text("a")]]);
    let (steps, left) = joined_run("control_fully", true);
    // the session took the SAVEPOINT and released it on commit; its next transaction took
    // the test's own, which its rollback ended
    assert_eq!(
        steps,
        [
            (true, false, true, 2),
            (false, false, false, 0),
            (false, false, false, 0)
        ]
    );
    assert!(left.is_empty());
}

#[test]
fn an_unknown_join_transaction_mode_names_the_valid_ones() {
    let err = lualchemy::orm::session_bind::JoinMode::parse("conservative_savepoint").unwrap_err();
    assert_eq!(err.kind, ErrorKind::ArgumentError);
    assert!(
        err.message.contains("conservative_savepoint") && err.message.contains("create_savepoint"),
        "{}",
        err.message
    );
}

#[test]
fn a_session_does_not_keep_its_connection_checked_out() {
    let f = Fixture::new();
    let conn = f.engine.connect().unwrap();
    let s = f.session();
    s.bind_connection(&conn);
    assert!(s.bound_connection().is_some());
    drop(conn); // back to the pool: the session may not use it any more
    assert!(s.bound_connection().is_none());
    let err = s
        .connection()
        .err()
        .expect("a closed connection is refused");
    assert_eq!(err.kind, ErrorKind::InvalidRequestError);
    assert!(err.message.contains("closed"), "{}", err.message);
    // the pool hands the same connection to its next user, whom the session cannot reach
    let _next = f.engine.connect().unwrap();
    assert!(s.bound_connection().is_none());
}

/// A backref that sets an unloaded many-to-one records the old value it finds without SQL
/// (the identity map's object) as the one it replaced, as SQLAlchemy's committed state
/// does: the save-update cascade of a later add walks it (difftest seed 748).
#[test]
fn a_backref_set_of_an_unloaded_many_to_one_records_the_object_it_replaced() {
    use lualchemy::orm::collections::{Events, RelState};
    let db = Db::empty();
    let (users, posts) = linked_models(&db, "Br");
    db.create_all();
    let s = db.session();
    let (u0, u1) = (
        lualchemy::orm::Instance::new(&users),
        lualchemy::orm::Instance::new(&users),
    );
    let p = lualchemy::orm::Instance::new(&posts);
    let rel = users.relationship("posts").unwrap();
    let author = rel.reverse().unwrap();
    Events.append(&u0, &rel, &p).unwrap();
    s.add(&u0).unwrap();
    s.add(&u1).unwrap();
    s.commit().unwrap();
    // loaded again (the many-to-one stays unloaded), then moved to u1 through its posts
    let _ = get(&p, "user_id");
    let _ = get(&u0, "id");
    let _ = get(&u1, "id");
    assert!(!p.rel_loaded(author.index));
    Events.append(&u1, &rel, &p).unwrap();
    match p.rel_state(author.index) {
        RelState::Scalar(r) => {
            assert!(r.value.is_some_and(|v| Rc::ptr_eq(&v, &u1)));
            assert!(r.replaced.is_some_and(|v| Rc::ptr_eq(&v, &u0)));
        }
        _ => panic!("the reference is set"),
    }
    // detached, p brings both into another session
    s.close();
    let s2 = db.session();
    s2.add(&p).unwrap();
    assert_eq!(u1.status(), Status::Persistent);
    assert_eq!(u0.status(), Status::Persistent);
}

#[test]
fn a_detached_object_changed_then_expired_whole_is_not_dirty_when_added_again() {
    let f = Fixture::new();
    let ids = f.seed_users(&["a"]);
    let s = f.session();
    let a = s.get(&f.users, &[int(ids[0])]).unwrap().unwrap();
    s.expunge(&a).unwrap();
    set(&a, "name", "a"); // a change event while detached: dirty once added again
    let s2 = f.session();
    s2.add(&a).unwrap();
    assert!(holds(&s2.dirty_objects(), &a), "changed while detached");
    s2.expunge(&a).unwrap();
    set(&a, "name", "a");
    // expired whole while detached (as a refresh-expire cascade does): SQLAlchemy's
    // expiry clears the modified flag with the values (seed 5713)
    a.expire(None);
    let s3 = f.session();
    s3.add(&a).unwrap();
    assert!(s3.dirty_objects().is_empty(), "the expiry cleared the flag");
    f.capture.clear();
    s3.flush().unwrap();
    assert!(f.capture.take().is_empty(), "nothing to flush");
    assert_eq!(get(&a, "name"), text("a"));
}
