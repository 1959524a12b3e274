//! What relationships add to a flush (SQLAlchemy's dependency processors): the
//! `save-update` cascade from the flushed objects, the `delete` and `delete-orphan`
//! cascades, the children of a deleted parent set to NULL, foreign keys copied from related
//! objects (`SyncRule`), association rows of many-to-many collections, and the order of rows
//! within a self-referential table.

use std::rc::Rc;

use super::collections::RelState;
use super::identity::FxHashSet;
use super::instance::{Instance, Status};
use super::relationships::{Direction, Relationship};
use super::session::SessionCore;
use super::strategies::{committed_values, target_in_identity_map};
use crate::error::Result;
use crate::schema::Table;
use crate::value::Value;

/// Copy the parent's columns into the child's foreign key columns (NULL without a parent).
pub(crate) struct SyncRule {
    pub child: Rc<Instance>,
    pub child_cols: Vec<usize>,
    pub parent: Option<(Rc<Instance>, Vec<usize>)>,
    /// From a `post_update` relationship: written by a second UPDATE after the INSERTs.
    pub post_update: bool,
    /// The object whose one-to-many gives the rule (SQLAlchemy's step for that object's
    /// collection, which runs after its save, not the child's); `None` for a many-to-one.
    pub one_to_many_of: Option<Rc<Instance>>,
}

/// One row of a many-to-many association table.
pub(crate) struct AssocRow {
    pub table: Rc<Table>,
    /// (secondary column, object, its column)
    pub values: Vec<(usize, Rc<Instance>, usize)>,
}

/// The association rows of a deleted object's many-to-many collection.
pub(crate) struct AssocOf {
    /// The loaded collection's members other than those appended since the last flush,
    /// and those removed since (SQLAlchemy's unchanged and deleted history): the rows
    /// SQLAlchemy deletes one by one, reading each member's key.
    pub members: Vec<Rc<Instance>>,
    /// The row of each member, in the order of `members`: deleted as SQLAlchemy's
    /// many-to-many step does, one row per member (not every row holding the object's key),
    /// the statement expected to match each.
    pub rows: Vec<AssocRow>,
}

#[derive(Default)]
pub(crate) struct Plan {
    /// Rules that set foreign keys to NULL come first, so that a child moved to another
    /// parent ends with the new parent's key.
    pub rules: Vec<SyncRule>,
    /// Rules of `post_update` relationships: applied by UPDATEs once every row is
    /// inserted, so that rows pointing at each other need no order between them.
    pub post_rules: Vec<SyncRule>,
    pub assoc_insert: Vec<AssocRow>,
    pub assoc_delete: Vec<AssocRow>,
    /// Every association row of deleted objects.
    pub assoc_delete_all: Vec<AssocOf>,
    /// Rows removed from the collection of an object the flush deletes or leaves out (a
    /// pending orphan): deleted with the deletions' association rows, before any save, as
    /// SQLAlchemy's many-to-many step for deletions (seed 11138).
    pub assoc_delete_early: Vec<AssocRow>,
    /// Objects whose relationship changes this flush writes (flags cleared on success).
    pub touched: Vec<Rc<Instance>>,
    /// Objects marked for deletion that a saved parent's one-to-many gained since the last
    /// flush: saved by this flush instead (SQLAlchemy's `cancel_delete`), and marked for
    /// deletion again after it, for the next flush.
    pub cancelled_deletes: Vec<Rc<Instance>>,
    /// Rows a circular dependency holds up (the rows in the cycle and those that wait for
    /// them): the flush writes the others, as SQLAlchemy's sort runs every level it can
    /// before it raises, then fails.
    pub blocked: FxHashSet<*const Instance>,
}

/// The loaded related objects of `inst` (and theirs, and so on) along relationships whose
/// cascade `along` accepts: SQLAlchemy's cascade iterator. `inst` itself is not included.
pub fn cascade_iterator(
    inst: &Rc<Instance>,
    along: &dyn Fn(&super::relationships::Cascade) -> bool,
) -> Vec<Rc<Instance>> {
    let mut out = Vec::new();
    let mut stack = vec![inst.clone()];
    let mut seen: FxHashSet<*const Instance> = FxHashSet::default();
    seen.insert(Rc::as_ptr(inst));
    while let Some(x) = stack.pop() {
        let rels: Vec<Rc<Relationship>> = x.mapper.relationships.borrow().clone();
        for rel in rels {
            if !along(&rel.cascade) || rel.viewonly {
                continue;
            }
            for y in related(&x, &rel) {
                if seen.insert(Rc::as_ptr(&y)) {
                    out.push(y.clone());
                    stack.push(y);
                }
            }
        }
    }
    out
}

/// The objects `session:delete(inst)` deletes with it: SQLAlchemy's `delete` cascade,
/// walked at delete time in its order (depth first, each object before what it reaches),
/// loading the relationships not loaded yet (not those with `passive_deletes`, whose
/// database does it, and not those of an object without a row). `inst` is not included.
pub(crate) fn delete_cascade(
    session: &SessionCore,
    inst: &Rc<Instance>,
) -> Result<Vec<Rc<Instance>>> {
    enum Step {
        /// The next relationship of an object to walk.
        Rels(Rc<Instance>, usize),
        /// The next related object to yield, then walk.
        Items(Vec<Rc<Instance>>, usize),
    }
    let mut out = Vec::new();
    let mut seen: FxHashSet<*const Instance> = FxHashSet::default();
    seen.insert(Rc::as_ptr(inst));
    let mut stack = vec![Step::Rels(inst.clone(), 0)];
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Step::Rels(x, i) => {
                let rel = x.mapper.relationships.borrow().get(*i).cloned();
                *i += 1;
                let x = x.clone();
                match rel {
                    None => None,
                    Some(rel) if !rel.cascade.delete || rel.viewonly => continue,
                    Some(rel) => {
                        if !x.rel_loaded(rel.index) {
                            if rel.passive_deletes || x.status() != Status::Persistent {
                                continue;
                            }
                            session.load_relationship_for_flush(&x, &rel)?;
                        }
                        let items: Vec<Rc<Instance>> = related(&x, &rel)
                            .into_iter()
                            .filter(|y| seen.insert(Rc::as_ptr(y)))
                            .collect();
                        if items.is_empty() {
                            continue;
                        }
                        Some(Step::Items(items, 0))
                    }
                }
            }
            Step::Items(items, i) => {
                let y = items.get(*i).cloned();
                *i += 1;
                y.map(|y| {
                    out.push(y.clone());
                    Step::Rels(y, 0)
                })
            }
        };
        match next {
            Some(step) => stack.push(step),
            None => {
                stack.pop();
            }
        }
    }
    Ok(out)
}

impl SessionCore {
    /// `save-update` cascade: the loaded related objects of `inst` (and theirs) join the
    /// session.
    /// As SQLAlchemy's cascade iterator with `halt_on` the session: objects already in a
    /// session are not walked again (what they reach joined when they did, or joins through
    /// the attribute events), so each call costs the new part of the graph only.
    /// Depth first, as SQLAlchemy's `cascade_iterator`: an object reached is added and its
    /// own relationships are walked before its siblings; a collection gives its members
    /// appended since the last flush first, then the others, then those removed (SQLAlchemy's
    /// `get_all_pending`), which is the order of their INSERTs.
    /// A relationship's objects are taken, checked against the session and marked visited
    /// all at once when the walk reaches that relationship, as SQLAlchemy's iterator does:
    /// an object a deeper part of the walk reaches again is not walked there, and when an
    /// object the walk refuses stops it, the siblings after it stay out (seed 1693).
    pub fn cascade_add(&self, inst: &Rc<Instance>) -> Result<()> {
        enum Step {
            /// The next relationship of an object to expand.
            Rels(Rc<Instance>, usize),
            /// The next object of an expanded relationship to add, then walk.
            Items(std::vec::IntoIter<Rc<Instance>>),
        }
        let mut visited: FxHashSet<*const Instance> = FxHashSet::default();
        let mut stack = vec![Step::Rels(inst.clone(), 0)];
        while let Some(top) = stack.last_mut() {
            let next = match top {
                Step::Rels(x, i) => {
                    let rel = x.mapper.relationships.borrow().get(*i).cloned();
                    *i += 1;
                    let Some(rel) = rel else {
                        stack.pop();
                        continue;
                    };
                    if !rel.cascade.save_update || rel.viewonly {
                        continue;
                    }
                    let items: Vec<Rc<Instance>> = save_update_targets(x, &rel)
                        .into_iter()
                        .filter(|y| !self.halts_cascade(y) && visited.insert(Rc::as_ptr(y)))
                        .collect();
                    if items.is_empty() {
                        continue;
                    }
                    Step::Items(items.into_iter())
                }
                Step::Items(items) => {
                    let Some(y) = items.next() else {
                        stack.pop();
                        continue;
                    };
                    match y.session() {
                        // in another session, or a deleted object of this one (its DELETE
                        // flushed, out of the identity map): refused, as SQLAlchemy's walk
                        // does ("already attached to session", "has been deleted")
                        Some(_) => {
                            self.add_one(&y)?;
                            continue;
                        }
                        None if matches!(y.status(), Status::Transient | Status::Detached) => {
                            self.add_one(&y)?;
                            Step::Rels(y, 0)
                        }
                        None => continue,
                    }
                }
            };
            stack.push(next);
        }
        Ok(())
    }

    /// SQLAlchemy's `halt_on` for the save-update cascade: an object the session holds
    /// (pending, or in its identity map) is not walked. An object whose DELETE was flushed
    /// is out of the identity map: the walk reaches it.
    fn halts_cascade(&self, y: &Instance) -> bool {
        y.session().is_some_and(|s| self.is(&s)) && y.status() != Status::Deleted
    }
}

/// What the save-update cascade walks from `x` through `rel`.
fn save_update_targets(x: &Instance, rel: &Relationship) -> Vec<Rc<Instance>> {
    let mut out = Vec::new();
    let st = x.state();
    match st.rels.as_ref().and_then(|v| v.get(rel.index)) {
        // the value, then the one it replaced since the last flush
        Some(RelState::Scalar(s)) => {
            out.extend(s.value.iter().cloned());
            if s.changed {
                out.extend(
                    s.replaced
                        .iter()
                        .filter(|r| !s.value.as_ref().is_some_and(|v| Rc::ptr_eq(v, r)))
                        .cloned(),
                );
            }
        }
        Some(RelState::Collection(c)) => {
            let added = |i: &Rc<Instance>| c.added.iter().any(|a| Rc::ptr_eq(a, i));
            out.extend(c.items.iter().filter(|i| added(i)).cloned());
            out.extend(c.items.iter().filter(|i| !added(i)).cloned());
            out.extend(c.removed.iter().filter(|r| !c.contains(r)).cloned());
        }
        // a write-only collection: what was added and removed since the last flush
        Some(RelState::Pending(c)) if rel.lazy.never_loads() => {
            out.extend(c.added.iter().chain(&c.removed).cloned());
        }
        _ => {}
    }
    out
}

/// The loaded related objects of `x` through `rel` (nothing when unloaded).
pub(crate) fn related(x: &Instance, rel: &Relationship) -> Vec<Rc<Instance>> {
    let st = x.state();
    match st.rels.as_ref().and_then(|v| v.get(rel.index)) {
        Some(RelState::Scalar(s)) => s.value.iter().cloned().collect(),
        Some(RelState::Collection(c)) => c.items.clone(),
        _ => Vec::new(),
    }
}

fn assoc_row(rel: &Relationship, parent: &Rc<Instance>, child: &Rc<Instance>) -> AssocRow {
    let sec = rel.secondary.clone().expect("many-to-many");
    let mut values = Vec::new();
    for (&s, &l) in rel.sec_local.iter().zip(&rel.local) {
        values.push((s, parent.clone(), l));
    }
    for (&s, r) in rel.sec_remote.iter().zip(rel.remote_on(&child.mapper)) {
        values.push((s, child.clone(), r));
    }
    AssocRow { table: sec, values }
}

/// Pending orphans of a collection whose owner was outside the session leave, as
/// SQLAlchemy's flush expunges them (before it begins its transaction, so also when it then
/// refuses to flush a session whose failed flush wants a rollback).
pub(crate) fn expunge_orphans_outside(session: &SessionCore) -> Result<()> {
    let dropped: Vec<Rc<Instance>> = session
        .new
        .borrow()
        .iter()
        .filter(|i| i.state().orphaned_outside() && i.is_orphan())
        .cloned()
        .collect();
    for inst in &dropped {
        session.expunge(inst)?;
    }
    Ok(())
}

/// Builds the relationship part of a flush; may add objects to the session (cascades).
pub(crate) fn prepare(session: &SessionCore) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut nullify: Vec<SyncRule> = Vec::new();
    // each with the relationship whose step copies it (see `Relationship::sort_key`)
    let mut set: Vec<(Rc<Relationship>, SyncRule)> = Vec::new();
    // no save-update cascade here: as SQLAlchemy's, it runs when an object is added and
    // when the program (not a backref) links objects; a related object that is not in the
    // session when the flush runs is left out, its key not copied. (The pending orphans of
    // collections outside the session left already: `SessionCore::flush`.)
    // cancelled deletes of the cancelling one-to-many's own mapper, with its index: that
    // relationship's preprocess (and those declared before it) ran its deletes first
    let mut read_before_cancel: Vec<(Rc<Instance>, usize)> = Vec::new();
    let mut reads = DeleteReads::default();
    // members a saved parent's one-to-many gained are saved, whatever delete() said
    for inst in session
        .new
        .borrow()
        .iter()
        .chain(session.modified.borrow().iter())
    {
        let st = inst.state();
        // an object whose DELETE an earlier flush sent is out of the identity map, so out of
        // SQLAlchemy's flush: its collection saves no one (seed 174)
        if st.marked_deleted() || st.status == Status::Deleted || !st.rels_pending() {
            continue;
        }
        for rel in inst.mapper.relationships.borrow().iter() {
            if rel.viewonly || rel.direction != Direction::OneToMany {
                continue;
            }
            // a collection not loaded counts its pending appends (SQLAlchemy's history
            // includes the pending mutations)
            if let Some(RelState::Collection(c) | RelState::Pending(c)) =
                st.rels.as_ref().and_then(|v| v.get(rel.index))
            {
                for child in &c.added {
                    if child.state().marked_deleted()
                        && !plan.cancelled_deletes.iter().any(|x| Rc::ptr_eq(x, child))
                    {
                        plan.cancelled_deletes.push(child.clone());
                        if Rc::ptr_eq(&child.mapper, &inst.mapper) {
                            read_before_cancel.push((child.clone(), rel.index));
                        }
                    }
                }
            }
        }
    }
    for child in &plan.cancelled_deletes {
        m2o_read_before_cancel(child)?;
        if let Some((_, upto)) = read_before_cancel
            .iter()
            .find(|(x, _)| Rc::ptr_eq(x, child))
        {
            collections_read_before_cancel(session, child, *upto)?;
        }
        session.unmark_deleted(child);
        if child.status() == Status::Deleted {
            session.revert_deletion(child);
        }
    }
    load_for_deletes(session, &mut reads)?;
    let mut done: FxHashSet<*const Instance> = FxHashSet::default();
    cascade_deletes(session, &mut done, &mut nullify, &mut plan)?;
    // relationship changes of the flushed objects
    let changed: Vec<Rc<Instance>> = session
        .new
        .borrow()
        .iter()
        .chain(session.modified.borrow().iter())
        .filter(|i| {
            let st = i.state();
            // an object the flush deletes has no saves: cascade_deletes did its part; one
            // an earlier flush deleted is out of the identity map, so out of SQLAlchemy's
            // flush (its relationships copy no key, write no association row)
            !st.marked_deleted() && st.status != Status::Deleted && st.rels_pending()
        })
        .cloned()
        .collect();
    // the association rows the collections' changes write, with the object whose
    // collection it is (kept below once the flush's deletions are known)
    let mut assoc_rows: Vec<(Rc<Instance>, AssocKey, AssocRow)> = Vec::new();
    // pending orphans of delete-orphan relationships, expunged (see `removed_members`)
    let mut expunged: Vec<Rc<Instance>> = Vec::new();
    for inst in &changed {
        plan.touched.push(inst.clone());
        let rels: Vec<Rc<Relationship>> = inst.mapper.relationships.borrow().clone();
        for rel in rels {
            if rel.viewonly {
                continue;
            }
            // a write-only collection's pending changes are its history, as a loaded one's
            let state = match inst.rel_state(rel.index) {
                RelState::Pending(c) if rel.lazy.never_loads() => RelState::Collection(c),
                s => s,
            };
            let unloaded = matches!(state, RelState::Pending(_));
            match (rel.direction, state) {
                (Direction::ManyToOne, RelState::Scalar(s)) if s.changed => {
                    // a deleted object is out of the session too (its DELETE flushed)
                    if s.value
                        .as_ref()
                        .is_some_and(|p| !session.owns(p) || p.status() == Status::Deleted)
                    {
                        continue; // SQLAlchemy warns "not in session" and copies nothing
                    }
                    set.push((
                        rel.clone(),
                        SyncRule {
                            child: inst.clone(),
                            child_cols: rel.local.clone(),
                            parent: s.value.map(|p| {
                                let cols = rel.remote_on(&p.mapper);
                                (p, cols)
                            }),
                            post_update: rel.post_update,
                            one_to_many_of: None,
                        },
                    ));
                }
                (Direction::OneToMany, RelState::Scalar(s)) if s.changed => {
                    // the one-to-one's replaced child: an orphan, or unlinked
                    let old = s
                        .replaced
                        .as_ref()
                        .filter(|o| !s.value.as_ref().is_some_and(|v| Rc::ptr_eq(v, o)));
                    if let Some(old) = old {
                        if rel.cascade.delete_orphan {
                            match old.status() {
                                Status::Persistent => session.delete(old)?,
                                Status::Pending => {
                                    session.expunge(old)?;
                                    expunged.push(old.clone());
                                }
                                _ => {}
                            }
                        } else if old.has_parent(&rel) != Some(true) {
                            // cleared unless another parent took it since (SQLAlchemy's
                            // has-parent flag: false, or unknown after an expiry)
                            nullify.push(SyncRule {
                                child: old.clone(),
                                child_cols: rel.remote_on(&old.mapper),
                                parent: None,
                                post_update: rel.post_update,
                                one_to_many_of: Some(inst.clone()),
                            });
                        }
                    }
                    if let Some(child) = s.value {
                        set.push((
                            rel.clone(),
                            SyncRule {
                                child_cols: rel.remote_on(&child.mapper),
                                child,
                                parent: Some((inst.clone(), rel.local.clone())),
                                post_update: rel.post_update,
                                one_to_many_of: Some(inst.clone()),
                            },
                        ));
                    }
                }
                // a loaded collection's changes, and those made through the other side while
                // it was not loaded (SQLAlchemy's history includes the pending mutations):
                // members removed are orphans deleted or get their keys cleared, members
                // appended get the key (those outside the session in memory only, those of
                // the session also when their own many-to-one change is gone, expired by a
                // refresh). Not the pending changes of a self-referential one: SQLAlchemy
                // flushes a mapper in a cycle state by state, and that history leaves them out
                (Direction::OneToMany, RelState::Collection(c) | RelState::Pending(c))
                    if !(unloaded && Rc::ptr_eq(&rel.target(), &inst.mapper)) =>
                {
                    removed_members(session, &rel, inst, &c.removed, &mut nullify, &mut expunged)?;
                    for child in &c.added {
                        set.push((
                            rel.clone(),
                            SyncRule {
                                child: child.clone(),
                                child_cols: rel.remote_on(&child.mapper),
                                parent: Some((inst.clone(), rel.local.clone())),
                                post_update: rel.post_update,
                                one_to_many_of: Some(inst.clone()),
                            },
                        ));
                    }
                }
                // appends through the other side while this collection was not loaded count
                // too (SQLAlchemy's INCLUDE_PENDING_MUTATIONS): they write the row when the
                // other side is not saved by this flush (an object marked deleted)
                (Direction::ManyToMany, RelState::Collection(c) | RelState::Pending(c)) => {
                    let sec_id = rel.secondary.as_ref().map(|t| t.id).unwrap_or(0);
                    for (list, insert) in [(&c.added, true), (&c.removed, false)] {
                        for child in list {
                            // SQLAlchemy warns "not in session" and writes no row (a
                            // pending orphan this flush leaves out is in it until the flush
                            // ends); an object whose DELETE was flushed is out of the
                            // session too (no warning), on either side of the row
                            if (!session.owns(child)
                                && !expunged.iter().any(|x| Rc::ptr_eq(x, child)))
                                || child.status() == Status::Deleted
                                || inst.status() == Status::Deleted
                            {
                                continue;
                            }
                            let (a, b) = (Rc::as_ptr(inst), Rc::as_ptr(child));
                            let key = (sec_id, a.min(b), a.max(b), insert);
                            assoc_rows.push((inst.clone(), key, assoc_row(&rel, inst, child)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // an orphan by its has-parent flags (SQLAlchemy's _is_orphan at the start of its flush:
    // removed from a delete-orphan collection, also one of an object outside the flush, and
    // not appended to one since)
    let flagged: Vec<Rc<Instance>> = session
        .modified
        .borrow()
        .iter()
        .filter(|i| {
            let candidate = {
                let st = i.state();
                st.status == Status::Persistent && !st.marked_deleted()
            };
            // a member of a saved owner's collection is saved (seed 2465: a collection of a
            // transient parent kept it while its has-parent flag went false)
            candidate && i.is_orphan() && !gained_by_saved_owner(session, i, false)
        })
        .cloned()
        .collect();
    for inst in &flagged {
        session.delete(inst)?;
    }
    // orphans deleted above cascade too
    load_for_deletes(session, &mut reads)?;
    cascade_deletes(session, &mut done, &mut nullify, &mut plan)?;
    keep_association_rows(assoc_rows, &expunged, &mut plan);
    // a deleted child keeps its key: nothing is copied into a row the flush deletes; nor
    // into a pending orphan the flush leaves out (SQLAlchemy registers it as a delete, so
    // its many-to-one copies nothing: seed 2163)
    let left_out = |r: &SyncRule| expunged.iter().any(|x| Rc::ptr_eq(x, &r.child));
    nullify.retain(|r| !r.child.state().marked_deleted() && !left_out(r));
    set.retain(|(_, r)| (r.post_update || !r.child.state().marked_deleted()) && !left_out(r));
    // SQLAlchemy runs the steps of one level of its sort in the order of their sort keys:
    // when both sides of a pair copy into one row (a child appended to one parent's
    // collection whose many-to-one names another), the later step's key stays
    set.sort_by(|a, b| a.0.sort_key.cmp(&b.0.sort_key));
    plan.rules = nullify;
    for (_, rule) in set {
        if rule.post_update {
            plan.post_rules.push(rule);
        } else {
            plan.rules.push(rule);
        }
    }
    Ok(plan)
}

/// An association row by table and its two objects (in address order), and whether it is
/// inserted.
type AssocKey = (u32, *const Instance, *const Instance, bool);

/// The association rows the flush writes, each once (both sides of a many-to-many record
/// it). SQLAlchemy registers the orphans and the objects a delete cascade reaches as
/// deletions before its many-to-many steps run: the collection of an object this flush
/// deletes, or of a pending orphan it leaves out, adds no row (its step only deletes rows:
/// seed 10044, a child appended a tag then orphaned). The other side's collection still
/// does, a pending orphan being in the session until the flush ends (seed 2163).
fn keep_association_rows(
    rows: Vec<(Rc<Instance>, AssocKey, AssocRow)>,
    expunged: &[Rc<Instance>],
    plan: &mut Plan,
) {
    let mut seen: FxHashSet<AssocKey> = FxHashSet::default();
    for (owner, key, row) in rows {
        let insert = key.3;
        let deleted =
            expunged.iter().any(|x| Rc::ptr_eq(x, &owner)) || owner.state().marked_deleted();
        if insert && deleted {
            continue;
        }
        if !seen.insert(key) {
            continue;
        }
        if insert {
            plan.assoc_insert.push(row);
        } else if deleted {
            plan.assoc_delete_early.push(row);
        } else {
            plan.assoc_delete.push(row);
        }
    }
}

/// Whether a one-to-many of an object the flush saves gained `inst` since the last flush:
/// SQLAlchemy's presort registers such a member with `cancel_delete`, which also cancels the
/// deletion its flush gave it as an orphan.
/// `other_mapper`: only an owner of another mapper than `inst`'s counts.
pub(crate) fn gained_by_saved_owner(
    session: &SessionCore,
    inst: &Rc<Instance>,
    other_mapper: bool,
) -> bool {
    session
        .new
        .borrow()
        .iter()
        .chain(session.modified.borrow().iter())
        .any(|owner| {
            if other_mapper && Rc::ptr_eq(&owner.mapper, &inst.mapper) {
                return false;
            }
            let st = owner.state();
            if st.marked_deleted() || st.status == Status::Deleted {
                return false;
            }
            owner.mapper.relationships.borrow().iter().any(|rel| {
                !rel.viewonly
                    && rel.direction == Direction::OneToMany
                    && matches!(
                        st.rels.as_ref().and_then(|v| v.get(rel.index)),
                        Some(RelState::Collection(c) | RelState::Pending(c))
                            if c.added.iter().any(|x| Rc::ptr_eq(x, inst))
                    )
            })
        })
}

/// The members removed from `inst`'s one-to-many `rel` since the last flush (from a loaded
/// collection, or through the other side while it was not loaded: SQLAlchemy's history
/// includes the pending mutations): orphans deleted, or their keys cleared.
fn removed_members(
    session: &SessionCore,
    rel: &Rc<Relationship>,
    inst: &Rc<Instance>,
    removed: &[Rc<Instance>],
    nullify: &mut Vec<SyncRule>,
    expunged: &mut Vec<Rc<Instance>>,
) -> Result<()> {
    for child in removed {
        if rel.cascade.delete_orphan {
            // an orphan when its has-parent flag is false, or unknown (an
            // expiry of the whole object dropped it: SQLAlchemy's
            // `hasparent` without `optimistic`): not when another parent
            // took it since (also one whose collection has no reverse), nor
            // when it was removed from another parent than its last
            // nor when a saved owner's collection gained it: SQLAlchemy's presort
            // registers it with `cancel_delete` as well, and which registration comes
            // last follows the order of the owners in a set; the save is the answer it
            // gives most often (seed 5895), as in the check of the flags below (seed 2465)
            if child.has_parent(rel) != Some(true) && !gained_by_saved_owner(session, child, false)
            {
                match child.status() {
                    Status::Persistent => session.delete(child)?,
                    Status::Pending => {
                        session.expunge(child)?;
                        expunged.push(child.clone());
                    }
                    _ => {}
                }
            }
            // reparented: its new parent's key is copied (when that parent is
            // in the session); SQLAlchemy never clears the key of a child of a
            // delete-orphan collection
            continue;
        }
        // cleared unless another parent took it since (SQLAlchemy's
        // has-parent flag: false, or unknown after an expiry)
        if child.has_parent(rel) == Some(true) {
            continue;
        }
        nullify.push(SyncRule {
            child: child.clone(),
            child_cols: rel.remote_on(&child.mapper),
            parent: None,
            post_update: rel.post_update,
            one_to_many_of: Some(inst.clone()),
        });
    }
    Ok(())
}

/// What an earlier pass of `load_for_deletes` in the same flush read: SQLAlchemy's
/// preprocessors look at each deleted object once, and a relationship they found to process
/// stays processed (seed 2014: the second pass, for the orphans, must not read again what
/// the first pass's collection loads put in the identity map since).
#[derive(Default)]
struct DeleteReads {
    seen: FxHashSet<*const Instance>,
    self_ref: Vec<(*const Relationship, bool)>,
}

/// What SQLAlchemy's flush loads of the objects it deletes, so that they end it with the
/// same relationships loaded: a one-to-many or many-to-many collection (the rows to update
/// or unlink; not with `passive_deletes`), a self-referential many-to-one when the flush
/// processes that relationship (its per-row ordering reads it, see
/// `self_ref_m2o_processed`), and another many-to-one on one object at most (`m2o_read`).
fn load_for_deletes(session: &SessionCore, reads: &mut DeleteReads) -> Result<()> {
    let deleted: Vec<Rc<Instance>> = session.deleted.borrow().clone();
    if deleted.is_empty() {
        return Ok(());
    }
    let fresh: Vec<Rc<Instance>> = deleted
        .iter()
        .filter(|d| !reads.seen.contains(&Rc::as_ptr(d)))
        .cloned()
        .collect();
    // SQLAlchemy's prop_has_changes of a many-to-one reads the deleted objects' history in
    // the order of a set (memory addresses) and stops at the first that is not empty: one
    // object has the reference loaded (without fetching another object), or none when the
    // first has it loaded already. Here, in the order of deletion (seeds 18, 321: the
    // others' references stay unknown, so moving them later leaves the old parent's
    // collection as it is). The relationships whose read is over:
    let mut m2o_read: Vec<*const Relationship> = Vec::new();
    for inst in &deleted {
        if matches!(inst.status(), Status::Persistent | Status::Deleted) {
            for rel in inst.mapper.relationships.borrow().iter() {
                if rel.direction == Direction::ManyToOne
                    && !rel.viewonly
                    && !rel.passive_deletes
                    && inst.rel_loaded(rel.index)
                {
                    m2o_read.push(Rc::as_ptr(rel));
                }
            }
        }
    }
    // whether the deleted objects' own references make the flush process a self-referential
    // many-to-one, read where SQLAlchemy's preprocessors read it: before the collections of
    // the relationships declared after it are loaded (the objects they load are not in the
    // identity map yet when it asks; seed 2014)
    let mut own: Vec<(*const Relationship, bool)> = Vec::new();
    for inst in &fresh {
        for rel in inst.mapper.relationships.borrow().iter() {
            if rel.direction == Direction::ManyToOne
                && !rel.viewonly
                && !rel.passive_deletes
                && Rc::ptr_eq(&rel.target(), &inst.mapper)
                && !own.iter().any(|(r, _)| std::ptr::eq(*r, Rc::as_ptr(rel)))
                && !inst.mapper.relationships.borrow().iter().any(|c| {
                    c.index < rel.index && c.uselist && Rc::ptr_eq(&c.target(), &inst.mapper)
                })
            {
                own.push((Rc::as_ptr(rel), self_ref_m2o_own(rel, &fresh)?));
            }
        }
    }
    // mapper by mapper, in the order their first object was deleted: SQLAlchemy's
    // preprocessors run per mapper (all of a mapper's relationships before the next
    // mapper's), so a load that fails (a row gone: ObjectDeletedError) leaves loaded what
    // the mappers before it loaded (seed 9135)
    let mut groups: Vec<Vec<Rc<Instance>>> = Vec::new();
    for inst in &deleted {
        match groups
            .iter_mut()
            .find(|g| Rc::ptr_eq(&g[0].mapper, &inst.mapper))
        {
            Some(g) => g.push(inst.clone()),
            None => groups.push(vec![inst.clone()]),
        }
    }
    // SQLAlchemy's unit of work meets the mappers of the objects it saves first, so their
    // preprocessors run before those of mappers that only delete (seed 10034: a pending
    // Node's mapper loads a deleted Node's children before a deleted Child's gone row
    // fails the flush). Among several of either kind its order follows a set.
    let saves = |m: &Rc<super::Mapper>| {
        session
            .new
            .borrow()
            .iter()
            .chain(session.modified.borrow().iter())
            .any(|i| Rc::ptr_eq(&i.mapper, m) && !i.state().marked_deleted())
    };
    groups.sort_by_key(|g| !saves(&g[0].mapper));
    let mut decided: Vec<*const Relationship> = Vec::new();
    for group in &groups {
        load_mapper_for_deletes(
            session,
            reads,
            group,
            &deleted,
            &fresh,
            &own,
            &mut m2o_read,
            &mut decided,
        )?;
    }
    reads.seen.extend(fresh.iter().map(Rc::as_ptr));
    Ok(())
}

/// `load_for_deletes` for the deleted objects of one mapper: their collections and other
/// many-to-ones, then their self-referential many-to-ones.
#[allow(clippy::too_many_arguments)]
fn load_mapper_for_deletes(
    session: &SessionCore,
    reads: &mut DeleteReads,
    group: &[Rc<Instance>],
    deleted: &[Rc<Instance>],
    fresh: &[Rc<Instance>],
    own: &[(*const Relationship, bool)],
    m2o_read: &mut Vec<*const Relationship>,
    decided: &mut Vec<*const Relationship>,
) -> Result<()> {
    // the self-referential many-to-ones wait until the collections are loaded: the members
    // of a deleted object's one-to-many are saved by the flush and decide whether it runs
    let mut self_ref: Vec<(Rc<Instance>, Rc<Relationship>)> = Vec::new();
    for inst in group {
        let rels: Vec<Rc<Relationship>> = inst.mapper.relationships.borrow().clone();
        for rel in rels {
            if rel.viewonly || rel.passive_deletes || inst.rel_loaded(rel.index) {
                continue;
            }
            match inst.status() {
                // (a deleted object a delete cascade attached again: its DELETE is sent again)
                Status::Persistent | Status::Deleted => {}
                // inserted by this flush: nothing to load, its collections are empty
                Status::Pending if rel.uselist => {
                    super::session::SessionCore::load_on_access(inst, &rel)?;
                    continue;
                }
                _ => continue,
            }
            match rel.direction {
                Direction::OneToMany | Direction::ManyToMany => {
                    session.load_relationship_against_committed(inst, &rel)?
                }
                Direction::ManyToOne if Rc::ptr_eq(&rel.target(), &inst.mapper) => {
                    self_ref.push((inst.clone(), rel))
                }
                Direction::ManyToOne => {
                    if !m2o_read.contains(&Rc::as_ptr(&rel)) && m2o_without_fetch(inst, &rel)? {
                        m2o_read.push(Rc::as_ptr(&rel));
                    }
                }
            }
        }
    }
    for (inst, rel) in &self_ref {
        let r = Rc::as_ptr(rel);
        if !decided.contains(&r) {
            decided.push(r);
            let before = reads.self_ref.iter().position(|(x, _)| std::ptr::eq(*x, r));
            if !before.is_some_and(|i| reads.self_ref[i].1) {
                let early = own.iter().find(|(x, _)| std::ptr::eq(*x, r)).map(|x| x.1);
                let own = match early {
                    Some(o) => o,
                    None => self_ref_m2o_own(rel, fresh)?,
                };
                let l = self_ref_m2o_processed(session, rel, deleted, own)?;
                match before {
                    Some(i) => reads.self_ref[i].1 = l,
                    None => reads.self_ref.push((r, l)),
                }
            }
        }
        let load = reads
            .self_ref
            .iter()
            .any(|(x, l)| *l && std::ptr::eq(*x, r));
        let read_early = own.iter().any(|(x, _)| std::ptr::eq(*x, r));
        let fresh_one = !reads.seen.contains(&Rc::as_ptr(inst));
        if load {
            self_ref_m2o_load(session, inst, rel)?;
        } else if fresh_one && (!read_early || inst.status() != Status::Persistent) {
            // (read before the collections loaded, or in an earlier pass, it found
            // nothing: what they loaded since is not read into it)
            m2o_without_fetch(inst, rel)?;
        }
    }
    Ok(())
}

/// A deleted object's self-referential many-to-one as the per-state actions read it
/// (SQLAlchemy's PASSIVE_OFF): `nil` for a NULL key (also one an INSERT left NULL), the
/// object of the identity map (also one marked for deletion), else loaded.
fn self_ref_m2o_load(
    session: &SessionCore,
    inst: &Rc<Instance>,
    rel: &Rc<Relationship>,
) -> Result<()> {
    let values = committed_values(inst, &rel.local)?;
    let found = if values.iter().any(Value::is_null) {
        None
    } else {
        let key = super::identity::IdentityKey::new(rel.target().id, &values);
        match key.and_then(|k| session.find(&k)) {
            Some(f) if f.status() != Status::Deleted => Some(f),
            _ => return session.load_relationship_against_committed(inst, rel),
        }
    };
    store_reference(inst, rel, found);
    Ok(())
}

/// What SQLAlchemy's flush reads of an object whose delete a one-to-many cancels (it
/// gained the object) before cancelling it: the preprocess of a self-referential
/// many-to-one (declared before the one-to-many, so run first) asks whether the deleted
/// objects have history (`prop_has_changes`, without fetching another object), which loads
/// the reference from the row and the identity map; the cancelled object is then saved, so
/// the per-state actions of the deletes do not read it again.
fn m2o_read_before_cancel(inst: &Rc<Instance>) -> Result<()> {
    if inst.status() != Status::Persistent {
        return Ok(());
    }
    let rels: Vec<Rc<Relationship>> = inst.mapper.relationships.borrow().clone();
    for rel in rels {
        if rel.viewonly
            || rel.direction != Direction::ManyToOne
            || !Rc::ptr_eq(&rel.target(), &inst.mapper)
            || inst.rel_loaded(rel.index)
        {
            continue;
        }
        m2o_without_fetch(inst, &rel)?;
    }
    Ok(())
}

/// What SQLAlchemy's flush loads of an object whose delete a one-to-many of its own mapper
/// cancels (a self-referential collection gained it): that relationship's preprocess runs
/// the presort of its deleted objects before that of its saved ones, which cancels the
/// delete, and the presort of a delete loads the deleted object's collection (the children
/// to update); so do the preprocesses of the mapper's collections declared before it, which
/// run first. Those declared after it find the object saved and load nothing (seed 1005).
fn collections_read_before_cancel(
    session: &SessionCore,
    inst: &Rc<Instance>,
    upto: usize,
) -> Result<()> {
    if inst.status() != Status::Persistent {
        return Ok(());
    }
    let rels: Vec<Rc<Relationship>> = inst.mapper.relationships.borrow().clone();
    for rel in rels.iter().filter(|r| r.index <= upto) {
        if rel.viewonly
            || rel.passive_deletes
            || !matches!(rel.direction, Direction::OneToMany | Direction::ManyToMany)
            || inst.rel_loaded(rel.index)
        {
            continue;
        }
        session.load_relationship_against_committed(inst, rel)?;
    }
    Ok(())
}

/// Stores `found` as the loaded, unchanged value of many-to-one `rel` of `inst`.
fn store_reference(inst: &Rc<Instance>, rel: &Relationship, found: Option<Rc<Instance>>) {
    inst.store_loaded(
        rel.index,
        RelState::Scalar(super::collections::ScalarRef {
            value: found,
            changed: false,
            replaced: None,
            key_cleared: false,
        }),
    );
}

/// The key of many-to-one `rel` of `inst` as the flush reads it (SQLAlchemy's history
/// loads against the committed state, `committed_values`), and whether it is NULL for a
/// column an INSERT left unset and nothing changed since (not in SQLAlchemy's `__dict__`:
/// its history reads nothing).
fn committed_key(inst: &Rc<Instance>, rel: &Relationship) -> Result<(Vec<Value>, bool)> {
    let values = committed_values(inst, &rel.local)?;
    // (a column not changed since: its committed value is the one it holds)
    Ok((values, super::collections::key_never_set(inst, rel)))
}

/// What a deleted object's many-to-one references without loading another object
/// (SQLAlchemy's history with PASSIVE_NO_FETCH_RELATED, against the committed key):
/// nothing when the key is NULL, else the object of the identity map, loaded or not;
/// stored as loaded. Whether it was (the history is not empty): not for a key an INSERT
/// left unset, nor for an object not in the identity map.
fn m2o_without_fetch(inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<bool> {
    let (values, never_set) = committed_key(inst, rel)?;
    let null = values.iter().any(Value::is_null);
    if null && never_set {
        return Ok(false);
    }
    let found = if null {
        None
    } else {
        match target_in_identity_map(inst, rel, &values) {
            Some(f) => Some(f),
            None => return Ok(false),
        }
    };
    store_reference(inst, rel, found);
    Ok(true)
}

/// The deleted objects' part of `self_ref_m2o_processed`: one has the reference loaded,
/// or readable without loading another object.
fn self_ref_m2o_own(rel: &Rc<Relationship>, deleted: &[Rc<Instance>]) -> Result<bool> {
    let mapper = rel.target();
    for d in deleted.iter().filter(|d| Rc::ptr_eq(&d.mapper, &mapper)) {
        if matches!(d.rel_state(rel.index), RelState::Scalar(_)) {
            return Ok(true);
        }
        if d.status() != Status::Persistent {
            continue;
        }
        let (values, never_set) = committed_key(d, rel)?;
        let null = values.iter().any(Value::is_null);
        if (null && !never_set) || (!null && target_in_identity_map(d, rel, &values).is_some()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether SQLAlchemy's flush processes the self-referential many-to-one `rel` (its
/// `prop_has_changes`), which then loads it on every deleted object of the mapper
/// (per-state actions of a cycle read the whole history): some history of it is not
/// empty. A loaded reference is, `nil` included (SQLAlchemy's unchanged `[None]`); a
/// deleted object's reference not loaded is read without loading another object: a NULL
/// key read from the row (not one an INSERT left NULL), or the object of the identity map.
/// The saved objects are the new and modified ones and the members of the one-to-many
/// collections of deleted objects whose keys the flush sets to NULL.
/// `own`: the deleted objects' part (`self_ref_m2o_own`), read where SQLAlchemy reads it.
fn self_ref_m2o_processed(
    session: &SessionCore,
    rel: &Rc<Relationship>,
    deleted: &[Rc<Instance>],
    own: bool,
) -> Result<bool> {
    let mapper = rel.target();
    let loaded = |o: &Rc<Instance>| matches!(o.rel_state(rel.index), RelState::Scalar(_));
    let of_mapper = |o: &Rc<Instance>| Rc::ptr_eq(&o.mapper, &mapper);
    if own {
        return Ok(true);
    }
    let saved = session
        .new
        .borrow()
        .iter()
        .chain(session.modified.borrow().iter())
        .filter(|o| {
            let st = o.state();
            !st.marked_deleted() && st.status != Status::Deleted
        })
        .any(|o| of_mapper(o) && loaded(o));
    if saved {
        return Ok(true);
    }
    for d in deleted {
        for r in d.mapper.relationships.borrow().iter() {
            if r.viewonly
                || r.direction != Direction::OneToMany
                || r.cascade.delete
                || !Rc::ptr_eq(&r.target(), &mapper)
            {
                continue;
            }
            // the members the flush saves: those of the collection as committed (not the
            // ones appended since), in this session (SQLAlchemy's register_object leaves
            // out an object of no session), not deleted by an earlier flush (seed 10472)
            if let RelState::Collection(c) = d.rel_state(r.index) {
                if c.items.iter().any(|m| {
                    of_mapper(m)
                        && !c.added.iter().any(|x| Rc::ptr_eq(x, m))
                        && session.owns(m)
                        && !m.state().marked_deleted()
                        && m.status() != Status::Deleted
                        && loaded(m)
                }) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// The delete cascades of the objects marked deleted, to a fixed point: children deleted
/// with their parent, or their foreign keys set to NULL; association rows removed.
fn cascade_deletes(
    session: &SessionCore,
    done: &mut FxHashSet<*const Instance>,
    nullify: &mut Vec<SyncRule>,
    plan: &mut Plan,
) -> Result<()> {
    loop {
        let deleted: Vec<Rc<Instance>> = session
            .deleted
            .borrow()
            .iter()
            .filter(|d| !done.contains(&Rc::as_ptr(d)))
            .cloned()
            .collect();
        if deleted.is_empty() {
            break;
        }
        for d in deleted {
            done.insert(Rc::as_ptr(&d));
            let rels: Vec<Rc<Relationship>> = d.mapper.relationships.borrow().clone();
            for rel in rels {
                if rel.viewonly {
                    continue;
                }
                if rel.direction == Direction::ManyToMany {
                    // one this loop deleted (an orphan of an owner deleted here): its rows are
                    // loaded as `load_for_deletes` loads those of the objects deleted before
                    // (SQLAlchemy's presort of a deletion loads the collection; seed 8540)
                    if !rel.passive_deletes
                        && !d.rel_loaded(rel.index)
                        && d.status() == Status::Persistent
                    {
                        session.load_relationship_against_committed(&d, &rel)?;
                    }
                    let members = match d.state().rels.as_ref().and_then(|v| v.get(rel.index)) {
                        Some(RelState::Collection(c)) => c
                            .items
                            .iter()
                            .filter(|x| !c.added.iter().any(|a| Rc::ptr_eq(a, x)))
                            .chain(c.removed.iter())
                            .cloned()
                            .collect(),
                        _ => Vec::new(),
                    };
                    let rows = members.iter().map(|m| assoc_row(&rel, &d, m)).collect();
                    plan.assoc_delete_all.push(AssocOf { members, rows });
                    continue;
                }
                if rel.direction != Direction::OneToMany {
                    continue;
                }
                if rel.passive_deletes && !d.rel_loaded(rel.index) {
                    continue; // ON DELETE CASCADE / SET NULL in the database does it
                }
                if !d.rel_loaded(rel.index) {
                    session.load_relationship_against_committed(&d, &rel)?;
                }
                // removed since the last flush and not taken by another parent (has-parent
                // false or unknown): SQLAlchemy's delete of the owner clears their keys, also
                // of a delete-orphan collection's member that its flush does not delete (one
                // outside the session: in memory; seed 7)
                let removed: Vec<Rc<Instance>> = match d.rel_state(rel.index) {
                    RelState::Collection(c) | RelState::Pending(c) => c.removed,
                    _ => Vec::new(),
                };
                for child in removed {
                    let st = child.state();
                    if child.has_parent(&rel) == Some(true) || st.marked_deleted() {
                        continue;
                    }
                    if rel.cascade.delete_orphan
                        && st.status == Status::Persistent
                        && session.owns(&child)
                    {
                        // an orphan of a delete-orphan collection: SQLAlchemy's presort of
                        // the deleted owner registers it for deletion (seed 3764: one the
                        // orphan check of the flush's start did not see, not modified),
                        // and the presort of a saved owner that gained it, which runs next,
                        // cancels that (seed 7715): saved, its key read at its UPDATE
                        drop(st);
                        if !gained_by_saved_owner(session, &child, false) {
                            session.delete(&child)?;
                        }
                        continue;
                    }
                    drop(st);
                    nullify.push(SyncRule {
                        child: child.clone(),
                        child_cols: rel.remote.clone(),
                        parent: None,
                        post_update: rel.post_update,
                        one_to_many_of: Some(d.clone()),
                    });
                }
                // appended since the last flush: SQLAlchemy's delete clears the keys of the
                // unchanged members only (the history's added ones are left as they are)
                let added: Vec<Rc<Instance>> = match d.rel_state(rel.index) {
                    RelState::Collection(c) => c.added,
                    _ => Vec::new(),
                };
                for child in related(&d, &rel) {
                    if added.iter().any(|a| Rc::ptr_eq(a, &child)) {
                        continue;
                    }
                    if rel.cascade.delete {
                        // cascaded when delete() was called (SQLAlchemy's flush does not
                        // cascade again): a child appended since is saved, its key pointing
                        // at the row this flush deletes
                        continue;
                    } else if !child.state().marked_deleted() {
                        nullify.push(SyncRule {
                            child: child.clone(),
                            child_cols: rel.remote_on(&child.mapper),
                            parent: None,
                            post_update: rel.post_update,
                            one_to_many_of: Some(d.clone()),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

impl Plan {
    /// Foreign keys to copy or association rows to write.
    pub fn has_work(&self) -> bool {
        !(self.rules.is_empty()
            && self.post_rules.is_empty()
            && self.assoc_insert.is_empty()
            && self.assoc_delete.is_empty()
            && self.assoc_delete_all.is_empty()
            && self.assoc_delete_early.is_empty())
    }

    /// After a successful flush: the recorded relationship changes are written. Not those
    /// of an object the flush deleted: SQLAlchemy commits the history of the saved states
    /// only, so a deleted object keeps its changes (a rollback makes one that was new in the
    /// transaction transient again, and a later `add` cascades to the parent it replaced).
    pub fn clear_changes(&self) {
        for inst in &self.touched {
            let mut st = inst.state_mut();
            if st.marked_deleted() {
                continue;
            }
            st.set_rels_changed(false);
            if let Some(rels) = st.rels.as_mut() {
                for r in rels.iter_mut() {
                    match r {
                        // a write-only collection's changes are written: nothing stays;
                        // nor do an unloaded collection's pending appends, as SQLAlchemy's
                        // commit of the flushed states drops `_pending_mutations` (the rows
                        // are written; a load reads them)
                        RelState::Pending(_) => {
                            *r = RelState::Unloaded;
                        }
                        RelState::Scalar(s) => {
                            s.changed = false;
                            s.replaced = None;
                            s.key_cleared = false;
                        }
                        RelState::Collection(c) => c.clear_history(),
                        RelState::Unloaded | RelState::Deferred(..) => {}
                    }
                }
            }
        }
    }
}
