//! The state of one mapped object, kept in Rust: its values, which are loaded, which
//! changed since the last flush (with the committed values for net-change detection), its
//! lifecycle status and the session it belongs to.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};

use super::attributes::{AttrSet, Changes, History};
use super::identity::IdentityKey;
use super::mapper::Mapper;
use super::relationships::Relationship;
use super::session::SessionCore;
use crate::value::Value;

/// SQLAlchemy's object states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Transient,
    Pending,
    Persistent,
    /// Deleted in a flush, not yet committed.
    Deleted,
    Detached,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Transient => "transient",
            Status::Pending => "pending",
            Status::Persistent => "persistent",
            Status::Deleted => "deleted",
            Status::Detached => "detached",
        }
    }
}

/// What an object's relationships hold: its own related objects by relationship index, and
/// the has-parent flags it carries as a member of other objects' one-to-many relationships.
#[derive(Default)]
pub struct Rels {
    /// As many as the mapper has relationships once one is set (a slice: 8 bytes less
    /// than a Vec, for the flag below).
    pub states: Box<[super::collections::RelState]>,
    /// SQLAlchemy's has-parent flags (its `parents`), one per one-to-many relationship
    /// whose append or remove event reached this object since it was last expired whole;
    /// a relationship not listed is unknown.
    pub parents: ParentFlags,
}

/// The has-parent flags of one object: the first inline (most objects are members of one
/// relationship: no allocation per member), the others boxed.
#[derive(Default)]
pub struct ParentFlags {
    first: Option<HasParent>,
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<HasParent>>>,
}

impl ParentFlags {
    fn iter(&self) -> impl Iterator<Item = &HasParent> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|m| m.iter()))
    }

    fn get(&self, rel: std::ptr::NonNull<Relationship>) -> Option<&HasParent> {
        self.iter().find(|h| h.rel == rel)
    }

    fn set(&mut self, rel: std::ptr::NonNull<Relationship>, parent: Option<Weak<Instance>>) {
        if let Some(h) = self.first.as_mut().filter(|h| h.rel == rel) {
            h.parent = parent;
            return;
        }
        if let Some(h) = self
            .more
            .as_mut()
            .and_then(|m| m.iter_mut().find(|h| h.rel == rel))
        {
            h.parent = parent;
            return;
        }
        let h = HasParent { rel, parent };
        if self.first.is_none() {
            self.first = Some(h);
        } else {
            self.more.get_or_insert_with(Default::default).push(h);
        }
    }
}

impl std::ops::Deref for Rels {
    type Target = [super::collections::RelState];
    fn deref(&self) -> &Self::Target {
        &self.states
    }
}

impl std::ops::DerefMut for Rels {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.states
    }
}

/// The has-parent flag of one object for one one-to-many relationship.
pub struct HasParent {
    /// The relationship (shared by the mappers of a hierarchy), compared by address.
    pub rel: std::ptr::NonNull<Relationship>,
    /// `Some`: it has a parent, the last one recorded (an append, a one-to-one set);
    /// `None`: removed from that parent (false).
    pub parent: Option<Weak<Instance>>,
}

pub struct InstanceState {
    pub values: Box<[Value]>,
    pub loaded: AttrSet,
    /// Attributes set since the last flush, with the value they had (`None`: it was not
    /// loaded, so the change is always written).
    pub committed: Changes,
    pub status: Status,
    /// The flags below (`flags!`), one bit each: twelve `bool`s took 12 bytes, which the
    /// Lua binding's slot (`Instance::lua_slot`) needed.
    flags: u16,
    pub key: Option<IdentityKey>,
    /// The columns an INSERT left NULL that the object never set (nil set explicitly, or by
    /// a key copy, does not count), and that no row loaded or flush wrote since: SQLAlchemy
    /// never put them in its `__dict__`, so a flush reading such a foreign key passively
    /// leaves the many-to-one unloaded, and any value set over one is a change (NULL
    /// included). A reload of expired columns loads only those.
    pub nulls_never_set: AttrSet,
    pub session: Option<Weak<SessionCore>>,
    /// Related objects by relationship index (see `collections.rs`), and the has-parent
    /// flags; `None` for the many objects whose relationships were never touched.
    pub rels: Option<Box<Rels>>,
}

thread_local! {
    /// Objects that left a session transient with relationship state (`Instance::detach`),
    /// held weakly: a rollback that clears generated keys finds among them those whose
    /// many-to-one still holds an object whose key it clears (`transient_holders`).
    static TRANSIENT_HOLDERS: RefCell<Vec<Weak<Instance>>> = const { RefCell::new(Vec::new()) };
}

fn note_transient_holder(inst: &Rc<Instance>) {
    TRANSIENT_HOLDERS.with(|h| {
        let mut h = h.borrow_mut();
        // the objects dropped, or attached again, leave at the next count past a power of two
        if h.len() >= 64 && h.len().is_power_of_two() {
            let mut seen = super::identity::FxHashSet::default();
            // (one whose state is in use up the stack stays: it is looked at again later)
            h.retain(|w| {
                w.upgrade().is_some_and(|o| {
                    o.state
                        .try_borrow()
                        .map_or(true, |st| st.status == Status::Transient)
                }) && seen.insert(w.as_ptr())
            });
        }
        h.push(Rc::downgrade(inst));
    });
}

/// The transient objects that left a session with relationship state and still exist (the
/// others are forgotten).
pub(crate) fn transient_holders() -> Vec<Rc<Instance>> {
    TRANSIENT_HOLDERS.with(|h| {
        let mut h = h.borrow_mut();
        let mut out = Vec::new();
        let mut seen = super::identity::FxHashSet::default();
        // (one whose state is in use up the stack is kept for a later rollback, as the
        // pruning keeps it)
        h.retain(|w| {
            let Some(o) = w.upgrade() else { return false };
            let transient = match o.state.try_borrow() {
                Ok(st) => st.status == Status::Transient,
                Err(_) => return seen.insert(w.as_ptr()),
            };
            if transient && seen.insert(w.as_ptr()) {
                out.push(o);
                return true;
            }
            false
        });
        out
    })
}

/// The boolean flags of `InstanceState`, each a bit of its `flags` with a getter and a
/// setter.
macro_rules! flags {
    ($($(#[$doc:meta])* $bit:literal $get:ident $set:ident;)*) => {
        impl InstanceState {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $get(&self) -> bool {
                    self.flags & (1 << $bit) != 0
                }
                #[doc = concat!("Sets `", stringify!($get), "`.")]
                #[inline(always)]
                pub fn $set(&mut self, on: bool) {
                    if on {
                        self.flags |= 1 << $bit;
                    } else {
                        self.flags &= !(1 << $bit);
                    }
                }
            )*
        }
    };
}

flags! {
    /// The primary key was generated by the database in this session's transaction.
    0 generated_key set_generated_key;
    /// Made transient by a rollback while its primary key was expired: it has no key to
    /// load the expired attributes from, so its INSERT is refused until the key is set.
    1 key_expired set_key_expired;
    /// Made transient by a rollback with attributes expired: reading one that is still not
    /// set raises `DetachedInstanceError` (no session to load it from), as SQLAlchemy's
    /// refresh of an object with no session does. The primary key a rollback cleared
    /// (`key_cleared`) reads as nil instead, the contract's deliberate difference.
    2 attrs_expired set_attrs_expired;
    /// A rollback cleared the primary key the database had generated (see `attrs_expired`).
    3 key_cleared set_key_cleared;
    /// Its row was deleted by a flush (SQLAlchemy's `was_deleted`): until a rollback
    /// restores it, `add` refuses it ("has been deleted"), detached or not.
    4 was_deleted set_was_deleted;
    /// A bulk UPDATE synchronized it while it was expired whole: SQLAlchemy's `_commit`
    /// resets the object's `expired` flag, its attributes stay expired; `get` and a
    /// many-to-one then return it without loading it. A whole-object expiry sets it back.
    5 expired_flag_reset set_expired_flag_reset;
    /// A pending object made an orphan through a collection whose owner is not in its
    /// session (SQLAlchemy's `_orphaned_outside_of_session`): its next flush expunges it,
    /// unless it has a parent again. `add` clears it.
    6 orphaned_outside set_orphaned_outside;
    /// Marked for deletion by `session:delete` (not yet flushed).
    7 marked_deleted set_marked_deleted;
    /// Queued on the session's list of modified instances.
    8 queued_modified set_queued_modified;
    /// Its DELETE flushed, a relationship of it changed since (SQLAlchemy's modified flag,
    /// which no flush resets while it is out of the identity map): a savepoint rollback that
    /// reverts the deletion expires it.
    9 changed_while_deleted set_changed_while_deleted;
    /// A relationship changed since the last flush.
    10 rels_changed set_rels_changed;
    /// A column changed since the column properties were loaded: once the change is
    /// flushed they expire (SQLAlchemy's `expire_on_flush`).
    11 props_stale set_props_stale;
    /// SQLAlchemy's modified flag while the object has no session: a change event while it
    /// was detached (a set that changes nothing included), or the session's modified mark it
    /// had when it was detached. Added to a session again it is dirty, so a flush runs with
    /// its events even when there is no net change (seed 2149).
    12 modified_outside set_modified_outside;
}

impl InstanceState {
    /// What an UPDATE of this object writes: the attributes whose value differs from the
    /// one they had at the last flush. `None` when there is none, or when the object is
    /// not persistent or is marked for deletion.
    pub fn update_set(&self) -> Option<AttrSet> {
        if self.status != Status::Persistent || self.marked_deleted() {
            return None;
        }
        let mut set = AttrSet::default();
        for (i, old) in &self.committed {
            if old.as_ref() != Some(&self.values[*i]) {
                set.insert(*i);
            }
        }
        (!set.is_empty()).then_some(set)
    }

    /// A collection not loaded holds changes made through the other side (SQLAlchemy's
    /// pending mutations).
    /// A relationship changed since the last flush: a loaded one, or one recorded pending.
    pub fn rels_pending(&self) -> bool {
        self.rels_changed() || self.has_pending_collection()
    }

    /// Any change since the last flush, columns or relationships (what SQLAlchemy's modified
    /// flag stands for when nothing flushed it since).
    pub fn has_changes(&self) -> bool {
        !self.committed.is_empty() || self.rels_pending()
    }

    pub fn has_pending_collection(&self) -> bool {
        self.rels.as_ref().is_some_and(|r| {
            r.iter()
                .any(|x| matches!(x, super::collections::RelState::Pending(_)))
        })
    }

    /// A column of a persistent object is about to change: its column properties go stale
    /// (those a flushed change made stale already expire now, as the flush would have).
    fn stale_props(&mut self, ncols: usize) {
        self.expire_flushed_props(ncols);
        self.set_props_stale(true);
    }

    /// Column properties (values `ncols..`) made stale by a change that has been flushed
    /// since (no change is pending any more) expire.
    fn expire_flushed_props(&mut self, ncols: usize) {
        if self.props_stale() && self.committed.is_empty() {
            self.set_props_stale(false);
            for i in ncols..self.values.len() {
                self.loaded.remove(i);
                self.values[i] = Value::Null;
            }
        }
    }
}

pub struct Instance {
    pub mapper: Rc<Mapper>,
    /// The Lua binding's slot of this instance in its objects table (0: none), where the
    /// Lua value of the instance is found (`lua/instance.rs`). Outside the `RefCell`: the
    /// userdata's finalizer reads and clears it whatever borrows the state.
    lua_slot: Cell<u32>,
    state: RefCell<InstanceState>,
}

impl Instance {
    /// A transient instance with nothing set.
    pub fn new(mapper: &Rc<Mapper>) -> Rc<Instance> {
        let n = mapper.width();
        let inst = Instance::tracked(Instance {
            mapper: mapper.clone(),
            lua_slot: Cell::new(0),
            state: RefCell::new(InstanceState {
                values: (0..n).map(|_| Value::Null).collect(),
                loaded: AttrSet::default(),
                committed: Changes::default(),
                status: Status::Transient,
                flags: 0,
                key: None,
                nulls_never_set: AttrSet::default(),
                session: None,
                rels: None,
            }),
        });
        // a class of a hierarchy sets its discriminator when made, as SQLAlchemy's init
        if let Some(inh) = &mapper.inherit {
            if let (Some(on), Some(v)) = (inh.on, &inh.identity) {
                let mut st = inst.state_mut();
                st.values[on] = v.clone();
                st.loaded.insert(on);
            }
        }
        inst
    }

    /// A persistent instance built from a loaded row.
    pub fn loaded(
        mapper: &Rc<Mapper>,
        values: Box<[Value]>,
        key: IdentityKey,
        session: Weak<SessionCore>,
    ) -> Rc<Instance> {
        let n = values.len();
        Instance::tracked(Instance {
            mapper: mapper.clone(),
            lua_slot: Cell::new(0),
            state: RefCell::new(InstanceState {
                values,
                loaded: AttrSet::all(n),
                committed: Changes::default(),
                status: Status::Persistent,
                flags: 0,
                key: Some(key),
                nulls_never_set: AttrSet::default(),
                session: Some(session),
                rels: None,
            }),
        })
    }

    /// The new instance, tracked by the cycle collector when its mapper has relationships.
    fn tracked(inst: Instance) -> Rc<Instance> {
        let track = !inst.mapper.relationships.borrow().is_empty();
        let inst = Rc::new(inst);
        if track {
            super::cycles::track(&inst);
        }
        inst
    }

    /// The Lua binding's slot of this instance (0: none; see `lua/instance.rs`).
    #[inline(always)]
    pub fn lua_slot(&self) -> u32 {
        self.lua_slot.get()
    }
    #[inline(always)]
    pub fn set_lua_slot(&self, slot: u32) {
        self.lua_slot.set(slot)
    }

    #[inline]
    pub fn state(&self) -> Ref<'_, InstanceState> {
        self.state.borrow()
    }
    /// The state, unless something is changing it right now.
    #[inline]
    pub fn try_state(&self) -> Option<Ref<'_, InstanceState>> {
        self.state.try_borrow().ok()
    }
    #[inline]
    pub fn state_mut(&self) -> RefMut<'_, InstanceState> {
        self.state.borrow_mut()
    }

    pub fn status(&self) -> Status {
        self.state.borrow().status
    }

    pub fn session(&self) -> Option<Rc<SessionCore>> {
        self.state
            .borrow()
            .session
            .as_ref()
            .and_then(|w| w.upgrade())
    }

    /// `<User at 0x...>`, as SQLAlchemy names an instance in messages.
    pub fn describe(self: &Rc<Self>) -> String {
        format!("<{} at {:p}>", self.mapper.class_name, Rc::as_ptr(self))
    }

    /// Lets go of the session.
    pub fn detach(self: &Rc<Self>) {
        let mut st = self.state.borrow_mut();
        st.session = None;
        if st.queued_modified() {
            st.set_queued_modified(false);
            let keyed = st.key.is_some();
            st.set_modified_outside(keyed);
        }
        st.set_marked_deleted(false);
        st.status = if st.key.is_some() {
            Status::Detached
        } else {
            Status::Transient
        };
        let holder = st.status == Status::Transient && st.rels.is_some();
        drop(st);
        if holder {
            note_transient_holder(self);
        }
    }

    /// The attributes whose value differs from the committed one.
    pub fn net_changes(&self) -> Vec<usize> {
        let st = self.state.borrow();
        st.committed
            .iter()
            .filter(|(i, old)| old.as_ref() != Some(&st.values[*i]))
            .map(|(i, _)| *i)
            .collect()
    }

    pub fn is_modified(&self) -> bool {
        !self.net_changes().is_empty()
    }

    /// Drops the values of the given attributes (all when `None`), and their pending changes.
    pub fn expire(&self, attrs: Option<&[usize]>) {
        let mut st = self.state.borrow_mut();
        match attrs {
            None => {
                st.loaded.clear();
                st.committed.clear();
                st.set_expired_flag_reset(false);
                // and its modified flag: one expired while detached (a refresh-expire
                // cascade) is not dirty when added again (seed 5713)
                st.set_modified_outside(false);
                // SQLAlchemy's whole-object expiry forgets the has-parent flags too (they
                // become unknown)
                if let Some(r) = st.rels.as_mut() {
                    r.parents = ParentFlags::default();
                }
                for v in st.values.iter_mut() {
                    *v = Value::Null;
                }
            }
            Some(list) => {
                // SQLAlchemy's `expired` flag belongs to a whole-object expiry: the key's
                // columns expired by name leave it off, so the object is still found without
                // a load (`get`, a many-to-one, a bulk statement's evaluation) (seed 210)
                let pk = &self.mapper.pk;
                let whole = !st.expired_flag_reset() && pk.iter().any(|&k| !st.loaded.contains(k));
                if !whole && list.iter().any(|i| pk.contains(i)) {
                    st.set_expired_flag_reset(true);
                }
                for &i in list {
                    st.loaded.remove(i);
                    st.values[i] = Value::Null;
                    st.committed.retain(|(a, _)| *a != i);
                }
            }
        }
    }

    /// SQLAlchemy's has-parent flag of this object for one-to-many `rel`: `Some(true)`
    /// a member (the last event appended it), `Some(false)` removed, `None` unknown (no
    /// event since it was loaded or last expired whole).
    pub fn has_parent(&self, rel: &Relationship) -> Option<bool> {
        let st = self.state.borrow();
        let r = std::ptr::NonNull::from(rel);
        st.rels.as_ref()?.parents.get(r).map(|h| h.parent.is_some())
    }

    /// Records the append (`true`) or the removal (`false`) of this object in `parent`'s
    /// one-to-many `rel`, as SQLAlchemy's `sethasparent`: a removal from another parent than
    /// the last one recorded (by identity key: two pending parents have the same, none)
    /// leaves the flag as it is. Only one-to-many relationships keep the flag (those whose
    /// flush reads it: delete-orphan and the clearing of a removed member's key).
    pub fn set_has_parent(&self, rel: &Relationship, parent: &Rc<Instance>, value: bool) {
        if rel.direction != super::relationships::Direction::OneToMany {
            return;
        }
        let r = std::ptr::NonNull::from(rel);
        let last = self
            .state
            .borrow()
            .rels
            .as_ref()
            .and_then(|x| x.parents.get(r).map(|h| h.parent.clone()));
        if !value {
            if let Some(Some(last)) = &last {
                match last.upgrade() {
                    Some(l) if Rc::ptr_eq(&l, parent) => {}
                    Some(l) => {
                        if l.state().key != parent.state().key {
                            return;
                        }
                    }
                    // the last parent is gone: SQLAlchemy compares its key (and raises
                    // StaleDataError when it differs); it is not known here, the flag stays
                    None => return,
                }
            }
        }
        let flag = value.then(|| Rc::downgrade(parent));
        let mut st = self.state.borrow_mut();
        st.rels
            .get_or_insert_with(Default::default)
            .parents
            .set(r, flag);
    }

    /// SQLAlchemy's `_is_orphan`: the has-parent flag of a delete-orphan relationship to
    /// this object's class (or a class it inherits from) is false, or unknown for an object
    /// without an identity key (a persistent one is assumed to have its parent).
    pub fn is_orphan(&self) -> bool {
        let optimistic = self.state.borrow().key.is_some();
        let mut m = Some(&self.mapper);
        while let Some(mapper) = m {
            for rel in mapper.delete_orphans.borrow().iter() {
                if let Some(rel) = rel.upgrade() {
                    if !self.has_parent(&rel).unwrap_or(optimistic) {
                        return true;
                    }
                }
            }
            m = mapper.inherits();
        }
        false
    }

    /// Expires the column properties when a column change was flushed since they were
    /// loaded (they are computed by the database from the row as it is now).
    pub fn expire_flushed_props(&self) {
        let ncols = self.mapper.attrs.len();
        self.state.borrow_mut().expire_flushed_props(ncols);
    }

    /// SQLAlchemy's `expired` flag: expired as a whole (a commit, a rollback, `expire`
    /// without names) and not loaded since; not for attributes expired by name, nor for a
    /// column never loaded (deferred), nor once a bulk UPDATE synchronized it.
    pub fn is_expired(&self) -> bool {
        let st = self.state.borrow();
        (st.key.is_some() || st.attrs_expired())
            && !st.expired_flag_reset()
            && self.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
    }

    /// The value attribute `i` had at the last flush when it changed since (NULL when it
    /// was not loaded then: SQLAlchemy's committed `NO_VALUE` reads as None); `None` when it
    /// did not change, so its committed value is the current one.
    pub fn committed_value(&self, i: usize) -> Option<Value> {
        let st = self.state.borrow();
        let (_, old) = st.committed.iter().find(|(a, _)| *a == i)?;
        Some(old.clone().unwrap_or(Value::Null))
    }

    /// The attribute's history since the last flush.
    pub fn history(&self, i: usize) -> History<Value> {
        let st = self.state.borrow();
        let mut h = History::default();
        if !st.loaded.contains(i) {
            return h;
        }
        let current = st.values[i].clone();
        match st.committed.iter().find(|(a, _)| *a == i) {
            Some((_, Some(old))) if *old != current => {
                h.added.push(current);
                if !old.is_null() {
                    h.deleted.push(old.clone());
                }
            }
            Some((_, None)) => h.added.push(current),
            _ if st.status == Status::Transient || st.status == Status::Pending => {
                if !current.is_null() {
                    h.added.push(current)
                }
            }
            _ => h.unchanged.push(current),
        }
        h
    }
}

impl Instance {
    /// Sets attribute `i`, recording the committed value the first time a persistent
    /// instance changes it and queueing the instance on its session's modified list.
    pub fn set(self: &Rc<Self>, i: usize, value: Value) {
        let done = self.try_set(i, value);
        assert!(
            done,
            "{} set while its state is borrowed",
            self.mapper.attr_path(i)
        );
    }

    /// `set`, or false (and nothing changed) when the state is borrowed right now.
    pub fn try_set(self: &Rc<Self>, i: usize, value: Value) -> bool {
        let Ok(mut st) = self.state.try_borrow_mut() else {
            return false;
        };
        // a detached object keeps its history too: added to a session again, it is dirty
        if matches!(
            st.status,
            Status::Persistent | Status::Deleted | Status::Detached
        ) {
            if !self.mapper.props.is_empty() {
                st.stale_props(self.mapper.attrs.len());
            }
            if !st.committed.iter().any(|(a, _)| *a == i) {
                // a NULL an INSERT left unset is not in SQLAlchemy's `__dict__`: its committed
                // value is NO_VALUE, so setting it (nil included) is a change the flush
                // writes (seed 781)
                let old = (st.loaded.contains(i) && !st.nulls_never_set.contains(i))
                    .then(|| st.values[i].clone());
                st.committed.push((i, old));
            }
            // a deleted object's first change since its DELETE (or before it) begins the
            // transaction, later ones do not (SQLAlchemy's modified flag, seed 3227)
            let begins = st.status != Status::Deleted || !st.changed_while_deleted();
            if st.status == Status::Deleted {
                st.set_changed_while_deleted(true);
            }
            if st.status == Status::Detached {
                st.set_modified_outside(true);
            } else if !st.queued_modified() {
                if let Some(s) = st.session.as_ref().and_then(|w| w.upgrade()) {
                    st.set_queued_modified(true);
                    s.queue_modified(self.clone(), begins);
                }
            }
        }
        // set, it is in SQLAlchemy's `__dict__` (a persistent object's committed value above
        // keeps that it was not)
        st.nulls_never_set.remove(i);
        st.values[i] = value;
        st.loaded.insert(i);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relationships box of an object: its relationships' states and one has-parent
    /// flag inline (40 bytes, a 48-byte malloc chunk), more flags boxed.
    #[test]
    fn rels_stay_compact() {
        assert!(
            std::mem::size_of::<Rels>() <= 40,
            "Rels grew to {} bytes",
            std::mem::size_of::<Rels>()
        );
    }

    /// Every loaded row keeps one `Rc<Instance>`: its size is memory per row (W2's peak).
    /// 104 bytes plus `Rc`'s two counts is a 128-byte malloc chunk (glibc); one more word
    /// is 144. The state's flags are bits and its two `AttrSet`s one word each, which made
    /// room for the Lua slot beside the `RefCell` and took 16 bytes off.
    #[test]
    fn instance_stays_compact() {
        assert!(
            std::mem::size_of::<Instance>() <= 104,
            "Instance grew to {} bytes",
            std::mem::size_of::<Instance>()
        );
        assert!(
            std::mem::size_of::<InstanceState>() <= 80,
            "InstanceState grew to {} bytes",
            std::mem::size_of::<InstanceState>()
        );
    }
}
