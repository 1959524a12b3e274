//! The unit of work: turns the session's pending, modified and deleted objects into
//! batched INSERT, UPDATE and DELETE statements, in foreign-key order, in one transaction.
//!
//! Everything the flush changes on the objects (generated keys, defaults, state changes)
//! is applied only after every statement has succeeded, so a failed flush leaves the
//! objects exactly as they were.

use crate::engine::Rows;
use std::cell::RefCell;
use std::rc::Rc;

use super::dependency::{Plan, SyncRule};
use super::events::{self, MapperEvent, SessionEvent};

use super::attributes::AttrSet;
use super::collections::RelState;
use super::identity::{FxHashMap, FxHashSet, IdentityKey};
use super::instance::{Instance, Status};
use super::relationships::Direction;
use super::session::SessionCore;
use crate::engine::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::metadata::sort_by_dependency;
use crate::schema::{ColumnDefault, DefaultContext, Table};
use crate::sql::{compile, BinOp, Compiled, Delete, Expr, Insert, Statement, Update};
use crate::value::Value;

mod joined;
mod levels;
mod post_update;

use levels::{flush_depths, in_levels, post_update_edges};
use post_update::{post_update, unlink_post_updated};

/// `finish` runs once the objects have their new state, before `pending_to_persistent` and
/// `after_flush_postexec`: the session's registration of the flushed objects (reading an
/// expired identity key), which SQLAlchemy's `finalize_flush_changes` does there.
pub(crate) fn flush(
    session: &SessionCore,
    conn_for: &dyn Fn() -> Result<Rc<Connection>>,
    finish: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let has_relationships = {
        let any = |l: &RefCell<Vec<Rc<Instance>>>| {
            l.borrow()
                .iter()
                .any(|i| !i.mapper.relationships.borrow().is_empty())
        };
        any(&session.new) || any(&session.modified) || any(&session.deleted)
    };
    let mut cycle = None;
    let plan = if has_relationships {
        let mut plan = super::dependency::prepare(session)?;
        if let Some((e, blocked)) = super::row_cycles::check(session, &plan) {
            plan.blocked = blocked;
            cycle = Some(e);
        }
        plan
    } else {
        Plan::default()
    };
    let mut undo = Undo::default();
    // deletions the flush put off (SQLAlchemy's cancel_delete) stand for the next one
    let remark = |plan: &Plan| {
        for x in &plan.cancelled_deletes {
            if x.status() == Status::Persistent {
                session.mark_deleted(x);
            }
        }
    };
    let conn = LazyConn::new(conn_for);
    let result = write(session, &conn, &plan, &mut undo).and_then(|out| {
        if let Some(e) = cycle {
            return Err(e);
        }
        // after_flush: every statement sent, the objects not yet updated
        session.dispatch(SessionEvent::AfterFlush, None, None)?;
        Ok(out)
    });
    match result {
        Ok((inserted, updated)) => {
            plan.clear_changes();
            let listening = !session.listeners.is_empty();
            let now_persistent: Vec<Rc<Instance>> = if listening {
                inserted.iter().map(|o| o.inst.clone()).collect()
            } else {
                Vec::new()
            };
            apply(session, inserted, updated)?;
            remark(&plan);
            sync_outside_session(session, &plan);
            finish()?;
            for inst in &now_persistent {
                session.dispatch(SessionEvent::PendingToPersistent, Some(inst), None)?;
            }
            session.dispatch(SessionEvent::AfterFlushPostexec, None, None)
        }
        Err(e) => {
            undo.restore(session);
            remark(&plan);
            Err(e)
        }
    }
}

/// The flush's connection, taken from the session when the first statement needs it, as
/// SQLAlchemy's unit of work asks its transaction for one at the first save, delete or
/// association write: a flush that sends nothing (every row held up by a cycle, say)
/// begins nothing and fires no `after_begin`.
pub(super) struct LazyConn<'a> {
    take: &'a dyn Fn() -> Result<Rc<Connection>>,
    conn: std::cell::OnceCell<Rc<Connection>>,
}

impl<'a> LazyConn<'a> {
    fn new(take: &'a dyn Fn() -> Result<Rc<Connection>>) -> Self {
        LazyConn {
            take,
            conn: std::cell::OnceCell::new(),
        }
    }

    /// The connection, taken at the first call.
    pub(super) fn get(&self) -> Result<&Connection> {
        if self.conn.get().is_none() {
            let c = (self.take)()?;
            let _ = self.conn.set(c);
        }
        Ok(self.conn.get().expect("set above"))
    }
}

/// The keys a one-to-many copies into members that are not in the session (a transient
/// object appended through a backref): written into the objects only, as SQLAlchemy's sync
/// populates them (their rows are not the flush's).
fn sync_outside_session(session: &SessionCore, plan: &Plan) {
    for rule in plan.rules.iter().chain(plan.post_rules.iter()) {
        let Some((parent, cols)) = &rule.parent else {
            // a key cleared (the owner deleted) in a member an earlier flush deleted:
            // SQLAlchemy's process_deletes clears it in memory, the member out of its unit
            // of work (seed 600)
            if rule.child.status() == Status::Deleted {
                let mut st = rule.child.state_mut();
                for &c in &rule.child_cols {
                    st.values[c] = Value::Null;
                    st.loaded.insert(c);
                }
            }
            continue;
        };
        if !session.owns(parent) {
            continue;
        }
        // outside the session, or deleted by an earlier flush (SQLAlchemy's sync writes its
        // key in memory: the unit of work does not count it as deleted)
        let deleted = rule.child.status() == Status::Deleted;
        if !deleted && session.owns(&rule.child) {
            continue;
        }
        if !deleted && !matches!(rule.child.status(), Status::Transient | Status::Detached) {
            continue;
        }
        for (&c, &p) in rule.child_cols.iter().zip(cols.iter()) {
            let v = parent.state().values[p].clone();
            if deleted {
                // in memory only: its row is gone, nothing is to be written
                let mut st = rule.child.state_mut();
                st.values[c] = v;
                st.loaded.insert(c);
            } else {
                rule.child.set(c, v);
            }
        }
    }
}

/// `sync_outside_session` for the members of `table`, at the step that copies the keys into
/// its rows (before its rows are saved): SQLAlchemy's one-to-many processing copies the
/// owner's key into them then, so they keep it even when a later statement of the flush
/// fails.
fn sync_outside_session_into(
    session: &SessionCore,
    plan: &Plan,
    table: &Table,
    inserted: &[InsertOutcome],
    index: &Inserted,
) -> Result<()> {
    for rule in plan.rules.iter().chain(plan.post_rules.iter()) {
        if rule.child.mapper.table.id != table.id {
            continue;
        }
        let Some((parent, cols)) = &rule.parent else {
            continue;
        };
        // deleted by an earlier flush: SQLAlchemy's unit of work does not count it as
        // deleted, and its sync writes the key in memory (its row is gone)
        let deleted = rule.child.status() == Status::Deleted;
        if !session.owns(parent)
            || (!deleted && session.owns(&rule.child))
            || !(deleted || matches!(rule.child.status(), Status::Transient | Status::Detached))
        {
            continue;
        }
        for (&c, &p) in rule.child_cols.iter().zip(cols.iter()) {
            if let Some(v) = value_after(parent, p, inserted, index)? {
                if deleted {
                    let mut st = rule.child.state_mut();
                    st.values[c] = v;
                    st.loaded.insert(c);
                } else {
                    rule.child.set(c, v);
                }
            }
        }
    }
    Ok(())
}

/// `insert_rows` with the mapper events: `before_insert` for every row first (changes the
/// listeners make are part of the INSERT), `after_insert` once the rows are in, the
/// generated key already on the object (restored if the flush fails).
fn insert_with_events(
    conn: &LazyConn,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<InsertOutcome>,
    undo: &mut Undo,
) -> Result<()> {
    if let Some(mut one_by_one) = unbatched(rows) {
        return one_by_one.try_for_each(|r| insert_with_events(conn, table, &[r], out, undo));
    }
    // SQLAlchemy's save_obj asks for its connection before the rows' events
    let conn = conn.get()?;
    let mapper_id = rows.first().map(|r| r.mapper.id);
    let before = mapper_id.is_some_and(|m| events::mapper_listens(m, MapperEvent::BeforeInsert));
    let after = mapper_id.is_some_and(|m| events::mapper_listens(m, MapperEvent::AfterInsert));
    if before {
        for r in rows {
            events::dispatch_mapper(MapperEvent::BeforeInsert, r, Some(conn), None)?;
        }
    }
    // refused when its table's turn comes, as SQLAlchemy's INSERT collection refuses it:
    // the tables written before keep their work (keys copied into the rows that wait)
    for r in rows {
        refuse_expired_key(r)?;
    }
    let first = out.len();
    insert_rows(conn, table, rows, out)?;
    if after {
        for o in &out[first..] {
            if let Some((i, id)) = o.generated {
                let mut st = o.inst.state_mut();
                undo.fks.push((
                    o.inst.clone(),
                    i,
                    st.values[i].clone(),
                    st.loaded.contains(i),
                    false,
                    false,
                ));
                st.values[i] = Value::Integer(id);
                st.loaded.insert(i);
            }
        }
        for o in &out[first..] {
            events::dispatch_mapper(MapperEvent::AfterInsert, &o.inst, Some(conn), None)?;
        }
    }
    Ok(())
}

/// The rows of a `batch = false` mapper, when there are several: each is saved on its own,
/// between its own before_ and after_ events, as SQLAlchemy saves them.
fn unbatched<'a>(rows: &'a [&'a Rc<Instance>]) -> Option<impl Iterator<Item = &'a Rc<Instance>>> {
    (rows.len() > 1 && !rows[0].mapper.batch).then(|| rows.iter().copied())
}

/// `update_rows` with `before_update` / `after_update` for every modified row.
fn update_with_events(
    conn: &LazyConn,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<UpdateOutcome>,
) -> Result<()> {
    if let Some(mut one_by_one) = unbatched(rows) {
        return one_by_one.try_for_each(|r| update_with_events(conn, table, &[r], out));
    }
    // rows whose DELETE an earlier flush sent, with nothing to write: no part of
    // SQLAlchemy's flush, they take no connection (seed 1616)
    if rows
        .iter()
        .all(|r| r.status() == Status::Deleted && r.state().update_set().is_none())
    {
        return Ok(());
    }
    let conn = conn.get()?;
    let mapper_id = rows.first().map(|r| r.mapper.id);
    if mapper_id.is_some_and(|m| events::mapper_listens(m, MapperEvent::BeforeUpdate)) {
        for r in rows {
            if r.status() == Status::Persistent && !r.state().marked_deleted() {
                events::dispatch_mapper(MapperEvent::BeforeUpdate, r, Some(conn), None)?;
            }
        }
    }
    let first = out.len();
    update_rows(conn, table, rows, out)?;
    if mapper_id.is_some_and(|m| events::mapper_listens(m, MapperEvent::AfterUpdate)) {
        for o in &out[first..] {
            events::dispatch_mapper(MapperEvent::AfterUpdate, &o.inst, Some(conn), None)?;
        }
    }
    Ok(())
}

/// `delete_rows` with `before_delete` / `after_delete`.
fn delete_with_events(conn: &LazyConn, table: &Rc<Table>, rows: &[&Rc<Instance>]) -> Result<()> {
    let conn = conn.get()?;
    let mapper_id = rows[0].mapper.id;
    if events::mapper_listens(mapper_id, MapperEvent::BeforeDelete) {
        for r in rows {
            events::dispatch_mapper(MapperEvent::BeforeDelete, r, Some(conn), None)?;
        }
    }
    // a key still expired (no collection the preprocess loaded read it) is read
    // now, as SQLAlchemy's delete reads each row's committed key: a row gone raises
    // ObjectDeletedError, and a row that took the key since is the one deleted (seed 8601)
    for r in rows {
        let expired = {
            let st = r.state();
            st.status == Status::Persistent && r.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
        };
        if expired {
            SessionCore::ensure_loaded(r, r.mapper.pk[0])?;
        }
    }
    delete_rows(conn, table, rows)?;
    if events::mapper_listens(mapper_id, MapperEvent::AfterDelete) {
        for r in rows {
            events::dispatch_mapper(MapperEvent::AfterDelete, r, Some(conn), None)?;
        }
    }
    Ok(())
}

/// Foreign key values the flush wrote into objects, to put back if it fails.
#[derive(Default)]
struct Undo {
    /// (object, attribute, old value, was loaded, had a committed entry, was a NULL an
    /// INSERT left unset)
    fks: Vec<(Rc<Instance>, usize, Value, bool, bool, bool)>,
    /// The objects the failed flush inserted with a generated key (`write`).
    generated: Vec<Rc<Instance>>,
}

impl Undo {
    fn restore(self, session: &SessionCore) {
        *session.failed_inserts.borrow_mut() = self.generated;
        if self.fks.is_empty() {
            return;
        }
        // the objects inserted in the transaction the failure rolls back (the savepoint's,
        // or all of them): made transient, they keep their values as SQLAlchemy's do
        let mut rolled_back: FxHashSet<*const Instance> = FxHashSet::default();
        {
            let frames = session.frames.borrow();
            let savepoint = frames.last().is_some_and(|f| f.nested);
            let n = if savepoint { 1 } else { frames.len() };
            for f in frames.iter().rev().take(n) {
                rolled_back.extend(f.inserted.iter().map(Rc::as_ptr));
            }
        }
        for (inst, i, old, loaded, had_committed, never_set) in self.fks.into_iter().rev() {
            // nor does it undo the key a one-to-many copied into a member outside the
            // session (synchronized in memory before the statement that failed): transient,
            // detached, or of another session, which the rollback leaves alone (seed 7040)
            if !session.owns(&inst) {
                continue;
            }
            let mut st = inst.state_mut();
            // a pending object keeps the foreign keys the failed flush copied into it, as
            // SQLAlchemy leaves them (the next flush copies them again from the references),
            // and so does one the rollback makes transient again
            let transient_again = rolled_back.contains(&Rc::as_ptr(&inst));
            if (st.status == Status::Pending || transient_again) && !inst.mapper.pk.contains(&i) {
                continue;
            }
            st.values[i] = old;
            if !loaded {
                st.loaded.remove(i);
            }
            if !had_committed {
                st.committed.retain(|(a, _)| *a != i);
            }
            if never_set {
                st.nulls_never_set.insert(i);
            }
        }
    }
}

/// Where inserted objects' outcomes are, by object.
type Inserted = FxHashMap<*const Instance, usize>;

/// The value of `inst`'s attribute `col` as this flush leaves it: a key generated or a
/// default assigned by an INSERT of this flush, or the object's own. `None`: the object is
/// pending and not inserted yet.
fn value_after(
    inst: &Rc<Instance>,
    col: usize,
    inserted: &[InsertOutcome],
    index: &Inserted,
) -> Result<Option<Value>> {
    if let Some(&n) = index.get(&Rc::as_ptr(inst)) {
        let out = &inserted[n];
        if let Some((i, id)) = out.generated {
            if i == col {
                return Ok(Some(Value::Integer(id)));
            }
        }
        if let Some((_, v)) = out.assigned.iter().find(|(i, _)| *i == col) {
            return Ok(Some(v.clone()));
        }
    } else if inst.status() == Status::Pending {
        return Ok(None);
    }
    let loaded = inst.state().loaded.contains(col);
    if !loaded {
        // an expired key column of an object of this flush: SQLAlchemy's sync reads it
        // from the loaded state when it copies it (after the saves before that step), so
        // its expired attributes load here, also those of an object the flush deletes (a
        // row gone: ObjectDeletedError, seed 10800). Of another object (one whose DELETE
        // was flushed, of another session), the identity key has it; anything else is
        // loaded.
        let from_key = {
            let st = inst.state();
            let pos = inst.mapper.pk.iter().position(|&p| p == col);
            let ours = st.status == Status::Persistent
                && st
                    .session
                    .as_ref()
                    .and_then(|w| w.upgrade())
                    .is_some_and(|s| s.flushing.get());
            pos.filter(|_| !ours)
                .and_then(|n| st.key.as_ref().map(|k| k.values()[n].clone()))
        };
        match from_key {
            Some(v) => return Ok(Some(v)),
            None => SessionCore::ensure_loaded(inst, col)?,
        }
    }
    Ok(Some(inst.state().values[col].clone()))
}

/// As SQLAlchemy's many-to-many step, which reads the keys of both objects of an association
/// row from their loaded state once every table's rows are saved: a persistent one whose
/// primary key is expired has its expired attributes loaded there (a row gone raises
/// `ObjectDeletedError` after the INSERTs and UPDATEs, and the keys they copied, are done).
fn load_expired_association_objects(session: &SessionCore, plan: &Plan) -> Result<()> {
    // (the members of a deleted object's many-to-many collection are read before the saves,
    // `delete_associations_of_deleted`)
    let rows = plan
        .assoc_insert
        .iter()
        .chain(plan.assoc_delete.iter())
        .flat_map(|row| row.values.iter().map(|(_, o, _)| o));
    for o in rows {
        if key_expired_in_flush(o) && session.owns(o) {
            session.load_expired(o)?;
        }
    }
    Ok(())
}

/// A persistent object the flush does not delete whose primary key is expired: reading
/// its key loads it.
fn key_expired_in_flush(i: &Rc<Instance>) -> bool {
    let st = i.state();
    st.status == Status::Persistent
        && !st.marked_deleted()
        && i.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
}

/// `refuse_expired_key` for the rows of one table's save: SQLAlchemy's save_obj takes its
/// connection before it reads their keys (seed 18: `after_begin` before the refusal).
fn refuse_expired_keys<R: std::borrow::Borrow<Rc<Instance>>>(
    conn: &LazyConn,
    rows: &[R],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    conn.get()?;
    rows.iter().try_for_each(|r| refuse_expired_key(r.borrow()))
}

/// A pending object that a rollback made transient while its primary key was expired
/// still has its other expired attributes unloaded and no key to load them from: as
/// SQLAlchemy, its INSERT is refused rather than written with NULLs.
fn refuse_expired_key(inst: &Rc<Instance>) -> Result<()> {
    let st = inst.state();
    if st.key_expired() && inst.mapper.pk.iter().any(|&p| !st.loaded.contains(p)) {
        return Err(Error::new(
            ErrorKind::InvalidRequestError,
            format!(
                "cannot flush the {} instance: its attributes were expired before a rollback made \
                 it transient, and with no primary key they cannot be loaded; add a new object \
                 instead",
                inst.mapper.class_name
            ),
        ));
    }
    Ok(())
}

/// Applies the sync rules whose child is in `pick` to the children's foreign keys.
fn apply_rules(
    plan: &Plan,
    pick: &dyn Fn(&SyncRule) -> bool,
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    for rule in plan
        .rules
        .iter()
        .filter(|r| pick(r) && !plan.blocked.contains(&Rc::as_ptr(&r.child)))
    {
        apply_rule(rule, inserted, index, undo)?;
    }
    Ok(())
}

/// Applies one sync rule to its child's foreign key.
fn apply_rule(
    rule: &SyncRule,
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    for (n, &c) in rule.child_cols.iter().enumerate() {
        let v = match &rule.parent {
            None => Value::Null,
            Some((p, cols)) => value_after(p, cols[n], inserted, index)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::CircularDependencyError,
                    format!(
                        "Circular dependency detected: {} must be inserted before {} can point at it, and it points back; set post_update on one of the relationships",
                        p.describe(),
                        rule.child.describe()
                    ),
                )
            })?,
        };
        set_key_column(undo, &rule.child, c, v);
    }
    Ok(())
}

/// Copies the keys into the persistent rows of `table` and sends their UPDATEs, skipping
/// rows already updated and (unless `all`) rows whose new foreign key waits for a parent
/// this flush has not inserted yet; copies the keys into its pending rows that wait for
/// no parent as well.
#[allow(clippy::too_many_arguments)]
fn update_ready_rows(
    conn: &LazyConn,
    plan: &Plan,
    session: &SessionCore,
    table: &Rc<Table>,
    inserted: &[InsertOutcome],
    index: &Inserted,
    updated: &mut Vec<UpdateOutcome>,
    done: &mut FxHashSet<*const Instance>,
    undo: &mut Undo,
    all: bool,
) -> Result<()> {
    let waiting: FxHashSet<*const Instance> = if all {
        FxHashSet::default()
    } else {
        plan.rules
            .iter()
            .filter(|r| r.child.mapper.table.id == table.id && awaited_parent(r, index).is_some())
            .map(|r| Rc::as_ptr(&r.child))
            .collect()
    };
    let skip = |c: &Rc<Instance>| {
        done.contains(&Rc::as_ptr(c))
            || waiting.contains(&Rc::as_ptr(c))
            || plan.blocked.contains(&Rc::as_ptr(c))
    };
    // the keys of the rows to insert too (those whose parents are in): SQLAlchemy copies
    // every key of a mapper's rows before any of its statements, so a failed UPDATE leaves
    // them on the pending objects
    apply_rules(
        plan,
        &|r| {
            let c = &r.child;
            c.mapper.table.id == table.id
                && match c.status() {
                    Status::Deleted => false,
                    Status::Pending => !all && !waiting.contains(&Rc::as_ptr(c)),
                    _ => !skip(c),
                }
        },
        inserted,
        index,
        undo,
    )?;
    let mut rows: Vec<Rc<Instance>> = session
        .modified
        .borrow()
        .iter()
        .filter(|i| i.mapper.table.id == table.id && !skip(i))
        .cloned()
        .collect();
    in_key_order(&mut rows);
    if !rows.is_empty() {
        done.extend(rows.iter().map(Rc::as_ptr));
        let rows: Vec<&Rc<Instance>> = rows.iter().collect();
        update_with_events(conn, table, &rows, updated)?;
    }
    Ok(())
}

/// As SQLAlchemy's save_obj, which takes a mapper's persistent rows in primary key order
/// (`_sort_states`): their UPDATEs, events and the first to fail follow it (seed 10285).
fn in_key_order(rows: &mut [Rc<Instance>]) {
    rows.sort_by(|a, b| match (&a.state().key, &b.state().key) {
        (Some(x), Some(y)) => x.sort_cmp(y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    });
}

/// Whether the objects of `table` that this flush saves have a relationship to their own
/// mapper (SQLAlchemy flushes such a mapper state by state).
fn refers_to_itself(session: &SessionCore, table: &Table) -> bool {
    let new = session.new.borrow();
    let modified = session.modified.borrow();
    let Some(inst) = new
        .iter()
        .chain(modified.iter())
        .find(|i| i.mapper.table.id == table.id)
    else {
        return false;
    };
    let m = &inst.mapper;
    let self_ref = m
        .relationships
        .borrow()
        .iter()
        .any(|r| !r.viewonly && Rc::ptr_eq(&r.target(), m));
    self_ref
}

/// The pending parent a rule copies its key from, while this flush has not inserted it.
fn awaited_parent<'a>(rule: &'a SyncRule, index: &Inserted) -> Option<&'a Rc<Instance>> {
    rule.parent
        .as_ref()
        .map(|(p, _)| p)
        .filter(|p| p.status() == Status::Pending && !index.contains_key(&Rc::as_ptr(p)))
}

/// Whether a row of `table` waits for a pending parent of another table not inserted yet.
fn waits_on_other_tables(plan: &Plan, table: &Table, index: &Inserted) -> bool {
    plan.rules.iter().any(|r| {
        r.child.mapper.table.id == table.id
            && awaited_parent(r, index).is_some_and(|p| p.mapper.table.id != table.id)
    })
}

/// Copies the keys into `rows`, then INSERTs them, each object's outcome indexed.
fn insert_ready(
    conn: &LazyConn,
    plan: &Plan,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    inserted: &mut Vec<InsertOutcome>,
    index: &mut Inserted,
    undo: &mut Undo,
) -> Result<()> {
    apply_rules_to(plan, rows, inserted, index, undo)?;
    insert_indexed(conn, table, rows, inserted, index, undo)
}

/// INSERTs `rows`, their keys copied, each object's outcome indexed.
fn insert_indexed(
    conn: &LazyConn,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    inserted: &mut Vec<InsertOutcome>,
    index: &mut Inserted,
    undo: &mut Undo,
) -> Result<()> {
    // as SQLAlchemy's save_obj, which meets the unloadable key when it saves the mapper:
    // after the keys of earlier tables are in and copied into these rows
    refuse_expired_keys(conn, rows)?;
    let first = inserted.len();
    insert_with_events(conn, table, rows, inserted, undo)?;
    for (n, out) in inserted.iter().enumerate().skip(first) {
        index.insert(Rc::as_ptr(&out.inst), n);
    }
    Ok(())
}

/// `apply_rules` for the rules whose child is one of `rows`.
fn apply_rules_to(
    plan: &Plan,
    rows: &[&Rc<Instance>],
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    let set: FxHashSet<*const Instance> = rows.iter().map(|r| Rc::as_ptr(r)).collect();
    apply_rules(
        plan,
        &|r| set.contains(&Rc::as_ptr(&r.child)),
        inserted,
        index,
        undo,
    )
}

/// The rows of a self-referential table in the order of SQLAlchemy's per-state flush: its
/// topological sort runs in levels (every action whose predecessors are done), and a row's
/// save waits for the processing of its many-to-one (one level, once it references
/// anything; after the referenced row's save when that one is saved too) and for the
/// processing of its parent's one-to-many (after the parent's save). Each level sends its
/// UPDATEs, then its INSERTs in the order the objects were added.
struct StateLevels {
    /// The modified rows, then the new ones.
    rows: Vec<Rc<Instance>>,
    n_modified: usize,
    levels: Vec<usize>,
    /// Per rule of `plan.rules`: the level of the step that copies its key (the processing
    /// of the many-to-one of its row, or of the one-to-many of the row holding it), when
    /// that step is one of these rows'.
    copies: Vec<Option<usize>>,
}

impl StateLevels {
    fn top(&self) -> usize {
        self.levels.iter().copied().max().unwrap_or(0)
    }

    /// Copies the keys whose step is at level `l`: SQLAlchemy processes a row's many-to-one
    /// one level after the save of the row it references (or it replaced), and a row's
    /// one-to-many one level after that row's save, so a failure between that step and the
    /// save of the row the key goes into leaves the key copied.
    fn copy_level(
        &self,
        plan: &Plan,
        l: usize,
        inserted: &[InsertOutcome],
        index: &Inserted,
        undo: &mut Undo,
    ) -> Result<()> {
        let at: FxHashSet<*const SyncRule> = plan
            .rules
            .iter()
            .zip(&self.copies)
            .filter(|(_, c)| **c == Some(l))
            .map(|(r, _)| r as *const SyncRule)
            .collect();
        if at.is_empty() {
            return Ok(());
        }
        apply_rules(
            plan,
            &|r| at.contains(&(r as *const SyncRule)) && awaited_parent(r, index).is_none(),
            inserted,
            index,
            undo,
        )
    }

    /// Copies the keys of `rows` (again, for those a step copied already), in the order of
    /// the steps that copy them: a member one parent's collection lost and another's gained
    /// ends with the key of the later step (the new parent's key, or NULL when its has-parent
    /// flag let the old parent's step clear it after the new one's copy).
    fn apply_in_step_order(
        &self,
        plan: &Plan,
        rows: &[&Rc<Instance>],
        inserted: &[InsertOutcome],
        index: &Inserted,
        undo: &mut Undo,
    ) -> Result<()> {
        let set: FxHashSet<*const Instance> = rows.iter().map(|r| Rc::as_ptr(r)).collect();
        let mut picked: Vec<(usize, &SyncRule)> = plan
            .rules
            .iter()
            .zip(&self.copies)
            .filter(|(r, _)| {
                set.contains(&Rc::as_ptr(&r.child)) && !plan.blocked.contains(&Rc::as_ptr(&r.child))
            })
            .map(|(r, c)| (c.unwrap_or(0), r))
            .collect();
        picked.sort_by_key(|(l, _)| *l);
        for (_, rule) in picked {
            apply_rule(rule, inserted, index, undo)?;
        }
        Ok(())
    }

    /// Sends level `l`'s UPDATEs, then its INSERTs.
    #[allow(clippy::too_many_arguments)]
    fn save_level(
        &self,
        conn: &LazyConn,
        plan: &Plan,
        table: &Rc<Table>,
        l: usize,
        inserted: &mut Vec<InsertOutcome>,
        index: &mut Inserted,
        updated: &mut Vec<UpdateOutcome>,
        done: &mut FxHashSet<*const Instance>,
        undo: &mut Undo,
    ) -> Result<()> {
        let ups: Vec<&Rc<Instance>> = (0..self.n_modified)
            .filter(|&n| self.levels[n] == l)
            .map(|n| &self.rows[n])
            .collect();
        if !ups.is_empty() {
            self.apply_in_step_order(plan, &ups, inserted, index, undo)?;
            done.extend(ups.iter().map(|r| Rc::as_ptr(r)));
            update_with_events(conn, table, &ups, updated)?;
        }
        let ins: Vec<&Rc<Instance>> = (self.n_modified..self.rows.len())
            .filter(|&n| self.levels[n] == l)
            .map(|n| &self.rows[n])
            .collect();
        if !ins.is_empty() {
            self.apply_in_step_order(plan, &ins, inserted, index, undo)?;
            insert_indexed(conn, table, &ins, inserted, index, undo)?;
        }
        Ok(())
    }
}

/// The `StateLevels` of the rows of `table` this flush saves (`new`, and the modified
/// rows not `done`).
fn state_levels(
    plan: &Plan,
    session: &SessionCore,
    table: &Rc<Table>,
    new: &[&Rc<Instance>],
    done: &FxHashSet<*const Instance>,
) -> StateLevels {
    // (an object whose deletion the flush cancelled is saved too, modified or not: a
    // state of SQLAlchemy's per-state sort like the others)
    let saved = |i: &Rc<Instance>| {
        i.mapper.table.id == table.id
            && !i.state().marked_deleted()
            && !done.contains(&Rc::as_ptr(i))
            && !plan.blocked.contains(&Rc::as_ptr(i))
    };
    let mut modified: Vec<Rc<Instance>> = session
        .modified
        .borrow()
        .iter()
        .filter(|i| saved(i))
        .cloned()
        .collect();
    for c in &plan.cancelled_deletes {
        if c.status() == Status::Persistent
            && saved(c)
            && !modified.iter().any(|m| Rc::ptr_eq(m, c))
        {
            modified.push(c.clone());
        }
    }
    // a saved member of a one-to-many of this flush: SQLAlchemy's step for the owner's
    // collection registers it, a state of the per-state sort whose UPDATE the rows that
    // reference it wait for, changed or not before the flush (seed 507)
    for rule in &plan.rules {
        let c = &rule.child;
        if rule.one_to_many_of.is_some()
            && c.status() == Status::Persistent
            && session.owns(c)
            && saved(c)
            && !modified.iter().any(|m| Rc::ptr_eq(m, c))
        {
            modified.push(c.clone());
        }
    }
    let rows: Vec<&Rc<Instance>> = modified.iter().chain(new.iter().copied()).collect();
    let at: FxHashMap<*const Instance, usize> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| (Rc::as_ptr(r), n))
        .collect();
    // per row: the rows of this flush it references (many-to-one), whether it references
    // anything, and the rows of this flush whose collection holds it (one-to-many)
    let mut refs: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut references: Vec<bool> = vec![false; rows.len()];
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for (n, r) in rows.iter().enumerate() {
        let m = &r.mapper;
        for rel in m.relationships.borrow().iter() {
            if rel.viewonly || !Rc::ptr_eq(&rel.target(), m) {
                continue;
            }
            match r.rel_state(rel.index) {
                // loaded, even as None: SQLAlchemy's get_all_pending is not empty, so the
                // row's save waits for the processing of its many-to-one, which waits for
                // the saves of the row it references and of the row it replaced
                RelState::Scalar(sc) if rel.direction == Direction::ManyToOne => {
                    references[n] = true;
                    let replaced = sc
                        .replaced
                        .filter(|o| !sc.value.as_ref().is_some_and(|v| Rc::ptr_eq(v, o)));
                    for t in sc.value.iter().chain(replaced.iter()) {
                        if let Some(&k) = at.get(&Rc::as_ptr(t)) {
                            refs[n].push(k);
                        }
                    }
                }
                RelState::Collection(c) if rel.direction == Direction::OneToMany => {
                    for x in c.items.iter().chain(c.removed.iter()) {
                        if let Some(&k) = at.get(&Rc::as_ptr(x)) {
                            holders[k].push(n);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // longest path from a source, as the sort's levels; a cycle (refused before any SQL by
    // row_cycles for the rows that matter) stops the walk
    fn level(
        n: usize,
        refs: &[Vec<usize>],
        references: &[bool],
        holders: &[Vec<usize>],
        memo: &mut [Option<usize>],
        visiting: &mut [bool],
    ) -> usize {
        if let Some(l) = memo[n] {
            return l;
        }
        if visiting[n] {
            return 0;
        }
        visiting[n] = true;
        let mut l = 0;
        if references[n] {
            let process = refs[n]
                .iter()
                .map(|&t| level(t, refs, references, holders, memo, visiting) + 1)
                .max()
                .unwrap_or(0);
            l = l.max(process + 1);
        }
        for &p in &holders[n] {
            l = l.max(level(p, refs, references, holders, memo, visiting) + 2);
        }
        visiting[n] = false;
        memo[n] = Some(l);
        l
    }
    let mut memo = vec![None; rows.len()];
    let mut visiting = vec![false; rows.len()];
    let levels: Vec<usize> = (0..rows.len())
        .map(|n| level(n, &refs, &references, &holders, &mut memo, &mut visiting))
        .collect();
    // the level of each rule's step: a one-to-many's one level after its owner's save, a
    // many-to-one's one level after the latest save of the rows it references
    let copies: Vec<Option<usize>> = plan
        .rules
        .iter()
        .map(|rule| {
            let child = *at.get(&Rc::as_ptr(&rule.child))?;
            match &rule.one_to_many_of {
                Some(owner) => at.get(&Rc::as_ptr(owner)).map(|&k| levels[k] + 1),
                // (a many-to-one of this table: its key columns are the rule's)
                None if references[child] && self_m2o_cols(&rule.child, &rule.child_cols) => Some(
                    refs[child]
                        .iter()
                        .map(|&k| levels[k] + 1)
                        .max()
                        .unwrap_or(0),
                ),
                None => None,
            }
        })
        .collect();
    let n_modified = modified.len();
    let rows: Vec<Rc<Instance>> = rows.into_iter().cloned().collect();
    StateLevels {
        rows,
        n_modified,
        levels,
        copies,
    }
}

/// The level of a table's saves in SQLAlchemy's sort: twice its depth (after the saves of
/// the tables it references and the processing of their relationships); at least 1 for a
/// table whose many-to-many relationship is processed by this flush (the step deleting
/// association rows comes before the saves of both sides).
fn save_level(
    session: &SessionCore,
    plan: &Plan,
    order: &[Rc<Table>],
    table: &Table,
    d: usize,
) -> usize {
    if d > 0 {
        return 2 * d;
    }
    let Some(mapper) = flushed_mapper(session, table.id) else {
        return 0;
    };
    // rows of a table the flush saves or deletes (SQLAlchemy's mappers of the unit of work):
    // not a table in `order` only for the keys copied into members outside the session
    let in_flush = |table: &Table| {
        flushed_mapper(session, table.id).is_some()
            || plan
                .rules
                .iter()
                .any(|r| r.child.mapper.table.id == table.id && session.owns(&r.child))
    };
    // a flushed object of this table whose collection `r` changed, members outside the
    // session included (SQLAlchemy's prop_has_changes reads the history, pending changes too)
    let has_history = |r: &crate::orm::relationships::Relationship| {
        let (new, modified) = (session.new.borrow(), session.modified.borrow());
        new.iter().chain(modified.iter()).any(|i| {
            i.mapper.table.id == mapper.table.id
                && matches!(
                    i.rel_state(r.index),
                    RelState::Collection(c) | RelState::Pending(c)
                        if !c.added.is_empty() || !c.removed.is_empty()
                )
        })
    };
    let rels = mapper.relationships.borrow();
    // as SQLAlchemy's prop_has_changes: rows of the other side in the flush, or association
    // rows of this relationship to write
    let many_to_many = rels.iter().any(|r| {
        !r.viewonly
            && r.direction == Direction::ManyToMany
            && ((order.iter().any(|t| t.id == r.target().table.id) && in_flush(&r.target().table))
                || r.secondary.as_ref().is_some_and(|sec| {
                    plan.assoc_insert
                        .iter()
                        .chain(plan.assoc_delete.iter())
                        .any(|row| row.table.id == sec.id)
                })
                || has_history(r))
    });
    usize::from(many_to_many)
}

/// The mapper of an object of table `table_id` the flush saves or deletes, if there is one.
fn flushed_mapper(session: &SessionCore, table_id: u32) -> Option<Rc<super::Mapper>> {
    let (new, modified, deleted) = (
        session.new.borrow(),
        session.modified.borrow(),
        session.deleted.borrow(),
    );
    new.iter()
        .chain(modified.iter())
        .chain(deleted.iter())
        .find(|i| i.mapper.table.id == table_id)
        .map(|i| i.mapper.clone())
}

/// Copies the keys of the rows of `table` (of another table's rows this flush has saved or
/// that were saved before): SQLAlchemy's processing of the relationships to the tables it
/// references runs one level before the table's saves, so a failure of another table's
/// save in between leaves the keys copied.
fn copy_into_table(
    plan: &Plan,
    table: &Table,
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    let rows_of = |r: &SyncRule| {
        let st = r.child.state();
        r.child.mapper.table.id == table.id
            && matches!(st.status, Status::Pending | Status::Persistent)
            && !st.marked_deleted()
    };
    apply_rules(
        plan,
        &|r| {
            rows_of(r)
                && match &r.parent {
                    Some((p, _)) => {
                        p.mapper.table.id != table.id && awaited_parent(r, index).is_none()
                    }
                    None => !taken_by_another_parent(plan, r),
                }
        },
        inserted,
        index,
        undo,
    )
}

/// Whether `cols` are the key columns of a many-to-one of `inst`'s mapper to itself.
fn self_m2o_cols(inst: &Instance, cols: &[usize]) -> bool {
    let m = &inst.mapper;
    let rels = m.relationships.borrow();
    rels.iter().any(|r| {
        !r.viewonly
            && r.direction == Direction::ManyToOne
            && Rc::ptr_eq(&r.target(), m)
            && r.local == cols
    })
}

/// Inserts the pending rows in rounds, tables in dependency order: each round inserts
/// the rows whose pending parents are inserted already, so rows of a self-referential
/// table go in levels and tables that point at each other interleave when their rows do
/// not. Rows that wait on each other in a cycle raise (`post_update` breaks such cycles).
#[allow(clippy::too_many_arguments)]
fn insert_in_dependency_order(
    conn: &LazyConn,
    plan: &Plan,
    session: &SessionCore,
    new: &[Rc<Instance>],
    order: &[Rc<Table>],
    depths: &[usize],
    inserted: &mut Vec<InsertOutcome>,
    index: &mut Inserted,
    updated: &mut Vec<UpdateOutcome>,
    undo: &mut Undo,
) -> Result<()> {
    let mut remaining: Vec<Vec<&Rc<Instance>>> = order
        .iter()
        .map(|t| new.iter().filter(|i| i.mapper.table.id == t.id).collect())
        .collect();
    // the rows already updated (each row's UPDATE goes once)
    let mut done_updates: FxHashSet<*const Instance> = FxHashSet::default();
    let mut first_round = true;
    // the first round in the levels of SQLAlchemy's sort: a table's saves at twice its depth
    // (after its parents' saves and the processing of their relationships), the rows of a
    // self-referential table of depth 0 at their per-state levels, so that another table's
    // statements go between them as in SQLAlchemy; each level in table order
    let levelled: Vec<Option<StateLevels>> = order
        .iter()
        .zip(depths)
        .enumerate()
        .map(|(t, (table, &d))| {
            (d == 0
                && refers_to_itself(session, table)
                && !waits_on_other_tables(plan, table, index))
            .then(|| state_levels(plan, session, table, &remaining[t], &done_updates))
        })
        .collect();
    // (level, step, table, per-state level): in each level the steps that copy keys (the
    // processing of relationships, SQLAlchemy's ProcessAll / ProcessState) before the saves
    // (its sort key orders ProcessAll before SaveUpdateAll); a table's keys are copied one
    // level after the saves of the tables it references
    const COPY: usize = 0;
    const SAVE: usize = 1;
    let mut schedule: Vec<(usize, usize, usize, Option<usize>)> = Vec::new();
    for (t, &d) in depths.iter().enumerate() {
        match &levelled[t] {
            Some(sl) => {
                for l in 0..=sl.top() {
                    schedule.push((l, COPY, t, Some(l)));
                    schedule.push((l, SAVE, t, Some(l)));
                }
            }
            None => {
                if d > 0 {
                    schedule.push((2 * d - 1, COPY, t, None));
                }
                schedule.push((
                    save_level(session, plan, order, &order[t], d),
                    SAVE,
                    t,
                    None,
                ));
            }
        }
    }
    schedule.sort_by_key(|&(l, step, t, _)| (l, step, t));
    while first_round || remaining.iter().any(|r| !r.is_empty()) {
        let mut progress = false;
        let steps: Vec<(usize, usize, Option<usize>)> = if first_round {
            schedule
                .iter()
                .map(|&(_, step, t, l)| (step, t, l))
                .collect()
        } else {
            (0..order.len()).map(|t| (SAVE, t, None)).collect()
        };
        for (step, t, state_level) in steps {
            let table = &order[t];
            if step == COPY {
                match (&levelled[t], state_level) {
                    (Some(sl), Some(l)) => sl.copy_level(plan, l, inserted, index, undo)?,
                    _ => {
                        // the members outside the session too: the same step of SQLAlchemy's
                        // (the processing of the owner's one-to-many) copies into them, so
                        // a failure of a save of that level keeps their keys (seeds 951, 771);
                        // after the rows of the session (the many-to-one's processing
                        // sorts first: a failure to read an owner's expired key there
                        // leaves the keys of the session's rows copied, seed 4305)
                        copy_into_table(plan, table, inserted, index, undo)?;
                        sync_outside_session_into(session, plan, table, inserted, index)?;
                    }
                }
                continue;
            }
            // (a table with no copying step of its own: at its saves)
            if first_round
                && state_level.unwrap_or(0) == 0
                && (levelled[t].is_some() || depths[t] == 0)
            {
                sync_outside_session_into(session, plan, table, inserted, index)?;
            }
            if let (true, Some(l)) = (first_round, state_level) {
                if l == 0 {
                    progress |= !std::mem::take(&mut remaining[t]).is_empty();
                }
                if let Some(sl) = &levelled[t] {
                    sl.save_level(
                        conn,
                        plan,
                        table,
                        l,
                        inserted,
                        index,
                        updated,
                        &mut done_updates,
                        undo,
                    )?;
                }
                continue;
            }
            // as SQLAlchemy's save_obj, whose organizing of the mapper's states reads each
            // pending object's key before any statement of the table: a key a rollback left
            // expired is refused before the table's UPDATEs too (seed 1082)
            refuse_expired_keys(conn, &remaining[t])?;
            // as SQLAlchemy's save_obj: a table's UPDATEs go before its INSERTs (an old row
            // gives up a unique key the new one takes), except rows whose new foreign key
            // waits for a parent not inserted yet
            update_ready_rows(
                conn,
                plan,
                session,
                table,
                inserted,
                index,
                updated,
                &mut done_updates,
                undo,
                false,
            )?;
            if remaining[t].is_empty() {
                continue;
            }
            loop {
                let waiting: FxHashSet<*const Instance> = plan
                    .rules
                    .iter()
                    .filter(|r| awaited_parent(r, index).is_some())
                    .map(|r| Rc::as_ptr(&r.child))
                    .collect();
                let (ready, rest): (Vec<&Rc<Instance>>, Vec<&Rc<Instance>>) = remaining[t]
                    .iter()
                    .partition(|i| !waiting.contains(&Rc::as_ptr(i)));
                if ready.is_empty() {
                    break;
                }
                progress = true;
                insert_ready(conn, plan, table, &ready, inserted, index, undo)?;
                let done = rest.is_empty();
                remaining[t] = rest;
                if done {
                    break;
                }
            }
        }
        if std::mem::take(&mut first_round) && !remaining.iter().any(|r| !r.is_empty()) {
            break;
        }
        if !progress {
            let (t, rest) = remaining
                .iter()
                .enumerate()
                .find(|(_, r)| !r.is_empty())
                .expect("rows remain");
            let stuck = rest[0];
            let awaited = plan
                .rules
                .iter()
                .filter(|r| Rc::ptr_eq(&r.child, stuck))
                .find_map(|r| r.parent.as_ref().map(|(p, _)| p.clone()))
                .map(|p| format!(" {} in table '{}',", p.describe(), p.mapper.table.name))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::CircularDependencyError,
                format!(
                    "Circular dependency detected: {} in table '{}' waits for{} which waits in turn ({} row(s) of '{}' cannot be inserted first); set post_update on one of the relationships",
                    stuck.describe(),
                    order[t].name,
                    awaited,
                    rest.len(),
                    order[t].name
                ),
            ));
        }
    }
    // the rows that waited for a parent: their keys now, then their UPDATEs
    for table in order {
        update_ready_rows(
            conn,
            plan,
            session,
            table,
            inserted,
            index,
            updated,
            &mut done_updates,
            undo,
            true,
        )?;
    }
    Ok(())
}

/// The deleted rows of a self-referential table in an order the foreign keys allow: rows
/// no other remaining row points at first (children before their parents).
fn delete_order<'a>(table: &Table, rows: Vec<&'a Rc<Instance>>) -> Result<Vec<&'a Rc<Instance>>> {
    // (referencing column, referenced column) of the table's foreign keys to itself
    let links: Vec<(usize, usize)> = table
        .columns
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.foreign_keys.iter().filter_map(move |fk| {
                let (t, col) = fk.target_parts();
                (t == table.name).then(|| table.column_index(col).map(|j| (i, j)))?
            })
        })
        .collect();
    if links.is_empty() || rows.len() < 2 {
        return Ok(rows);
    }
    let mut values: Vec<Vec<Value>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = Vec::with_capacity(links.len() * 2);
        for &(a, b) in &links {
            SessionCore::ensure_loaded(r, a)?;
            SessionCore::ensure_loaded(r, b)?;
            let st = r.state();
            v.push(st.values[a].clone());
            v.push(st.values[b].clone());
        }
        values.push(v);
    }
    let mut remaining: Vec<usize> = (0..rows.len()).collect();
    let mut out = Vec::with_capacity(rows.len());
    while !remaining.is_empty() {
        let referenced = |r: usize| {
            remaining.iter().any(|&x| {
                x != r
                    && (0..links.len()).any(|k| {
                        let fk = &values[x][2 * k];
                        !fk.is_null() && *fk == values[r][2 * k + 1]
                    })
            })
        };
        let (free, held): (Vec<usize>, Vec<usize>) =
            remaining.iter().partition(|&&r| !referenced(r));
        if free.is_empty() {
            // rows pointing at each other: leave them to the database to judge
            out.extend(held.iter().map(|&r| rows[r]));
            break;
        }
        out.extend(free.iter().map(|&r| rows[r]));
        remaining = held;
    }
    Ok(out)
}

/// Sends every statement of the flush; changes nothing on the objects but foreign keys
/// (recorded in `undo`).
fn write(
    session: &SessionCore,
    conn: &LazyConn,
    plan: &Plan,
    undo: &mut Undo,
) -> Result<(Vec<InsertOutcome>, Vec<UpdateOutcome>)> {
    let mut inserted: Vec<InsertOutcome> = Vec::new();
    let mut updated: Vec<UpdateOutcome> = Vec::new();
    match write_into(session, conn, plan, undo, &mut inserted, &mut updated) {
        Ok(()) => Ok((inserted, updated)),
        Err(e) => {
            // the rows this flush inserted with a key the database generated: SQLAlchemy
            // has set it on them, so the rollback clears it (BEHAVIOUR 1) and an object
            // that copied it holds a stale copy (`resync_cleared_keys`)
            undo.generated = inserted
                .into_iter()
                .filter(|o| o.generated.is_some())
                .map(|o| o.inst)
                .collect();
            Err(e)
        }
    }
}

/// `write`'s steps, the outcomes gathered in `inserted` and `updated`.
fn write_into(
    session: &SessionCore,
    conn: &LazyConn,
    plan: &Plan,
    undo: &mut Undo,
    inserted: &mut Vec<InsertOutcome>,
    updated: &mut Vec<UpdateOutcome>,
) -> Result<()> {
    let unblocked = |i: &&Rc<Instance>| !plan.blocked.contains(&Rc::as_ptr(i));
    let new: Vec<Rc<Instance>> = session
        .new
        .borrow()
        .iter()
        .filter(unblocked)
        .cloned()
        .collect();
    let deleted: Vec<Rc<Instance>> = session
        .deleted
        .borrow()
        .iter()
        .filter(unblocked)
        .cloned()
        .collect();

    let mut tables: Vec<Rc<Table>> = Vec::new();
    let mut mappers: Vec<Rc<super::Mapper>> = Vec::new();
    for inst in new
        .iter()
        .chain(&deleted)
        .chain(session.modified.borrow().iter())
        .chain(plan.rules.iter().map(|r| &r.child))
    {
        if !tables.iter().any(|t| t.id == inst.mapper.table.id) {
            tables.push(inst.mapper.table.clone());
        }
        if !mappers.iter().any(|m| m.id == inst.mapper.id) {
            mappers.push(inst.mapper.clone());
        }
    }
    // a loaded many-to-one of a flushed object puts its target's save step in SQLAlchemy's
    // sort even when no object of the target is flushed (its prop_has_changes holds for any
    // loaded value): the table's rows then come a level later, which orders them after
    // another table's rows of the first level (seeds 1664, 1042)
    // (a mapper whose many-to-ones all target tables already there is not looked at again)
    let mut settled: Vec<u32> = Vec::new();
    for inst in new.iter().chain(session.modified.borrow().iter()) {
        if settled.contains(&inst.mapper.id) {
            continue;
        }
        let rels = inst.mapper.relationships.borrow();
        let mut open = false;
        for rel in rels.iter() {
            if rel.viewonly || rel.direction != Direction::ManyToOne {
                continue;
            }
            let target = rel.target();
            if tables.iter().any(|t| t.id == target.table.id) {
                continue;
            }
            if matches!(inst.rel_state(rel.index), RelState::Scalar(_)) {
                tables.push(target.table.clone());
                mappers.push(target);
            } else {
                open = true;
            }
        }
        if !open {
            settled.push(inst.mapper.id);
        }
    }
    let skip = post_update_edges(&mappers);
    let order = in_levels(sort_by_dependency(&tables, &skip), &mappers, &skip);
    let depths = flush_depths(&order, &mappers, &skip);

    inserted.reserve(new.len());
    let mut index: Inserted = Inserted::default();
    // foreign keys to copy or association rows to write need the inserted objects by address
    // and a self-referential table's rows go in the levels of SQLAlchemy's per-state sort
    // even when no key is copied (a reference to an object of another session delays the
    // row's save all the same)
    let tracking = plan.has_work() || order.iter().any(|t| refers_to_itself(session, t));
    let mut seen = SeenRows::default();
    delete_associations_of_deleted(session, conn, plan, &mut seen)?;
    if tracking {
        // SQLAlchemy's flush of a self-referential mapper goes state by state: a pending
        // row's many-to-one to a saved row with no changes of its own is processed in one
        // of the first levels, before the saves of a mapper that depends on another, so a
        // failure there leaves the key copied
        let unchanged = |p: &Rc<Instance>| {
            let st = p.state();
            // (one whose relationship changed, a backref's append included, is in the flush
            // as SQLAlchemy's modified states are: its row's save comes first)
            st.status == Status::Persistent
                && st.committed.is_empty()
                && !st.marked_deleted()
                && !st.rels_changed()
                && !st.has_pending_collection()
        };
        apply_rules(
            plan,
            &|r| {
                r.child.status() == Status::Pending
                    && r.parent.as_ref().is_some_and(|(p, _)| {
                        p.mapper.table.id == r.child.mapper.table.id && unchanged(p)
                    })
            },
            inserted,
            &index,
            undo,
        )?;
        insert_in_dependency_order(
            conn, plan, session, &new, &order, &depths, inserted, &mut index, updated, undo,
        )?;
    } else {
        // no relationship work: as SQLAlchemy's save_obj, a table's UPDATEs go before its
        // INSERTs (an old row gives up a unique key the new one takes), table by table
        for table in &order {
            let rows: Vec<&Rc<Instance>> = new
                .iter()
                .filter(|i| i.mapper.table.id == table.id)
                .collect();
            let mut modified: Vec<Rc<Instance>> = session
                .modified
                .borrow()
                .iter()
                .filter(|i| i.mapper.table.id == table.id)
                .cloned()
                .collect();
            in_key_order(&mut modified);
            // SQLAlchemy's save_obj reads the pending objects' keys first (seed 1082)
            refuse_expired_keys(conn, &rows)?;
            if !modified.is_empty() {
                let rows: Vec<&Rc<Instance>> = modified.iter().collect();
                update_with_events(conn, table, &rows, updated)?;
            }
            if !rows.is_empty() {
                insert_with_events(conn, table, &rows, inserted, undo)?;
            }
        }
    }
    post_update(conn, plan, inserted, &index, undo)?;
    load_expired_association_objects(session, plan)?;
    write_associations(conn, plan, inserted, &index, &mut seen)?;
    unlink_post_updated(conn, &deleted)?;
    // a table whose saves a cycle holds up deletes nothing: SQLAlchemy keeps a mapper's
    // saves before its deletes (each state's save before the mapper's deletes, in a
    // cycle), so its sort raises before them (seed 6563)
    let held_up: FxHashSet<u32> = if plan.blocked.is_empty() {
        FxHashSet::default()
    } else {
        session
            .new
            .borrow()
            .iter()
            .chain(session.modified.borrow().iter())
            .filter(|i| plan.blocked.contains(&Rc::as_ptr(i)))
            .map(|i| i.mapper.table.id)
            .collect()
    };
    for table in order.iter().rev() {
        if held_up.contains(&table.id) {
            continue;
        }
        let rows: Vec<&Rc<Instance>> = deleted
            .iter()
            // (a deleted object a delete cascade attached again is deleted again)
            .filter(|i| {
                i.mapper.table.id == table.id
                    && matches!(i.status(), Status::Persistent | Status::Deleted)
            })
            .collect();
        let rows = delete_order(table, rows)?;
        if !rows.is_empty() {
            delete_with_events(conn, table, &rows)?;
        }
    }
    copy_into_held_up_rows(plan, inserted, &index, undo)?;
    Ok(())
}

/// The keys copied into (or cleared from) the rows a cycle holds up by the steps that do
/// not wait for those rows' saves, which never come: a one-to-many of an object the cycle
/// does not hold up copies its key once that object's row is saved, and a held-up row's own
/// many-to-one step runs once the rows it references (now and before the change) are saved
/// (SQLAlchemy's per-state step of the many-to-one precedes the row's save: setting it to
/// `nil` clears the key at once, seed 1135).
fn copy_into_held_up_rows(
    plan: &Plan,
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    if plan.blocked.is_empty() {
        return Ok(());
    }
    let held = |i: &Rc<Instance>| plan.blocked.contains(&Rc::as_ptr(i));
    for rule in &plan.rules {
        let waits = match &rule.one_to_many_of {
            Some(owner) => held(owner),
            None => m2o_waits_on(rule, &held),
        };
        if !held(&rule.child) || waits {
            continue;
        }
        if taken_by_another_parent(plan, rule) {
            continue;
        }
        for (n, &c) in rule.child_cols.iter().enumerate() {
            let v = match &rule.parent {
                None => Value::Null,
                Some((p, cols)) => match value_after(p, cols[n], inserted, index)? {
                    Some(v) => v,
                    None => continue,
                },
            };
            set_key_column(undo, &rule.child, c, v);
        }
    }
    Ok(())
}

/// Whether the many-to-one step a rule of a row's own many-to-one stands for waits for a
/// row `held` says is never saved: the object it references, or the one it referenced before
/// the change (SQLAlchemy's per-state step orders itself after the saves of both).
fn m2o_waits_on(rule: &SyncRule, held: &dyn Fn(&Rc<Instance>) -> bool) -> bool {
    if rule.parent.as_ref().is_some_and(|(p, _)| held(p)) {
        return true;
    }
    let rels = rule.child.mapper.relationships.borrow();
    let Some(rel) = rels
        .iter()
        .find(|r| r.direction == Direction::ManyToOne && r.local == rule.child_cols)
    else {
        return false;
    };
    match rule.child.rel_state(rel.index) {
        RelState::Scalar(s) => s
            .replaced
            .as_ref()
            .is_some_and(|r| held(r) && !r.state().marked_deleted()),
        _ => false,
    }
}

/// A rule clearing the key of a member a collection lost while another rule gives it
/// another parent's key (its has-parent flag unknown after an expiry, or false): outside a
/// tree the new parent's step is taken to come last (SQLAlchemy's order of the states of
/// one step is that of a set).
fn taken_by_another_parent(plan: &Plan, rule: &SyncRule) -> bool {
    rule.parent.is_none()
        && plan.rules.iter().any(|r| {
            r.parent.is_some()
                && Rc::ptr_eq(&r.child, &rule.child)
                && r.child_cols.iter().any(|c| rule.child_cols.contains(c))
        })
}

/// Sets key column `c` of `child` to `v` unless it holds `v` already, recording the old
/// state so that a failed flush can put it back.
fn set_key_column(undo: &mut Undo, child: &Rc<Instance>, c: usize, v: Value) {
    let (old, loaded, had, never_set) = {
        let st = child.state();
        let had = st.committed.iter().any(|(a, _)| *a == c);
        (
            st.values[c].clone(),
            st.loaded.contains(c),
            had,
            !had && st.nulls_never_set.contains(c),
        )
    };
    // a NULL an INSERT left unset is not in SQLAlchemy's `__dict__`: its sync sets it, a
    // change the UPDATE writes (seed 781: the row is gone, StaleDataError)
    if loaded && old == v && !never_set {
        return;
    }
    undo.fks
        .push((child.clone(), c, old, loaded, had, never_set));
    child.set(c, v);
}

/// One prepared statement of an association table: (table, columns, SQL, rows).
type AssocBatch = (Rc<Table>, Vec<usize>, Compiled, Vec<Vec<Value>>);

/// The association rows a flush has deleted, by table and objects: a row both objects'
/// collections name is deleted once, as SQLAlchemy's steps of the two sides share what they
/// processed.
type SeenRows = FxHashSet<(u32, Vec<*const Instance>)>;

/// Records `row` in `seen`; false when it was there already.
fn first_time(seen: &mut SeenRows, row: &super::dependency::AssocRow) -> bool {
    let mut objs: Vec<*const Instance> = row.values.iter().map(|(_, o, _)| Rc::as_ptr(o)).collect();
    objs.sort();
    objs.dedup();
    seen.insert((row.table.id, objs))
}

/// The association rows of the objects the flush deletes, before any INSERT or UPDATE: as
/// SQLAlchemy's many-to-many step for deletions, which its dependencies put before the
/// saves of both mappers. One per member of the deleted object's collection, not one whose
/// DELETE an earlier flush sent nor one outside the session (that step leaves those). It reads each member's key as the member holds it then: an
/// expired one loads (a row gone raises `ObjectDeletedError` before any save), a pending
/// one not inserted yet has none (NULL, so its row matches nothing: `StaleDataError`, seed
/// 5870).
fn delete_associations_of_deleted(
    session: &SessionCore,
    conn: &LazyConn,
    plan: &Plan,
    seen: &mut SeenRows,
) -> Result<()> {
    // each row's keys as its objects hold them (a pending object not inserted: NULL)
    let none = Inserted::default();
    let values = |row: &super::dependency::AssocRow| -> Result<Vec<Value>> {
        row.values
            .iter()
            .map(|(_, inst, c)| {
                Ok(match value_after(inst, *c, &[], &none)? {
                    Some(v) => v,
                    None => inst.state().values[*c].clone(),
                })
            })
            .collect()
    };
    // first the rows a deleted (or left out) object's collection lost (a pending one's
    // key is NULL, so its row matches nothing: StaleDataError, as SQLAlchemy)
    if !plan.assoc_delete_early.is_empty() {
        let rows: Vec<&super::dependency::AssocRow> = plan
            .assoc_delete_early
            .iter()
            .filter(|row| first_time(seen, row))
            .collect();
        run_association_rows(conn, rows, true, &values)?;
    }
    if plan.assoc_delete_all.is_empty() {
        return Ok(());
    }
    for o in plan.assoc_delete_all.iter().flat_map(|a| a.members.iter()) {
        if key_expired_in_flush(o) && session.owns(o) {
            session.load_expired(o)?;
        }
    }
    let rows: Vec<&super::dependency::AssocRow> = plan
        .assoc_delete_all
        .iter()
        .flat_map(|a| {
            a.rows.iter().filter(|row| {
                row.values
                    .iter()
                    .all(|(_, o, _)| session.owns(o) && o.status() != Status::Deleted)
            })
        })
        .filter(|row| first_time(seen, row))
        .collect();
    run_association_rows(conn, rows, true, &values)
}

/// Rows of many-to-many association tables once every table's rows are saved: those removed
/// from saved objects' collections first, then those added.
fn write_associations(
    conn: &LazyConn,
    plan: &Plan,
    inserted: &[InsertOutcome],
    index: &Inserted,
    seen: &mut SeenRows,
) -> Result<()> {
    let values = |row: &super::dependency::AssocRow| -> Result<Vec<Value>> {
        row.values
            .iter()
            .map(|(_, inst, c)| {
                value_after(inst, *c, inserted, index)?
                    .ok_or_else(|| crate::invalid!("{} was not inserted", inst.describe()))
            })
            .collect()
    };
    let deletes: Vec<&super::dependency::AssocRow> = plan
        .assoc_delete
        .iter()
        .filter(|row| first_time(seen, row))
        .collect();
    run_association_rows(conn, deletes, true, &values)?;
    run_association_rows(conn, plan.assoc_insert.iter().collect(), false, &values)
}

/// Deletes or inserts association rows: one prepared statement per association table and
/// column list, run for all its rows.
fn run_association_rows(
    conn: &LazyConn,
    rows: Vec<&super::dependency::AssocRow>,
    delete: bool,
    values: &dyn Fn(&super::dependency::AssocRow) -> Result<Vec<Value>>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let condition = |table: &Rc<Table>, cols: &[usize]| -> Vec<Expr> {
        cols.iter()
            .enumerate()
            .map(|(n, &c)| Expr::binary(Expr::column(table, c), BinOp::Eq, Expr::Slot(n)))
            .collect()
    };
    let conn = conn.get()?;
    let dialect = conn.engine().dialect();
    let mut batches: Vec<AssocBatch> = Vec::new();
    for row in rows {
        let cols: Vec<usize> = row.values.iter().map(|v| v.0).collect();
        let n = match batches
            .iter()
            .position(|b| b.0.id == row.table.id && b.1 == cols)
        {
            Some(n) => n,
            None => {
                let stmt = if delete {
                    let mut d = Delete::new(&row.table);
                    d.where_ = condition(&row.table, &cols);
                    Statement::Delete(d)
                } else {
                    let mut ins = Insert::new(&row.table);
                    ins.values = cols
                        .iter()
                        .enumerate()
                        .map(|(n, &c)| (c, Expr::Slot(n)))
                        .collect();
                    Statement::Insert(ins)
                };
                batches.push((
                    row.table.clone(),
                    cols,
                    compile(&stmt, dialect)?,
                    Vec::new(),
                ));
                batches.len() - 1
            }
        };
        let params = batches[n].2.bind(&values(row)?, &|_| None)?;
        batches[n].3.push(params);
    }
    for (table, _, c, params) in &batches {
        // each DELETE must match its row: SQLAlchemy raises when the rows matched are
        // fewer than the rows it deleted (one the collection held that the table does
        // not, written by no flush or deleted elsewhere)
        let mut matched = 0;
        conn.execute_many(&c.sql, params, |_, _, changed| {
            matched += changed;
            Ok(())
        })?;
        if delete && matched != params.len() {
            return Err(stale_delete(table, params.len(), matched));
        }
    }
    Ok(())
}

/// Every statement succeeded: the outcome goes onto the objects and the session.
fn apply(
    session: &SessionCore,
    inserted: Vec<InsertOutcome>,
    updated: Vec<UpdateOutcome>,
) -> Result<()> {
    let deleted: Vec<Rc<Instance>> = session.deleted.borrow().clone();
    let weak = session.weak();
    let mut frames = session.frames.borrow_mut();
    let frame = frames.last_mut().expect("a flush runs in a transaction");
    // objects of the identity map whose key a new row took (SQLite gives a rolled-back id
    // again, and close() detached the object that had it with its key)
    let mut displaced: Vec<Rc<Instance>> = Vec::new();
    {
        let mut map = session.identity.borrow_mut();
        // room for the new rows' keys at once when the first row's key is one generated
        // integer (at most as many more entries as rows)
        if let Some(first) = inserted.first().filter(|o| o.generated.is_some()) {
            if inserted.len() > 1 && first.inst.mapper.pk.len() == 1 {
                map.reserve_ints(first.inst.mapper.ident_id, inserted.len());
            }
        }
        for out in inserted {
            let inst = out.inst;
            let mut st = inst.state_mut();
            let was_expired = st.attrs_expired();
            st.set_attrs_expired(false);
            st.set_key_cleared(false);
            st.set_orphaned_outside(false);
            for (i, v) in out.assigned {
                st.values[i] = v;
                st.loaded.insert(i);
            }
            if let Some((i, id)) = out.generated {
                st.values[i] = Value::Integer(id);
                st.loaded.insert(i);
                st.set_generated_key(true);
            }
            // Every column the INSERT sent is now known; what the database filled in is not.
            // An attribute expired before a rollback made the object transient, and not set
            // since, stays expired (SQLAlchemy's INSERT leaves its expired attributes so).
            let ncols = inst.mapper.attrs.len();
            // NULLs the program set (or the INSERT's defaults assigned) are in SQLAlchemy's
            // `__dict__`; the others it never set (seed 78: a column set to nil before the
            // INSERT, set to nil again after it, is no change)
            let set_before = st.loaded.clone();
            let still_expired: Vec<usize> = if was_expired {
                (0..ncols).filter(|&i| !st.loaded.contains(i)).collect()
            } else {
                Vec::new()
            };
            for i in 0..ncols {
                st.loaded.insert(i);
            }
            for i in still_expired {
                st.loaded.remove(i);
            }
            let nulls: Vec<usize> = (0..st.values.len())
                .filter(|&i| {
                    st.values[i].is_null()
                        && (!set_before.contains(i) || st.nulls_never_set.contains(i))
                })
                .collect();
            st.nulls_never_set.clear();
            for i in nulls {
                st.nulls_never_set.insert(i);
            }
            for i in out.expire {
                st.loaded.remove(i);
            }
            // a one-column key (the common case) is read in place: no vector per row
            let pk_many: Vec<Value>;
            let pk: &[Value] = match inst.mapper.pk.as_slice() {
                [i] => std::slice::from_ref(&st.values[*i]),
                cols => {
                    pk_many = cols.iter().map(|&i| st.values[i].clone()).collect();
                    &pk_many
                }
            };
            let key = IdentityKey::new(inst.mapper.ident_id, pk).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidRequestError,
                    format!(
                        "Instance {} has a NULL identity key after flush",
                        inst.mapper.class_name
                    ),
                )
            })?;
            st.key = Some(key.clone());
            st.status = Status::Persistent;
            st.committed.clear();
            st.session = Some(weak.clone());
            drop(st);
            if let Some(old) = map.insert(key, inst.clone()) {
                // (one this flush deletes leaves as deleted, below)
                if !Rc::ptr_eq(&old, &inst) && !old.state().marked_deleted() {
                    displaced.push(old);
                }
            }
            frame.inserted.push(inst);
        }
        for inst in &deleted {
            let key = inst.state().key.clone();
            if let Some(k) = key {
                if map.get(&k).is_some_and(|o| Rc::ptr_eq(o, inst)) {
                    map.remove(&k);
                }
            }
            let mut st = inst.state_mut();
            st.status = Status::Deleted;
            // SQLAlchemy's flush leaves the modified flag of the states it deletes as it was
            let modified = st.queued_modified() || st.has_changes();
            st.set_changed_while_deleted(modified);
            st.set_was_deleted(true);
            st.set_marked_deleted(false);
            drop(st);
            frame.deleted.push(inst.clone());
        }
    }
    for out in &updated {
        frame.updated.push(out.inst.clone());
        if out.new_key.is_some() {
            if let Some(k) = out.inst.state().key.clone() {
                frame.rekeyed.push((out.inst.clone(), k));
            }
        }
    }
    drop(frames);
    for out in updated {
        let mut st = out.inst.state_mut();
        for (i, v) in out.assigned {
            st.values[i] = v;
        }
        for i in out.expire {
            st.loaded.remove(i);
        }
        if let Some(new_key) = out.new_key {
            let old = st.key.replace(new_key.clone());
            drop(st);
            let mut map = session.identity.borrow_mut();
            if let Some(k) = old {
                map.remove(&k);
            }
            map.insert(new_key, out.inst.clone());
        }
    }
    for inst in session.modified.borrow_mut().drain(..) {
        let mut st = inst.state_mut();
        st.committed.clear();
        st.set_queued_modified(false);
        // registered by the flush (SQLAlchemy's _register_persistent clears the mark for
        // every saved state, seed 1415)
        if st.status == Status::Persistent && !st.marked_deleted() {
            st.set_orphaned_outside(false);
        }
        // the changes of a collection not loaded are written (or, for members outside the
        // session, dropped): it loads from the rows from now on, as SQLAlchemy's commit of
        // the state discards its pending mutations
        if let Some(rels) = st.rels.as_mut() {
            for r in rels.iter_mut() {
                if matches!(r, RelState::Pending(_)) {
                    *r = RelState::Unloaded;
                }
            }
        }
    }
    session.new.borrow_mut().clear();
    session.deleted.borrow_mut().clear();
    // SQLAlchemy replaces such an object in the identity map with a warning and leaves it
    // half-attached (never flushed again); here it is detached, so that no UPDATE of it
    // reaches the row of the object that took its key (docs/BEHAVIOUR.md)
    for old in displaced {
        session.remove_everywhere(&old);
        old.detach();
    }
    Ok(())
}

struct InsertOutcome {
    inst: Rc<Instance>,
    /// Defaults computed for the row, to set on the object.
    assigned: Vec<(usize, Value)>,
    /// (autoincrement attribute, the rowid the database gave).
    generated: Option<(usize, i64)>,
    /// Attributes the database filled in (server defaults, SQL defaults): reloaded on access.
    expire: Vec<usize>,
}

struct UpdateOutcome {
    inst: Rc<Instance>,
    assigned: Vec<(usize, Value)>,
    expire: Vec<usize>,
    new_key: Option<IdentityKey>,
}

/// One batch: rows that share a statement.
struct Batch {
    shape: (AttrSet, AttrSet, *const Table),
    stmt: Rc<Insert>,
    sql: Compiled,
    /// The rows' values one after another, `width` each (one vector for the batch, not
    /// one per row).
    values: Vec<Value>,
    width: usize,
    outcomes: Vec<InsertOutcome>,
}

fn call_default(
    f: &ColumnDefault,
    table: &Table,
    col: usize,
    params: &[(String, Value)],
) -> Result<Option<Value>> {
    Ok(match f {
        ColumnDefault::Value(v) => Some(v.clone()),
        ColumnDefault::Callable(f) => Some(f.call(&DefaultContext {
            table: &table.name,
            column: &table.columns[col].name,
            params,
        })?),
        ColumnDefault::Sql(_) => None,
    })
}

fn insert_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<InsertOutcome>,
) -> Result<()> {
    if table.joined.is_some() {
        return joined::insert_rows(conn, table, rows, out);
    }
    let dialect = conn.engine().dialect();
    // No column has a default: every row sends all of its columns but a generated key.
    let plain_of = |t: &Table| {
        t.columns
            .iter()
            .all(|c| c.default.is_none() && c.server_default.is_none())
    };
    let group = table;
    let group_plain = plain_of(group);
    let mut batches: Vec<Batch> = Vec::new();
    out.reserve(rows.len());
    for (n, inst) in rows.iter().enumerate() {
        let mapper = &inst.mapper;
        // the classes of a single-table hierarchy each write their own columns
        let table = &mapper.table;
        let ncols = table.columns.len();
        let plain = if Rc::ptr_eq(table, group) {
            group_plain
        } else {
            plain_of(table)
        };
        // (a plain row's values are copied from the object into its batch below)
        let (included, sql_default, row, assigned, expire) = if plain {
            let st = inst.state();
            let mut included = AttrSet::all(ncols);
            if let Some(a) = mapper.autoincrement {
                if !st.loaded.contains(a) || st.values[a].is_null() {
                    included.remove(a);
                }
            }
            (included, AttrSet::default(), None, Vec::new(), Vec::new())
        } else {
            let (included, sql_default, row, assigned, expire) = insert_values(inst, table)?;
            (included, sql_default, Some(row), assigned, expire)
        };
        let generated = (!included.contains(mapper.autoincrement.unwrap_or(usize::MAX)))
            .then_some(mapper.autoincrement)
            .flatten();
        let shape = (included, sql_default, Rc::as_ptr(table));
        // a run of rows of the same shape is one batch: rows are inserted in the order
        // they were added, so generated keys follow that order
        let idx = match batches.last().filter(|b| b.shape == shape) {
            Some(_) => batches.len() - 1,
            None => {
                let (stmt, sql) = match batches.iter().find(|b| b.shape == shape) {
                    Some(b) => (b.stmt.clone(), b.sql.clone()),
                    None => {
                        let mut ins = Insert::new(table);
                        let mut slot = 0;
                        for i in 0..ncols {
                            if shape.0.contains(i) {
                                ins.values.push((i, Expr::Slot(slot)));
                                slot += 1;
                            } else if shape.1.contains(i) {
                                if let Some(ColumnDefault::Sql(e)) = &table.columns[i].default {
                                    ins.values.push((i, e.clone()));
                                }
                            }
                        }
                        let stmt = Statement::Insert(ins);
                        let sql = compile(&stmt, dialect)?;
                        let Statement::Insert(ins) = stmt else {
                            unreachable!("built as an INSERT")
                        };
                        (Rc::new(ins), sql)
                    }
                };
                let width = shape.0.len();
                // the first batch has room for every row left (usually all of them are
                // one batch): growing it by doubling copied its values again and again
                let room = if batches.is_empty() {
                    rows.len() - n
                } else {
                    0
                };
                batches.push(Batch {
                    shape,
                    stmt,
                    sql,
                    values: Vec::with_capacity(room * width),
                    width,
                    outcomes: Vec::with_capacity(room),
                });
                batches.len() - 1
            }
        };
        let b = &mut batches[idx];
        match row {
            Some(row) => b.values.extend(row),
            None => {
                let st = inst.state();
                b.values
                    .extend(b.shape.0.iter().map(|i| st.values[i].clone()));
            }
        }
        b.outcomes.push(InsertOutcome {
            inst: (*inst).clone(),
            assigned,
            generated: generated.map(|g| (g, 0)),
            expire,
        });
    }
    for mut b in batches {
        let outcomes = &mut b.outcomes;
        let generated = outcomes.iter().find_map(|o| o.generated.map(|g| g.0));
        let rows: Vec<&[Value]> = if b.width == 0 {
            vec![&[]; outcomes.len()]
        } else {
            b.values.chunks(b.width).collect()
        };
        conn.insert_rows(&b.stmt, &b.sql, Rows::Slices(&rows), generated, |i, key| {
            if let (Some(g), Some(Value::Integer(k))) = (outcomes[i].generated.as_mut(), key) {
                g.1 = k;
            }
            Ok(())
        })?;
        out.append(&mut b.outcomes);
    }
    Ok(())
}

/// The columns an INSERT of `inst` sends, with client-side defaults computed: (columns
/// bound, columns given by SQL defaults, the bound values, defaults to set on the object,
/// attributes the database fills in).
#[allow(clippy::type_complexity)]
fn insert_values(
    inst: &Rc<Instance>,
    table: &Table,
) -> Result<(
    AttrSet,
    AttrSet,
    Vec<Value>,
    Vec<(usize, Value)>,
    Vec<usize>,
)> {
    let ncols = table.columns.len();
    let mapper = &inst.mapper;
    let (mut values, loaded) = {
        let st = inst.state();
        (st.values.to_vec(), st.loaded.clone())
    };
    let mut included = AttrSet::default();
    let mut sql_default = AttrSet::default();
    let mut assigned = Vec::new();
    let mut expire = Vec::new();
    let mut has_callable = false;
    for (i, col) in table.columns.iter().enumerate() {
        if loaded.contains(i)
            && !(values[i].is_null()
                && (Some(i) == mapper.autoincrement
                    || col.default.is_some()
                    || col.server_default.is_some()))
        {
            included.insert(i);
            continue;
        }
        match &col.default {
            Some(ColumnDefault::Sql(_)) => {
                sql_default.insert(i);
                expire.push(i);
            }
            Some(ColumnDefault::Callable(_)) => {
                has_callable = true;
                included.insert(i);
            }
            Some(ColumnDefault::Value(v)) => {
                values[i] = v.clone();
                assigned.push((i, v.clone()));
                included.insert(i);
            }
            None if Some(i) == mapper.autoincrement => {}
            None if col.server_default.is_some() => expire.push(i),
            None => {
                included.insert(i);
            }
        }
    }
    if has_callable {
        // Context-sensitive defaults see the other values of the row.
        let params: Vec<(String, Value)> = included
            .iter()
            .filter(|&i| i < ncols)
            .map(|i| (table.columns[i].name.clone(), values[i].clone()))
            .collect();
        for (i, col) in table.columns.iter().enumerate() {
            if let (Some(f @ ColumnDefault::Callable(_)), false) =
                (&col.default, loaded.contains(i) && !values[i].is_null())
            {
                if let Some(v) = call_default(f, table, i, &params)? {
                    values[i] = v.clone();
                    assigned.push((i, v));
                }
            }
        }
    }
    let row: Vec<Value> = included
        .iter()
        .map(|i| std::mem::take(&mut values[i]))
        .collect();
    Ok((included, sql_default, row, assigned, expire))
}

/// Loads the row of an object with changes whose key is expired (a member a one-to-many
/// copied a key into), as SQLAlchemy reads its key's history before the UPDATE: a row gone
/// raises ObjectDeletedError rather than an UPDATE matching nothing.
fn load_expired_key(inst: &Rc<Instance>) -> Result<()> {
    let mapper = &inst.mapper;
    let key_expired = {
        let st = inst.state();
        st.status == Status::Persistent
            && !st.marked_deleted()
            && mapper.pk.iter().any(|&k| !st.loaded.contains(k))
            && st
                .committed
                .iter()
                .any(|(i, old)| old.as_ref() != Some(&st.values[*i]))
    };
    if key_expired {
        SessionCore::ensure_loaded(inst, mapper.pk[0])?;
    }
    Ok(())
}

fn update_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<UpdateOutcome>,
) -> Result<()> {
    if table.joined.is_some() {
        return joined::update_rows(conn, table, rows, out);
    }
    let dialect = conn.engine().dialect();
    #[allow(clippy::type_complexity)]
    let mut batches: Vec<(AttrSet, AttrSet, (Update, Compiled), Vec<Vec<Value>>)> = Vec::new();
    let group = table;
    let onupdate_of = |t: &Table| t.columns.iter().any(|c| c.onupdate.is_some());
    let group_onupdate = onupdate_of(group);
    // the version counter: bumped in SET, its old value checked in WHERE
    let version = rows.first().and_then(|i| i.mapper.version_col);
    let mut batch_tables: Vec<*const Table> = Vec::new();
    for inst in rows {
        let mapper = &inst.mapper;
        // the classes of a single-table hierarchy each write their own columns
        let table = &mapper.table;
        let has_onupdate = if Rc::ptr_eq(table, group) {
            group_onupdate
        } else {
            onupdate_of(table)
        };
        let full = has_onupdate || version.is_some();
        load_expired_key(inst)?;
        let (mut set, mut row, mut values) = {
            let st = inst.state();
            let Some(set) = st.update_set() else {
                continue;
            };
            // without onupdate defaults the row is known now: the changed values
            let row: Vec<Value> = if full {
                Vec::new()
            } else {
                set.iter().map(|i| st.values[i].clone()).collect()
            };
            let values = if full || mapper.pk.iter().any(|i| set.contains(*i)) {
                st.values.to_vec()
            } else {
                Vec::new()
            };
            (set, row, values)
        };
        let pk_old = inst
            .state()
            .key
            .as_ref()
            .expect("persistent instance has a key")
            .values();
        let mut sql_set = AttrSet::default();
        let mut assigned = Vec::new();
        let mut expire = Vec::new();
        if has_onupdate {
            let changed: Vec<usize> = set.iter().collect();
            for (i, col) in table.columns.iter().enumerate() {
                if set.contains(i) {
                    continue;
                }
                match &col.onupdate {
                    Some(ColumnDefault::Sql(_)) => {
                        sql_set.insert(i);
                        expire.push(i);
                    }
                    Some(f) => {
                        let params: Vec<(String, Value)> = changed
                            .iter()
                            .map(|&c| (table.columns[c].name.clone(), values[c].clone()))
                            .collect();
                        if let Some(v) = call_default(f, table, i, &params)? {
                            values[i] = v.clone();
                            assigned.push((i, v));
                            set.insert(i);
                        }
                    }
                    None => {}
                }
            }
        }
        // the version the row had when loaded (the object's committed value)
        let old_version = version.map(|v| {
            let st = inst.state();
            st.committed
                .iter()
                .find(|(i, _)| *i == v)
                .and_then(|(_, old)| old.clone())
                .unwrap_or_else(|| st.values[v].clone())
        });
        if let (Some(v), Some(old)) = (version, &old_version) {
            let next = match old {
                Value::Integer(n) => Value::Integer(n + 1),
                _ => Value::Integer(1),
            };
            values[v] = next.clone();
            assigned.retain(|(i, _)| *i != v);
            assigned.push((v, next));
            set.insert(v);
        }
        if full {
            row = set.iter().map(|i| values[i].clone()).collect();
        }
        row.extend(pk_old);
        row.extend(old_version);
        let pk_changed = mapper.pk.iter().any(|i| set.contains(*i));
        let new_key = if pk_changed {
            let pk: Vec<Value> = mapper.pk.iter().map(|&i| values[i].clone()).collect();
            IdentityKey::new(mapper.ident_id, &pk)
        } else {
            None
        };
        let tptr = Rc::as_ptr(table);
        let idx = match batches
            .iter()
            .zip(&batch_tables)
            .rposition(|(b, t)| b.0 == set && b.1 == sql_set && *t == tptr)
        {
            Some(i) => i,
            None => {
                let mut up = Update::new(table);
                let mut slot = 0;
                for i in 0..table.columns.len() {
                    if set.contains(i) {
                        up.values.push((i, Expr::Slot(slot)));
                        slot += 1;
                    } else if sql_set.contains(i) {
                        if let Some(ColumnDefault::Sql(e)) = &table.columns[i].onupdate {
                            up.values.push((i, e.clone()));
                        }
                    }
                }
                up.where_ = mapper
                    .pk
                    .iter()
                    .enumerate()
                    .map(|(n, &i)| {
                        Expr::binary(Expr::column(table, i), BinOp::Eq, Expr::Slot(slot + n))
                    })
                    .collect();
                if let Some(v) = version {
                    up.where_.push(Expr::binary(
                        Expr::column(table, v),
                        BinOp::Eq,
                        Expr::Slot(slot + mapper.pk.len()),
                    ));
                }
                let c = compile(&Statement::Update(up.clone()), dialect)?;
                batches.push((set.clone(), sql_set.clone(), (up, c), Vec::new()));
                batch_tables.push(tptr);
                batches.len() - 1
            }
        };
        batches[idx].3.push(row);
        out.push(UpdateOutcome {
            inst: (*inst).clone(),
            assigned,
            expire,
            new_key,
        });
    }
    for (_, _, (up, c), rows) in batches {
        conn.update_rows(&up, &c, &rows, |expected, matched| {
            if matched != expected {
                return Err(stale_update(table, expected, matched));
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `StaleDataError` of an UPDATE that matched another number of rows than it meant to.
pub(crate) fn stale_update(table: &Table, expected: usize, matched: usize) -> Error {
    Error::new(
        ErrorKind::StaleDataError,
        format!(
            "UPDATE statement on table '{}' expected to update {expected} row(s); {matched} were matched.",
            table.name
        ),
    )
}

/// `StaleDataError` of a DELETE that matched fewer rows than it meant to.
pub(crate) fn stale_delete(table: &Table, expected: usize, matched: usize) -> Error {
    Error::new(
        ErrorKind::StaleDataError,
        format!(
            "DELETE statement on table '{}' expected to delete {expected} row(s); Only {matched} were matched.",
            table.name
        ),
    )
}

fn delete_rows(conn: &Connection, table: &Rc<Table>, rows: &[&Rc<Instance>]) -> Result<()> {
    if table.joined.is_some() {
        return joined::delete_rows(conn, table, rows);
    }
    let mapper = &rows[0].mapper;
    let mut del = Delete::new(table);
    del.where_ = mapper.pk_condition(0);
    if let Some(v) = mapper.version_col {
        del.where_.push(Expr::binary(
            Expr::column(table, v),
            BinOp::Eq,
            Expr::Slot(mapper.pk.len()),
        ));
    }
    let c = compile(&Statement::Delete(del), conn.engine().dialect())?;
    let params: Vec<Vec<Value>> = rows
        .iter()
        .map(|i| {
            let st = i.state();
            let mut p = st
                .key
                .as_ref()
                .expect("persistent instance has a key")
                .values();
            if let Some(v) = mapper.version_col {
                // the version as loaded
                p.push(
                    st.committed
                        .iter()
                        .find(|(k, _)| *k == v)
                        .and_then(|(_, old)| old.clone())
                        .unwrap_or_else(|| st.values[v].clone()),
                );
            }
            p
        })
        .collect();
    conn.execute_many(&c.sql, &params, |_, _, changed| {
        if changed != 1 {
            return Err(stale_delete(table, 1, changed));
        }
        Ok(())
    })
}
