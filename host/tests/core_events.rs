//! Events in the core: mapper events in the unit of work (a `before_insert` change reaches
//! the INSERT, `after_insert` sees the generated key), the order of session events within a
//! commit, `once`, removal, and a listener's error aborting the flush.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use lualchemy::orm::events::{mapper_listeners, MapperEvent, SessionEvent};
use lualchemy::{Error, ErrorKind, Value};

#[test]
fn mapper_and_session_events_run_in_sqlalchemy_order_within_a_commit() {
    let f = Fixture::new();
    let s = f.session();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    for (e, name) in [
        (SessionEvent::BeforeCommit, "before_commit"),
        (SessionEvent::BeforeFlush, "before_flush"),
        (SessionEvent::AfterFlush, "after_flush"),
        (SessionEvent::AfterFlushPostexec, "after_flush_postexec"),
        (SessionEvent::AfterCommit, "after_commit"),
        (SessionEvent::TransientToPending, "transient_to_pending"),
        (SessionEvent::PendingToPersistent, "pending_to_persistent"),
        (SessionEvent::AfterBegin, "after_begin"),
    ] {
        let log = log.clone();
        s.listeners.add(
            e,
            1,
            false,
            Rc::new(move |_| {
                log.borrow_mut().push(name.to_string());
                Ok(())
            }),
        );
    }
    let users = &f.users;
    {
        let log = log.clone();
        let name_attr = users.attr_index("name").unwrap();
        mapper_listeners(users.id).add(
            MapperEvent::BeforeInsert,
            1,
            false,
            Rc::new(move |a| {
                // a change made here is part of the INSERT
                a.target.set(name_attr, Value::text("renamed"));
                log.borrow_mut().push("before_insert".into());
                Ok(())
            }),
        );
    }
    {
        let log = log.clone();
        mapper_listeners(users.id).add(
            MapperEvent::AfterInsert,
            2,
            false,
            Rc::new(move |a| {
                let id = get(a.target, "id");
                assert!(
                    matches!(id, Value::Integer(_)),
                    "after_insert sees the key: {id:?}"
                );
                log.borrow_mut().push("after_insert".into());
                Ok(())
            }),
        );
    }
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.commit().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "transient_to_pending",
            "before_commit",
            "before_flush",
            "after_begin",
            "before_insert",
            "after_insert",
            "after_flush",
            "pending_to_persistent",
            "after_flush_postexec",
            "after_commit"
        ]
    );
    assert_eq!(
        f.rows("SELECT name FROM users"),
        vec![vec![Value::text("renamed")]]
    );
    // removal
    assert!(mapper_listeners(users.id).remove(MapperEvent::BeforeInsert, 1));
    assert!(!mapper_listeners(users.id).contains(MapperEvent::BeforeInsert, 1));
    mapper_listeners(users.id).remove(MapperEvent::AfterInsert, 2);
}

#[test]
fn a_listener_error_aborts_the_flush_and_once_listeners_run_once() {
    let f = Fixture::new();
    let s = f.session();
    let calls = Rc::new(RefCell::new(0));
    {
        let calls = calls.clone();
        s.listeners.add(
            SessionEvent::BeforeFlush,
            7,
            true,
            Rc::new(move |_| {
                *calls.borrow_mut() += 1;
                Ok(())
            }),
        );
    }
    mapper_listeners(f.addresses.id).add(
        MapperEvent::BeforeInsert,
        9,
        false,
        Rc::new(|_| {
            Err(Error::new(
                ErrorKind::InvalidRequestError,
                "no addresses today",
            ))
        }),
    );
    let u = f.user("ed", "ed@x");
    s.add(&u).unwrap();
    s.flush().unwrap();
    s.add(&f.user("al", "al@x")).unwrap();
    s.flush().unwrap();
    assert_eq!(*calls.borrow(), 1, "a once listener runs once");
    let a = f.address(&get(&u, "id"), "a@x");
    s.add(&a).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.message, "no addresses today");
    s.rollback().unwrap();
    assert_eq!(f.count("addresses"), 0);
    mapper_listeners(f.addresses.id).remove(MapperEvent::BeforeInsert, 9);
}
