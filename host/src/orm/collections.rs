//! The in-memory side of relationships: each instance's related objects (a scalar reference
//! or a collection, with what changed since the last flush) and the attribute events that
//! keep both sides of a bidirectional relationship in step (`user.posts:append(p)` makes
//! `p.author == user`) and cascade `save-update` into the session.
//!
//! Related objects are held by strong references; the session's flush reads the changes
//! recorded here (`dependency.rs`) to set foreign keys and association rows.

use std::rc::Rc;

use super::instance::{Instance, InstanceState, Status};
use super::relationships::{Direction, Relationship};
use crate::error::{Error, Result};
use crate::invalid;

/// One relationship of one instance.
#[derive(Clone, Default)]
pub enum RelState {
    /// Not loaded: the next access loads it (by the relationship's strategy).
    #[default]
    Unloaded,
    /// Not loaded, and a loader option of the query that loaded the instance chose how it
    /// loads on access (`raiseload`, `lazyload`), overriding the relationship's default.
    /// With the options of that query for the related objects, rooted at the target.
    Deferred(
        super::relationships::Lazy,
        Option<Rc<Vec<super::strategy_options::LoaderOption>>>,
    ),
    Scalar(ScalarRef),
    Collection(Collection),
    /// A collection not loaded, with the changes made to it meanwhile through the other
    /// side (a child's many-to-one set or moved): `added` and `removed` are applied on top
    /// of the rows when it loads (`items` unused), as SQLAlchemy's pending collection.
    Pending(Collection),
}

#[derive(Clone, Default)]
pub struct ScalarRef {
    pub value: Option<Rc<Instance>>,
    /// Set in this session since the last flush: the foreign key follows it at flush.
    pub changed: bool,
    /// The object it held at the last flush, when set since (a one-to-one's replaced
    /// child: its foreign key is cleared, or with delete-orphan it is deleted). Kept when
    /// set back to it (no change, as SQLAlchemy's committed value stays recorded): the
    /// save-update cascade of a later change still walks it.
    pub replaced: Option<Rc<Instance>>,
    /// A rollback cleared the generated key of the object it holds (`resync_cleared_keys`):
    /// a change even when set back to the object it held.
    pub key_cleared: bool,
}

#[derive(Clone, Default)]
pub struct Collection {
    pub items: Vec<Rc<Instance>>,
    /// Appended since the last flush (and still present).
    pub added: Vec<Rc<Instance>>,
    /// Removed since the last flush (and not appended again), in the order they had then.
    pub removed: Vec<Rc<Instance>>,
    /// The members at the last flush (or load) in their order, kept from the first removal
    /// since: `removed` follows it, as SQLAlchemy's history lists the deleted members in
    /// the order of the committed collection (the save-update cascade visits them in that
    /// order, seed 699).
    pub(crate) original: Option<Rc<Vec<Rc<Instance>>>>,
}

impl Collection {
    pub fn contains(&self, x: &Rc<Instance>) -> bool {
        self.items.iter().any(|i| Rc::ptr_eq(i, x))
    }
    fn push(&mut self, x: &Rc<Instance>) {
        self.items.push(x.clone());
        if let Some(p) = self.removed.iter().position(|i| Rc::ptr_eq(i, x)) {
            self.removed.remove(p);
        } else {
            self.added.push(x.clone());
        }
    }
    /// Records `x` appended to a collection not loaded.
    fn pending_add(&mut self, x: &Rc<Instance>) {
        if let Some(p) = self.removed.iter().position(|i| Rc::ptr_eq(i, x)) {
            self.removed.remove(p);
        } else if !self.added.iter().any(|i| Rc::ptr_eq(i, x)) {
            self.added.push(x.clone());
        }
    }
    /// Records `x` removed from a collection not loaded.
    fn pending_remove(&mut self, x: &Rc<Instance>) {
        if let Some(p) = self.added.iter().position(|i| Rc::ptr_eq(i, x)) {
            self.added.remove(p);
        } else if !self.removed.iter().any(|i| Rc::ptr_eq(i, x)) {
            self.removed.push(x.clone());
        }
    }
    fn take(&mut self, x: &Rc<Instance>) -> bool {
        let Some(p) = self.items.iter().position(|i| Rc::ptr_eq(i, x)) else {
            return false;
        };
        if let Some(a) = self.added.iter().position(|i| Rc::ptr_eq(i, x)) {
            self.items.remove(p);
            self.added.remove(a);
            return true;
        }
        if self.removed.is_empty() {
            // the first removal since the last flush: the members then are the items not
            // appended since, in their order
            let added = &self.added;
            self.original = Some(Rc::new(
                self.items
                    .iter()
                    .filter(|i| !added.iter().any(|a| Rc::ptr_eq(a, i)))
                    .cloned()
                    .collect(),
            ));
        }
        self.items.remove(p);
        let at = self
            .original
            .as_ref()
            .and_then(|o| o.iter().position(|i| Rc::ptr_eq(i, x)))
            .map(|n| {
                let o = self.original.as_ref().expect("checked above");
                let before = |r: &Rc<Instance>| {
                    o.iter()
                        .position(|i| Rc::ptr_eq(i, r))
                        .is_some_and(|m| m < n)
                };
                self.removed.iter().take_while(|r| before(r)).count()
            })
            .unwrap_or(self.removed.len());
        self.removed.insert(at, x.clone());
        true
    }

    /// The changes are written (or loaded anew): no history.
    pub(crate) fn clear_history(&mut self) {
        self.added.clear();
        self.removed.clear();
        self.original = None;
    }
}

impl Instance {
    /// A copy of relationship `r`'s state.
    pub fn rel_state(&self, r: usize) -> RelState {
        self.state()
            .rels
            .as_ref()
            .and_then(|v| v.get(r).cloned())
            .unwrap_or_default()
    }

    /// Runs `f` on relationship `r`'s state (created as `Unloaded` if needed).
    pub fn with_rel<T>(&self, r: usize, f: impl FnOnce(&mut RelState) -> T) -> T {
        let mut st = self.state_mut();
        let rels = st.rels.get_or_insert_with(Default::default);
        if rels.states.len() <= r {
            // one slot per relationship of the mapper, allocated once
            let n = self.mapper.relationships.borrow().len().max(r + 1);
            let mut v = std::mem::take(&mut rels.states).into_vec();
            v.resize(n, RelState::Unloaded);
            rels.states = v.into_boxed_slice();
        }
        f(&mut rels.states[r])
    }

    /// Every relationship unloaded (expired): the next access loads it again.
    pub fn expire_relationships(&self) {
        let mut st = self.state_mut();
        if let Some(rels) = st.rels.as_mut() {
            rels.iter_mut().for_each(|r| *r = RelState::Unloaded);
        }
        st.set_rels_changed(false);
    }

    pub fn rel_loaded(&self, r: usize) -> bool {
        !self.rel_is(r, |s| {
            matches!(
                s,
                RelState::Unloaded | RelState::Deferred(..) | RelState::Pending(_)
            )
        })
    }

    /// Relationship `r` neither loaded nor holding pending changes: an eager load may
    /// fill it (a pending collection loads on access, applying its changes).
    pub fn rel_fillable(&self, r: usize) -> bool {
        self.rel_is(r, |s| {
            matches!(s, RelState::Unloaded | RelState::Deferred(..))
        })
    }

    /// Stores relationship `r`'s loaded value; the changes recorded while it was not
    /// loaded (`RelState::Pending`) apply on top of it.
    pub fn store_loaded(self: &Rc<Self>, r: usize, loaded: RelState) {
        let pending = self.with_rel(r, |s| match std::mem::replace(s, loaded) {
            RelState::Pending(p) => Some(p),
            _ => None,
        });
        let Some(p) = pending else { return };
        let changed = self.with_rel(r, |s| {
            let RelState::Collection(c) = s else {
                return false;
            };
            let mut changed = false;
            for x in &p.removed {
                changed |= c.take(x);
            }
            for x in &p.added {
                if !c.contains(x) {
                    c.push(x);
                    changed = true;
                }
            }
            changed
        });
        if changed {
            self.rel_changed();
        }
    }

    /// `f` of relationship `r`'s state, read in place (no copy of a collection).
    pub fn rel_is(&self, r: usize, f: impl FnOnce(&RelState) -> bool) -> bool {
        let st = self.state();
        match st.rels.as_ref().and_then(|v| v.get(r)) {
            Some(s) => f(s),
            None => f(&RelState::Unloaded),
        }
    }

    /// Marks a relationship change for the next flush (queues a persistent object as
    /// modified).
    fn rel_changed(self: &Rc<Self>) {
        self.state_mut().set_rels_changed(true);
        self.mark_modified();
    }

    /// A persistent object joins the session's modified set (SQLAlchemy's modified flag:
    /// `session.dirty`, whole-object expiry when a savepoint rolls back), also for a set
    /// that changes nothing.
    fn mark_modified(self: &Rc<Self>) {
        let mut st = self.state_mut();
        if matches!(st.status, Status::Persistent) && !st.queued_modified() {
            if let Some(s) = st.session.as_ref().and_then(|w| w.upgrade()) {
                st.set_queued_modified(true);
                drop(st);
                s.queue_modified(self.clone(), true);
            }
        } else if st.status == Status::Deleted {
            touch_session_of_deleted(st);
        } else if st.status == Status::Detached {
            st.set_modified_outside(true);
        }
    }
}

/// A deleted object (out of the identity map, still of its session until the transaction
/// ends) changed: SQLAlchemy's modified event begins the session's transaction, and sets the
/// modified flag that a savepoint rollback reverting the deletion reads (seed 1388); the
/// flush leaves it out (seed 1384: after a commit that keeps it, `expire_on_commit = false`).
fn touch_session_of_deleted(mut st: std::cell::RefMut<'_, InstanceState>) {
    // the transaction begins only where the flag goes on: SQLAlchemy's modified event does
    // nothing more for a state already modified (seed 3227)
    if st.changed_while_deleted() {
        return;
    }
    st.set_changed_while_deleted(true);
    if let Some(s) = st.session.as_ref().and_then(|w| w.upgrade()) {
        drop(st);
        s.touched();
    }
}

/// Records a change on collection `r` of `obj`, not loaded (it becomes `Pending`).
fn pend(obj: &Rc<Instance>, r: usize, f: impl FnOnce(&mut Collection)) {
    obj.with_rel(r, |s| {
        if !matches!(s, RelState::Pending(_)) {
            *s = RelState::Pending(Collection::default());
        }
        if let RelState::Pending(c) = s {
            f(c);
        }
    });
    // a pending change makes the object part of the next flush, as SQLAlchemy's pending
    // mutation marks its state modified (it writes nothing of its own)
    let mut st = obj.state_mut();
    if matches!(st.status, Status::Persistent) && !st.queued_modified() {
        if let Some(s) = st.session.as_ref().and_then(|w| w.upgrade()) {
            st.set_queued_modified(true);
            drop(st);
            s.queue_modified(obj.clone(), true);
        }
    } else if st.status == Status::Deleted {
        touch_session_of_deleted(st);
    } else if st.status == Status::Detached {
        st.set_modified_outside(true);
    }
}

/// After a rollback made `inst` transient and cleared generated keys (BEHAVIOUR 1): a
/// many-to-one whose object lost its loaded key in that rollback (`cleared` holds them) holds a
/// stale copy of it in `inst`'s foreign key, so it counts as changed and the next flush
/// copies the object's new key. (SQLAlchemy keeps both keys, so its copy stays right.)
pub(crate) fn resync_cleared_keys(
    inst: &Rc<Instance>,
    cleared: &super::identity::FxHashSet<*const Instance>,
) {
    let mut stale = false;
    {
        let mut st = inst.state_mut();
        let Some(rels) = st.rels.as_mut() else {
            return;
        };
        for rel in inst.mapper.relationships.borrow().iter() {
            if rel.direction != Direction::ManyToOne || rel.viewonly {
                continue;
            }
            if let Some(RelState::Scalar(s)) = rels.get_mut(rel.index) {
                if !s.changed
                    && s.value
                        .as_ref()
                        .is_some_and(|t| cleared.contains(&Rc::as_ptr(t)))
                {
                    s.changed = true;
                    s.key_cleared = true;
                    // its original is unknown now (the comparison's contract: no old
                    // value for the cascade or the one-to-one's replaced child, seed 379)
                    s.replaced = None;
                    stale = true;
                }
            }
        }
    }
    if stale {
        inst.state_mut().set_rels_changed(true);
    }
}

/// Whether an object of the identity map is an answer without SQL: one expired whole is
/// not (SQLAlchemy's `expired` flag), one whose key columns were expired by name is, and so
/// is one a bulk UPDATE's synchronization took out of that state (seeds 3983, 7974).
fn readable_without_sql(o: &Rc<Instance>) -> bool {
    let st = o.state();
    st.expired_flag_reset() || o.mapper.pk.iter().all(|&k| st.loaded.contains(k))
}

/// A many-to-one's value as SQLAlchemy's passive get finds it without SQL: `Some(None)` for
/// a NULL key loaded, `Some(object)` for the object of the identity map its key names,
/// `None` when unknown (the key not loaded, or its object not in memory or expired).
fn passive_many_to_one(obj: &Rc<Instance>, rel: &Relationship) -> Option<Option<Rc<Instance>>> {
    let (loaded, null, detached) = {
        let st = obj.state();
        (
            rel.local.iter().all(|&c| st.loaded.contains(c)),
            rel.local.iter().any(|&c| st.values[c].is_null()),
            st.status == Status::Detached,
        )
    };
    // SQLAlchemy's lazy loader asks for the object's session before it looks at the key:
    // a detached object's old value is unknown even when its key is NULL, so the backref's
    // set goes ahead, and marks it modified (seed 2271)
    if !loaded || detached {
        return None;
    }
    if null {
        return Some(None);
    }
    super::strategies::many_to_one_in_identity_map(obj, rel)
        .filter(readable_without_sql)
        .map(Some)
}

/// Whether a many-to-one's key is a NULL an INSERT left unset, not set since (SQLAlchemy
/// never put it in `__dict__`: its history and its loader read nothing).
pub(crate) fn key_never_set(obj: &Instance, rel: &Relationship) -> bool {
    let st = obj.state();
    rel.local.iter().any(|&c| {
        st.values[c].is_null()
            && st.nulls_never_set.contains(c)
            && !st.committed.iter().any(|(a, _)| *a == c)
    })
}

/// Sets a scalar relationship's value, as changed since the last flush.
fn put_scalar(obj: &Rc<Instance>, r: usize, value: Option<Rc<Instance>>) {
    obj.with_rel(r, |s| {
        let (replaced, key_cleared) = match s {
            RelState::Scalar(old) if old.changed => (old.replaced.take(), old.key_cleared),
            RelState::Scalar(old) => (old.value.take(), false),
            _ => (None, false),
        };
        // set back to the object it held at the last flush: no change (SQLAlchemy's history
        // compares the value with the committed one), unless a rollback cleared that
        // object's key since (`resync_cleared_keys`: the key is copied again)
        let back =
            !key_cleared && matches!((&value, &replaced), (Some(v), Some(r)) if Rc::ptr_eq(v, r));
        *s = RelState::Scalar(ScalarRef {
            value,
            changed: !back,
            replaced,
            key_cleared,
        })
    });
    obj.rel_changed();
}

/// An object that left a delete-orphan collection, when that made it an orphan (its
/// has-parent flag false; a removal from another parent than its last leaves it): expunged
/// at once when it is pending in the collection's owner's session (SQLAlchemy's remove
/// event acts through the owner's session), else flagged (transient, or in another session,
/// or pending where the owner is not) for the flush that finds it pending to expunge.
fn expunge_pending_orphan(child: &Rc<Instance>, owner: &Rc<Instance>) -> Result<()> {
    if !child.is_orphan() {
        return Ok(());
    }
    if child.status() == Status::Pending {
        if let Some(s) = child.session() {
            if owner.session().is_some_and(|o| Rc::ptr_eq(&s, &o)) {
                return s.expunge(child);
            }
        }
    }
    child.state_mut().set_orphaned_outside(true);
    Ok(())
}

/// An object the save-update cascade cannot bring into the parent's session (its row deleted
/// by a flush, or attached to another session) cannot be linked: refused before anything
/// changes, as SQLAlchemy's cascade listener raises before the collection or the reference
/// changes. One the session's identity map holds (a deleted object a delete cascade took
/// again, `attach_deleted`) is already there, and SQLAlchemy's listener leaves what its
/// session contains alone: linked, its flush then saves it (seed 7979).
fn refuse_deleted(parent: &Rc<Instance>, rel: &Relationship, child: &Rc<Instance>) -> Result<()> {
    if !rel.cascade.save_update || rel.viewonly {
        return Ok(());
    }
    let Some(s) = parent.session() else {
        return Ok(());
    };
    let refused = match child.status() {
        Status::Deleted => !s.holds(child),
        Status::Detached => child.state().was_deleted(),
        _ => child.session().is_some_and(|other| !s.is(&other)),
    };
    if refused {
        return s.add(child); // raises "has been deleted" / "already attached"
    }
    Ok(())
}

/// Adds `child` to the parent's session when the relationship cascades save-update.
fn cascade_into_session(
    parent: &Rc<Instance>,
    rel: &Relationship,
    child: &Rc<Instance>,
) -> Result<()> {
    if !rel.cascade.save_update || rel.viewonly {
        return Ok(());
    }
    if let Some(s) = parent.session() {
        if child.status() == Status::Deleted {
            if s.holds(child) {
                return Ok(()); // already in the identity map (`refuse_deleted`)
            }
            return s.add(child); // a deleted (flushed) object cannot come back: raises
        }
        if child.session().is_none()
            && matches!(child.status(), Status::Transient | Status::Detached)
        {
            s.add(child)?;
            s.cascade_add(child)?;
        }
    }
    Ok(())
}

fn check_target(rel: &Relationship, x: &Rc<Instance>) -> Result<()> {
    let t = rel.target();
    if !x.mapper.isa(&t) {
        return Err(crate::arg_err!(
            "{}: expected an instance of {}, got {}",
            rel.path(),
            t.class_name,
            x.mapper.class_name
        ));
    }
    // a concrete subclass of a class not read through a union (one of a plain model) has a
    // table the relationship never reads, nor its joining columns
    if x.mapper.id != t.id && x.mapper.concrete().is_some() && !t.reads_union() {
        return Err(crate::arg_err!(
            "{}: {} is a concrete subclass of {} with a table of its own, which this relationship does not read (relate to {} itself)",
            rel.path(),
            x.mapper.class_name,
            t.class_name,
            x.mapper.class_name
        ));
    }
    Ok(())
}

/// Which attribute event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrEvent {
    /// An object joins a collection.
    Append,
    /// An object leaves a collection.
    Remove,
    /// A scalar reference is set (to an object or nil).
    Set,
}

/// The operation that started a chain of attribute events, as SQLAlchemy's initiator:
/// the relationship changed by the program and how. The other side of a bidirectional
/// relationship gets the initiator of the change that caused its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitiatorOp {
    Append,
    Remove,
    /// A scalar reference set.
    Replace,
    /// A collection assigned as a whole (`p.children = { ... }`, the constructor).
    BulkReplace,
}

#[derive(Clone, Copy)]
pub struct Initiator<'a> {
    pub rel: &'a Relationship,
    pub op: InitiatorOp,
}

/// The listeners of one relationship's attribute events (the binding's). `old` is the
/// value a `Set` replaces. Returns the value to use: a listener registered with retval
/// may replace it (only the event of the change the program made uses it).
pub trait AttrListener {
    fn fire(
        &self,
        target: &Rc<Instance>,
        rel: &Relationship,
        event: AttrEvent,
        value: Option<Rc<Instance>>,
        old: Option<Rc<Instance>>,
        initiator: Initiator<'_>,
    ) -> Result<Option<Rc<Instance>>>;

    /// A collection about to be assigned as a whole (`bulk_replace`): listeners may change
    /// `values`, the members it will hold, in place.
    fn bulk_replace(
        &self,
        target: &Rc<Instance>,
        rel: &Relationship,
        values: &mut Vec<Rc<Instance>>,
        initiator: Initiator<'_>,
    ) -> Result<()>;
}

/// Whether `rel` has attribute listeners (what the events check before any extra work).
fn listened(rel: &Relationship) -> bool {
    rel.listener.0.borrow().is_some()
}

/// Fires `event` of `rel` on `target` when `rel` has listeners (otherwise `value`, at the
/// cost of one borrow).
fn fire(
    target: &Rc<Instance>,
    rel: &Relationship,
    event: AttrEvent,
    value: Option<Rc<Instance>>,
    old: Option<Rc<Instance>>,
    initiator: Initiator<'_>,
) -> Result<Option<Rc<Instance>>> {
    let listener = rel.listener.0.borrow().clone();
    match listener {
        None => Ok(value),
        Some(l) => l.fire(target, rel, event, value, old, initiator),
    }
}

/// The attribute events of relationships. An unloaded relationship is loaded first, by its
/// strategy (`strategies.rs`). Listeners run for the change the program makes, then for
/// each change it makes on the other side of a bidirectional relationship (once: an event
/// on the other side does not come back), as SQLAlchemy's backref handlers do.
pub struct Events;

/// The remove event of `member` on `owner`'s collection `rel` (the value a retval listener
/// gave back, or the member).
fn fire_remove(
    owner: &Rc<Instance>,
    rel: &Relationship,
    member: &Rc<Instance>,
    initiator: Initiator<'_>,
) -> Result<Option<Rc<Instance>>> {
    fire(
        owner,
        rel,
        AttrEvent::Remove,
        Some(member.clone()),
        None,
        initiator,
    )
}

impl Events {
    fn ensure(&self, inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        if !inst.rel_loaded(rel.index) {
            super::session::SessionCore::load_on_access(inst, rel)?;
        }
        Ok(())
    }

    /// `parent.rel = value` for a scalar (many-to-one, one-to-one) relationship.
    pub fn set_scalar(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        value: Option<Rc<Instance>>,
    ) -> Result<()> {
        if let Some(v) = &value {
            check_target(rel, v)?;
        }
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be set", rel.path()));
        }
        let reverse = rel.reverse();
        // the old value matters only to keep the reverse side in step; a many-to-one's
        // comes from the identity map without SQL, or stays unknown (as SQLAlchemy's
        // passive history does), so setting it never loads nor raises
        // the old value stored only to be looked up (unknown to SQLAlchemy, which then
        // leaves the attribute unloaded when the set is refused)
        let mut unknown_old = false;
        // a many-to-one of an object whose DELETE was flushed (still in its session until
        // the commit) finds its old value in the identity map as a persistent one's does:
        // SQLAlchemy's lazy loader looks it up for any object with a key and a session, so
        // the backref takes the object out of the old owner's loaded collection (seed 1466)
        let status = parent.status();
        let looks_up = status == Status::Persistent
            || (status == Status::Deleted && rel.direction == Direction::ManyToOne);
        if reverse.is_some() && looks_up && !parent.rel_loaded(rel.index) {
            if rel.direction == Direction::ManyToOne {
                // an expired object of the identity map is not read without SQL: the old
                // value stays unknown (SQLAlchemy's PASSIVE_NO_RESULT) and no backref event
                // reaches its collection
                let old = super::strategies::many_to_one_in_identity_map(parent, rel)
                    .filter(readable_without_sql);
                // known: the object found, or a NULL key loaded from the row or set (one the
                // INSERT left NULL without a value is SQLAlchemy's NEVER_SET)
                let known = {
                    let st = parent.state();
                    let loaded = rel.local.iter().all(|&c| st.loaded.contains(c));
                    let null = rel.local.iter().any(|&c| st.values[c].is_null());
                    loaded
                        && if null {
                            !rel.local.iter().any(|&c| st.nulls_never_set.contains(c))
                        } else {
                            old.is_some()
                        }
                };
                parent.with_rel(rel.index, |s| {
                    *s = RelState::Scalar(ScalarRef {
                        value: old,
                        changed: false,
                        replaced: None,
                        key_cleared: false,
                    })
                });
                unknown_old = !known;
            } else {
                self.ensure(parent, rel)?;
            }
        }
        let old = match parent.rel_state(rel.index) {
            RelState::Scalar(s) => s.value,
            _ => None,
        };
        let initiator = Initiator {
            rel,
            op: InitiatorOp::Replace,
        };
        // a refused set leaves a reference whose old value was unknown not loaded
        let refused = |e: Error| {
            if unknown_old {
                parent.with_rel(rel.index, |s| *s = RelState::Unloaded);
            }
            e
        };
        let value =
            fire(parent, rel, AttrEvent::Set, value, old.clone(), initiator).map_err(refused)?;
        if let Some(v) = &value {
            check_target(rel, v).map_err(refused)?;
        }
        // the object it holds already: no cascade, nothing refused (SQLAlchemy's listener
        // returns at once)
        if let (Some(o), Some(v)) = (&old, &value) {
            if Rc::ptr_eq(o, v) {
                // (a deleted object's modified event begins only where its flag goes on:
                // `mark_modified` below, seed 3227)
                if let Some(s) = parent
                    .session()
                    .filter(|_| parent.status() != Status::Deleted)
                {
                    s.touched();
                }
                // SQLAlchemy records the value held at the last flush all the same: a later
                // change's save-update cascade walks it
                // (until the next flush: it takes part in it, which clears the record)
                let recorded = parent.with_rel(rel.index, |s| match s {
                    RelState::Scalar(sc) if !sc.changed => {
                        sc.replaced = Some(o.clone());
                        true
                    }
                    _ => false,
                });
                if recorded {
                    parent.rel_changed();
                } else {
                    parent.mark_modified();
                }
                return Ok(());
            }
        }
        // nil over a loaded nil, the value of the last flush: no change (SQLAlchemy's
        // history holds it unchanged, so its flush copies no NULL into the foreign key, which
        // may be expired), only the modified flag (seed 672)
        if old.is_none()
            && value.is_none()
            && !unknown_old
            && parent.state().key.is_some()
            && parent.rel_is(
                rel.index,
                |s| matches!(s, RelState::Scalar(sc) if !sc.changed),
            )
        {
            if let Some(s) = parent
                .session()
                .filter(|_| parent.status() != Status::Deleted)
            {
                s.touched();
            }
            parent.mark_modified();
            return Ok(());
        }
        if let Some(v) = &value {
            refuse_deleted(parent, rel, v).map_err(refused)?;
        }
        // SQLAlchemy's listeners in their order: the save-update cascade (refusing an object
        // it cannot attach before anything changes), then the change and the backref
        if let Some(v) = &value {
            cascade_into_session(parent, rel, v).map_err(refused)?;
        }
        put_scalar(parent, rel.index, value.clone());
        // a one-to-one's has-parent flags: the replaced object loses it, the new one has it
        if let Some(o) = &old {
            o.set_has_parent(rel, parent, false);
        }
        if let Some(v) = &value {
            v.set_has_parent(rel, parent, true);
        }
        if reverse.is_some() {
            // the reverse on each object's class (a concrete class's own)
            if let Some(o) = &old {
                if let Some(rev) = rel.reverse_on(&o.mapper) {
                    self.reverse_remove(o, &rev, parent, initiator)?;
                }
            }
            if let Some(v) = &value {
                if let Some(rev) = rel.reverse_on(&v.mapper) {
                    self.reverse_add(v, &rev, parent, initiator)?;
                }
            }
        }
        Ok(())
    }

    /// `parent.rel:append(child)`.
    pub fn append(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
    ) -> Result<()> {
        self.append_as(parent, rel, child, InitiatorOp::Append)
    }

    fn append_as(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
        op: InitiatorOp,
    ) -> Result<()> {
        check_target(rel, child)?;
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be changed", rel.path()));
        }
        let write_only = rel.lazy.never_loads();
        if !write_only {
            self.ensure(parent, rel)?;
        }
        let check_dup = |child: &Rc<Instance>| {
            let dup = parent.rel_is(
                rel.index,
                |s| matches!(s, RelState::Collection(c) if c.contains(child)),
            );
            if dup {
                return Err(invalid!(
                    "{} already contains {}; an object appears in a collection once",
                    rel.path(),
                    child.describe()
                ));
            }
            Ok(())
        };
        check_dup(child)?;
        refuse_deleted(parent, rel, child)?;
        let initiator = Initiator { rel, op };
        let fired = fire(
            parent,
            rel,
            AttrEvent::Append,
            Some(child.clone()),
            None,
            initiator,
        )?;
        let child = match fired {
            Some(c) if Rc::ptr_eq(&c, child) => c,
            Some(c) => {
                // a retval listener gave another object
                check_target(rel, &c)?;
                check_dup(&c)?;
                c
            }
            None => {
                return Err(invalid!(
                    "{}: an append listener returned nil instead of an object",
                    rel.path()
                ))
            }
        };
        let child = &child;
        // SQLAlchemy's listeners in their order: the save-update cascade (refusing an object
        // it cannot attach before anything changes), then the change and the backref (whose
        // removal from an old parent may expunge a pending orphan for good)
        cascade_into_session(parent, rel, child)?;
        if write_only {
            // recorded for the flush; the collection itself is never in memory
            pend(parent, rel.index, |c| c.pending_add(child));
        } else {
            parent.with_rel(rel.index, |s| {
                if !matches!(s, RelState::Collection(_)) {
                    *s = RelState::Collection(Collection::default());
                }
                if let RelState::Collection(c) = s {
                    c.push(child);
                }
            });
        }
        parent.rel_changed();
        if let Some(rev) = rel.reverse_on(&child.mapper) {
            self.reverse_add(child, &rev, parent, initiator)?;
        }
        // has-parent is set after the backref's events (leaving the old parent clears it),
        // as SQLAlchemy's append event sets it after its listeners
        child.set_has_parent(rel, parent, true);
        Ok(())
    }

    /// `parent.rel:remove(child)`; false when it was not there.
    pub fn remove(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
    ) -> Result<bool> {
        self.remove_as(parent, rel, child, InitiatorOp::Remove)
    }

    fn remove_as(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
        op: InitiatorOp,
    ) -> Result<bool> {
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be changed", rel.path()));
        }
        let write_only = rel.lazy.never_loads();
        if !write_only {
            self.ensure(parent, rel)?;
        }
        let initiator = Initiator { rel, op };
        let fired;
        let child = if listened(rel) {
            // a write-only collection's members are not known: the removal is recorded
            let present = write_only
                || parent.rel_is(
                    rel.index,
                    |s| matches!(s, RelState::Collection(c) if c.contains(child)),
                );
            if !present {
                return self.remove_non_member(parent, rel, child, initiator);
            }
            fired = fire_remove(parent, rel, child, initiator)?;
            match &fired {
                Some(c) => c,
                None => return Ok(false),
            }
        } else {
            child
        };
        let removed = if write_only {
            pend(parent, rel.index, |c| c.pending_remove(child));
            true
        } else {
            parent.with_rel(rel.index, |s| match s {
                RelState::Collection(c) => c.take(child),
                _ => false,
            })
        };
        if !removed {
            return self.remove_non_member(parent, rel, child, initiator);
        }
        child.set_has_parent(rel, parent, false);
        parent.rel_changed();
        // a pending orphan never reaches the database: expunged when the collection's owner
        // is in its session (SQLAlchemy's remove event acts through the owner's session)
        if rel.cascade.delete_orphan {
            expunge_pending_orphan(child, parent)?;
        }
        if let Some(rev) = rel.reverse_on(&child.mapper) {
            self.reverse_remove(child, &rev, parent, initiator)?;
        }
        Ok(true)
    }

    /// `parent.rel:remove(child)` of an object not in the (loaded) list: SQLAlchemy's list
    /// runs its remove event before it looks for the member, then raises `ValueError`. So
    /// the listeners hear it, the owner counts as modified (a savepoint's rollback expires it
    /// whole), the object loses its has-parent flag, and the other side lets go of the owner.
    /// A dictionary collection looks the key up first: nothing happens.
    fn remove_non_member(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
        initiator: Initiator<'_>,
    ) -> Result<bool> {
        if rel.keyed || rel.lazy.never_loads() {
            return Ok(false);
        }
        if listened(rel) {
            fire_remove(parent, rel, child, initiator)?;
        }
        child.set_has_parent(rel, parent, false);
        parent.mark_modified();
        if rel.cascade.delete_orphan {
            expunge_pending_orphan(child, parent)?;
        }
        if let Some(rev) = rel.reverse() {
            self.reverse_remove(child, &rev, parent, initiator)?;
        }
        Ok(false)
    }

    /// `parent.rel = { ... }` (and the constructor's `Model{ rel = { ... } }`): the
    /// collection becomes exactly `items`. As SQLAlchemy's bulk replace: the new members
    /// are appended first, in order, then the dropped ones removed, each with its events.
    pub fn replace(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        items: &[Rc<Instance>],
    ) -> Result<()> {
        self.replace_as(parent, rel, items, InitiatorOp::BulkReplace)
    }

    /// `parent.rel:clear()`: each member removed (a `remove` event each).
    pub fn clear(&self, parent: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        self.replace_as(parent, rel, &[], InitiatorOp::Remove)
    }

    fn replace_as(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        items: &[Rc<Instance>],
        op: InitiatorOp,
    ) -> Result<()> {
        let listener = rel.listener.0.borrow().clone();
        let mut changed_items;
        let items = match listener {
            Some(l) if op == InitiatorOp::BulkReplace => {
                changed_items = items.to_vec();
                l.bulk_replace(parent, rel, &mut changed_items, Initiator { rel, op })?;
                &changed_items[..]
            }
            _ => items,
        };
        for x in items {
            check_target(rel, x)?;
        }
        for (n, x) in items.iter().enumerate() {
            if items[..n].iter().any(|y| Rc::ptr_eq(x, y)) {
                return Err(invalid!(
                    "{}: {} appears twice in the assigned list",
                    rel.path(),
                    x.describe()
                ));
            }
        }
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be changed", rel.path()));
        }
        let current = if rel.lazy.never_loads() {
            // only the members added to an object without a row are known
            if parent.state().key.is_some() {
                return Err(invalid!(
                    "Collection \"{}\" (lazy = \"{}\") does not support implicit iteration; collection replacement operations can't be used: add() and remove() members",
                    rel.path(),
                    rel.lazy.name()
                ));
            }
            match parent.rel_state(rel.index) {
                RelState::Pending(c) => c.added,
                _ => Vec::new(),
            }
        } else {
            self.ensure(parent, rel)?;
            match parent.rel_state(rel.index) {
                RelState::Collection(c) => c.items,
                _ => Vec::new(),
            }
        };
        for x in items {
            if !current.iter().any(|y| Rc::ptr_eq(x, y)) {
                self.append_as(parent, rel, x, op)?;
            }
        }
        for x in &current {
            if !items.iter().any(|y| Rc::ptr_eq(x, y)) {
                self.remove_as(parent, rel, x, op)?;
            }
        }
        // keep the order given (members a retval listener swapped stay as appended)
        parent.with_rel(rel.index, |s| {
            if let RelState::Collection(c) = s {
                if c.items.len() == items.len()
                    && items
                        .iter()
                        .all(|x| c.items.iter().any(|y| Rc::ptr_eq(x, y)))
                {
                    c.items = items.to_vec();
                }
            }
        });
        Ok(())
    }

    /// The reverse side of `rel` on `obj` gains `parent` (backref events: `rev`'s
    /// listeners fire with the initiator of the change on the other side).
    fn reverse_add(
        &self,
        obj: &Rc<Instance>,
        rev: &Rc<Relationship>,
        parent: &Rc<Instance>,
        initiator: Initiator<'_>,
    ) -> Result<()> {
        if rev.uselist && rev.lazy.never_loads() {
            fire(
                obj,
                rev,
                AttrEvent::Append,
                Some(parent.clone()),
                None,
                initiator,
            )?;
            parent.set_has_parent(rev, obj, true);
            pend(obj, rev.index, |c| c.pending_add(parent));
        } else if rev.uselist {
            // only a loaded collection changes in memory; an unloaded one reads the
            // database after the autoflush has written the change
            let loaded_without = obj.rel_is(
                rev.index,
                |s| matches!(s, RelState::Collection(c) if !c.contains(parent)),
            );
            let unloaded = !obj.rel_loaded(rev.index);
            // a new object has no rows to load: its collection is the appended objects
            let transient = unloaded && matches!(obj.status(), Status::Transient | Status::Pending);
            // SQLAlchemy's append event (loaded collection or not) sets has-parent
            parent.set_has_parent(rev, obj, true);
            if loaded_without || unloaded {
                // SQLAlchemy fires the event for an unloaded collection too (queued)
                fire(
                    obj,
                    rev,
                    AttrEvent::Append,
                    Some(parent.clone()),
                    None,
                    initiator,
                )?;
            }
            if loaded_without || transient {
                obj.with_rel(rev.index, |s| {
                    if !matches!(s, RelState::Collection(_)) {
                        *s = RelState::Collection(Collection::default());
                    }
                    if let RelState::Collection(c) = s {
                        c.push(parent);
                    }
                });
                obj.rel_changed();
            } else if unloaded {
                // a persistent or detached object's collection stays unloaded: the append
                // applies when it loads (no SQL now; the rows may not hold it yet)
                pend(obj, rev.index, |c| c.pending_add(parent));
            } else {
                // it holds the object already (BEHAVIOUR.md 2: not twice): SQLAlchemy's
                // list appends it again, which marks the owner modified, so a savepoint's
                // rollback expires it whole (seed 69)
                obj.mark_modified();
            }
        } else {
            // a scalar reverse: the object leaves its old parent's collection (an unloaded
            // reference is found in the identity map, without SQL, as SQLAlchemy does)
            let (old, loaded) = match obj.rel_state(rev.index) {
                RelState::Scalar(s) => (s.value, true),
                // an object without a key (pending, or transient again after a rollback
                // with its foreign key loaded) loads nothing: SQLAlchemy's lazy loader
                // answers it empty, so it leaves no old parent's collection and clears no
                // has-parent flag there (seed 771: no pending orphan to expunge)
                _ if obj.state().key.is_none() => (None, false),
                _ => (
                    // an expired object is not read without SQL: the old value stays
                    // unknown (SQLAlchemy's PASSIVE_NO_RESULT), and the set goes ahead
                    super::strategies::many_to_one_in_identity_map(obj, rev)
                        .filter(readable_without_sql),
                    false,
                ),
            };
            if old.as_ref().is_some_and(|o| Rc::ptr_eq(o, parent)) {
                // SQLAlchemy's passive get stored the old value it found as loaded; the set
                // of the same object changes no value, but its set event fires and marks
                // the object modified (seed 2750: its next flush runs)
                if !loaded {
                    obj.with_rel(rev.index, |s| {
                        *s = RelState::Scalar(ScalarRef {
                            value: old.clone(),
                            changed: false,
                            replaced: None,
                            key_cleared: false,
                        })
                    });
                }
                fire(
                    obj,
                    rev,
                    AttrEvent::Set,
                    Some(parent.clone()),
                    old,
                    initiator,
                )?;
                if obj.status() == Status::Persistent {
                    if let Some(s) = obj.session() {
                        s.touched();
                    }
                }
                obj.mark_modified();
                return Ok(());
            }
            fire(
                obj,
                rev,
                AttrEvent::Set,
                Some(parent.clone()),
                old.clone(),
                initiator,
            )?;
            if !loaded && old.is_some() {
                // the old value found without SQL is what SQLAlchemy's set records as the
                // committed one: a later save-update cascade walks it (seed 748)
                obj.with_rel(rev.index, |s| {
                    *s = RelState::Scalar(ScalarRef {
                        value: old.clone(),
                        changed: false,
                        replaced: None,
                        key_cleared: false,
                    })
                });
            }
            put_scalar(obj, rev.index, Some(parent.clone()));
            if let Some(o) = &old {
                o.set_has_parent(rev, obj, false);
            }
            parent.set_has_parent(rev, obj, true);
            if let (Some(o), Some(fwd)) = (old, rev.reverse()) {
                // the old parent loses it: that event's initiator is this reference's set
                let by = Initiator {
                    rel: rev,
                    op: InitiatorOp::Replace,
                };
                self.reverse_remove(&o, &fwd, obj, by)?;
            }
        }
        Ok(())
    }

    /// The reverse side of `rel` on `obj` loses `parent`.
    fn reverse_remove(
        &self,
        obj: &Rc<Instance>,
        rev: &Rc<Relationship>,
        parent: &Rc<Instance>,
        initiator: Initiator<'_>,
    ) -> Result<()> {
        if rev.uselist && rev.lazy.never_loads() {
            if listened(rev) {
                fire_remove(obj, rev, parent, initiator)?;
            }
            pend(obj, rev.index, |c| c.pending_remove(parent));
            parent.set_has_parent(rev, obj, false);
            if rev.cascade.delete_orphan && parent.status() == Status::Pending {
                expunge_pending_orphan(parent, obj)?;
            }
        } else if rev.uselist {
            // SQLAlchemy's list runs the remove event before it looks for the member (the
            // backref's pop then ignores the ValueError): listeners, the modified flag and
            // has-parent, also for an object not in the collection; a dictionary collection
            // looks the key up first (seed 26: the owner, modified so, is expired whole by a
            // savepoint's rollback)
            let member = || {
                obj.rel_is(
                    rev.index,
                    |s| matches!(s, RelState::Collection(c) if c.contains(parent)),
                )
            };
            let fires = !rev.keyed || !obj.rel_loaded(rev.index) || member();
            if fires && listened(rev) {
                fire_remove(obj, rev, parent, initiator)?;
            }
            let keyless = matches!(obj.status(), Status::Transient | Status::Pending);
            if keyless && !obj.rel_loaded(rev.index) {
                // an object without a key has no rows to load: SQLAlchemy's backref
                // initializes its collection empty (dropping pending changes) to remove from
                obj.with_rel(rev.index, |s| {
                    *s = RelState::Collection(Collection::default())
                });
            }
            let changed = obj.with_rel(rev.index, |s| match s {
                RelState::Collection(c) => c.take(parent),
                _ => false,
            });
            if changed {
                obj.rel_changed();
            } else if !obj.rel_loaded(rev.index) && !keyless {
                pend(obj, rev.index, |c| c.pending_remove(parent));
            } else if fires {
                obj.mark_modified();
            }
            // SQLAlchemy's remove event (loaded collection or not) clears has-parent
            if fires {
                parent.set_has_parent(rev, obj, false);
            }
            // a pending orphan never reaches the database, also when the other side made
            // it one (SQLAlchemy's remove event expunges it whatever the initiator)
            if fires && rev.cascade.delete_orphan {
                expunge_pending_orphan(parent, obj)?;
            }
        } else {
            let points_here = match obj.rel_state(rev.index) {
                RelState::Scalar(s) => s.value.is_some_and(|v| Rc::ptr_eq(&v, parent)),
                // unloaded: SQLAlchemy's pop compares the old value it finds without SQL
                // (and keeps it loaded): a NULL key loaded is None, an object of the
                // identity map itself; another than the parent, nothing changes. Unknown
                // (the key not loaded, or its object not in memory), the set goes ahead
                // an object without a key loads nothing: SQLAlchemy's lazy loader answers
                // it empty (None, not stored), which is not the parent (seed 436)
                RelState::Unloaded | RelState::Deferred(..) if obj.state().key.is_none() => false,
                RelState::Unloaded | RelState::Deferred(..)
                    if rev.direction == Direction::ManyToOne =>
                {
                    match passive_many_to_one(obj, rev) {
                        // a NULL key an INSERT left unset and nothing set since is not in
                        // SQLAlchemy's `__dict__`: its loader answers NEVER_SET, the pop finds
                        // no value (not the parent) and stores none (seed 9157)
                        Some(None) if key_never_set(obj, rev) => false,
                        Some(old) if !old.as_ref().is_some_and(|o| Rc::ptr_eq(o, parent)) => {
                            obj.with_rel(rev.index, |s| {
                                *s = RelState::Scalar(ScalarRef {
                                    value: old,
                                    changed: false,
                                    replaced: None,
                                    key_cleared: false,
                                })
                            });
                            false
                        }
                        // the parent itself, found without SQL: SQLAlchemy's set records it
                        // as the committed value it replaces, which a later save-update
                        // cascade walks (get_all_pending; seed 748)
                        Some(old) => {
                            obj.with_rel(rev.index, |s| {
                                *s = RelState::Scalar(ScalarRef {
                                    value: old,
                                    changed: false,
                                    replaced: None,
                                    key_cleared: false,
                                })
                            });
                            true
                        }
                        None => true,
                    }
                }
                RelState::Unloaded | RelState::Deferred(..) => false,
                RelState::Collection(_) | RelState::Pending(_) => false,
            };
            if points_here {
                fire(
                    obj,
                    rev,
                    AttrEvent::Set,
                    None,
                    Some(parent.clone()),
                    initiator,
                )?;
                put_scalar(obj, rev.index, None);
                parent.set_has_parent(rev, obj, false);
            }
        }
        Ok(())
    }
}
