//! The session: identity map, the pending / modified / deleted collections, the
//! transaction with its savepoints, and the state changes of commit, rollback and close.
//! The flush itself is in `unitofwork`, loading in `loading`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::collections::RelState;
use super::events::SessionEvent;
use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::session_bind::{JoinMode, RootTx};
use crate::engine::{Connection, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::invalid;

#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub autoflush: bool,
    pub expire_on_commit: bool,
    /// SQLAlchemy 2.0's default: `close()` resets the session, which can be used again.
    /// With `false`, a closed session refuses further use.
    pub close_resets_only: bool,
    /// How a session bound to a connection joins its transaction (`session_bind.rs`).
    pub join_transaction_mode: JoinMode,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            autoflush: true,
            expire_on_commit: true,
            close_resets_only: true,
            join_transaction_mode: JoinMode::default(),
        }
    }
}

/// One level of the session's transaction: the root, or a SAVEPOINT. Records what changed
/// in it, so that a rollback to it can undo the in-memory side.
#[derive(Default)]
pub(crate) struct Frame {
    /// A SAVEPOINT's frame (`begin_nested`), not the root.
    pub nested: bool,
    /// The SAVEPOINT's name, once taken: as SQLAlchemy's, a savepoint is taken when
    /// something in it first needs the connection (`SessionCore::connection`).
    pub savepoint: Option<String>,
    /// Inserted by a flush in this frame (pending → persistent).
    pub inserted: Vec<Rc<Instance>>,
    /// Deleted by a flush in this frame (persistent → deleted).
    pub deleted: Vec<Rc<Instance>>,
    /// Added with `add` in this frame.
    pub added: Vec<Rc<Instance>>,
    /// Written by a flush in this frame: updated, or with relationship changes (expired, their
    /// relationships too, when the savepoint is rolled back).
    pub updated: Vec<Rc<Instance>>,
    /// Primary keys a flush in this frame changed: the object and its key before.
    pub rekeyed: Vec<(Rc<Instance>, IdentityKey)>,
}

pub struct SessionCore {
    weak_self: Weak<SessionCore>,
    pub config: RefCell<SessionConfig>,
    bind: RefCell<Option<Engine>>,
    conn: RefCell<Option<Rc<Connection>>>,
    /// What the session's transaction is on its connection (`session_bind.rs`).
    pub(crate) root_tx: RefCell<RootTx>,
    /// Bound to a connection rather than an engine (`session_bind.rs`).
    pub(crate) bound_conn: RefCell<Option<crate::engine::connection::WeakConnection>>,
    pub(crate) identity: RefCell<super::identity::IdentityMap>,
    pub(crate) new: RefCell<Vec<Rc<Instance>>>,
    pub(crate) deleted: RefCell<Vec<Rc<Instance>>>,
    pub(crate) modified: RefCell<Vec<Rc<Instance>>>,
    pub(crate) frames: RefCell<Vec<Frame>>,
    /// Counts the transactions begun: a `begin(fn)` or `begin_nested(fn)` block ends its
    /// own transaction only while it is still open (see `transaction_open`).
    tx_serial: Cell<u64>,
    /// A frame of `begin_nested` has not taken its SAVEPOINT yet.
    savepoints_pending: Cell<bool>,
    pending_rollback: RefCell<Option<Error>>,
    closed: Cell<bool>,
    pub(crate) flushing: Cell<bool>,
    no_autoflush: Cell<u32>,
    /// Session event listeners (see `events.rs`).
    pub listeners: super::events::SessionListeners,
    /// Instances a query built from rows, whose `load` event waits for the query's end.
    pub(crate) loaded_new: RefCell<Vec<Rc<Instance>>>,
    /// Objects whose deletion a commit with `expire_on_commit = false` made permanent:
    /// they stay in the deleted state, attached, until the session closes (SQLAlchemy's
    /// commit detaches deleted objects only when it expires).
    lingering_deleted: RefCell<Vec<Weak<Instance>>>,
    /// The objects a flush that failed had inserted with a generated key, until its
    /// rollback (`fail_transaction`) clears the keys other objects copied from them.
    pub(crate) failed_inserts: RefCell<Vec<Rc<Instance>>>,
    /// Per-mapper binds and the connections to their engines (`session_binds.rs`).
    pub(crate) binds: super::session_binds::BindState,
}

/// A session handle; clones share the session.
#[derive(Clone)]
pub struct Session(pub Rc<SessionCore>);

impl std::ops::Deref for Session {
    type Target = SessionCore;
    fn deref(&self) -> &SessionCore {
        &self.0
    }
}

impl Session {
    pub fn new(bind: Option<Engine>, config: SessionConfig) -> Session {
        Session(Rc::new_cyclic(|weak| SessionCore {
            weak_self: weak.clone(),
            config: RefCell::new(config),
            bind: RefCell::new(bind),
            conn: RefCell::new(None),
            root_tx: RefCell::new(RootTx::default()),
            bound_conn: RefCell::new(None),
            identity: RefCell::new(super::identity::IdentityMap::default()),
            new: RefCell::new(Vec::new()),
            deleted: RefCell::new(Vec::new()),
            modified: RefCell::new(Vec::new()),
            frames: RefCell::new(Vec::new()),
            tx_serial: Cell::new(0),
            savepoints_pending: Cell::new(false),
            pending_rollback: RefCell::new(None),
            closed: Cell::new(false),
            flushing: Cell::new(false),
            no_autoflush: Cell::new(0),
            listeners: Default::default(),
            loaded_new: RefCell::new(Vec::new()),
            lingering_deleted: RefCell::new(Vec::new()),
            failed_inserts: RefCell::new(Vec::new()),
            binds: Default::default(),
        }))
    }
}

impl Drop for SessionCore {
    fn drop(&mut self) {
        // A session that goes away without close() lets go of its objects and rolls back.
        if let Some(c) = self.conn.get_mut().take() {
            let _ = self.root_tx.get_mut().close(&c);
        }
        for inst in self
            .identity
            .get_mut()
            .drain()
            .map(|(_, v)| v)
            .chain(self.new.get_mut().drain(..))
        {
            inst.detach();
        }
    }
}

impl SessionCore {
    pub(crate) fn weak(&self) -> Weak<SessionCore> {
        self.weak_self.clone()
    }

    pub fn is(&self, other: &Rc<SessionCore>) -> bool {
        std::ptr::eq(self, Rc::as_ptr(other))
    }

    pub(crate) fn owns(&self, inst: &Instance) -> bool {
        inst.state()
            .session
            .as_ref()
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
    }

    /// The object is the identity map's entry for its key: a persistent object of this
    /// session, or a deleted one a delete cascade took again (`take_key_again`).
    pub(crate) fn holds(&self, inst: &Rc<Instance>) -> bool {
        let key = inst.state().key.clone();
        key.is_some_and(|k| {
            self.identity
                .borrow()
                .get(&k)
                .is_some_and(|o| Rc::ptr_eq(o, inst))
        })
    }

    pub fn bind(&self) -> Option<Engine> {
        self.bind.borrow().clone()
    }
    /// Compiles a statement for the database the session is bound to.
    pub fn compile(&self, stmt: &crate::sql::Statement) -> Result<crate::sql::Compiled> {
        if let Some(e) = self.routed_engine() {
            return crate::sql::compile(stmt, e.dialect());
        }
        match self.bind.borrow().as_ref() {
            Some(e) => crate::sql::compile(stmt, e.dialect()),
            None => crate::sql::compile(stmt, crate::sql::dialect::default_dialect()),
        }
    }
    pub fn set_bind(&self, engine: Option<Engine>) {
        *self.bind.borrow_mut() = engine;
    }

    /// An object of the session changed: it joins the next flush, and the session's
    /// transaction begins (SQLAlchemy's modified event autobegins; no SQL is sent).
    pub(crate) fn queue_modified(&self, inst: Rc<Instance>, begin: bool) {
        self.modified.borrow_mut().push(inst);
        if begin {
            self.autobegin();
        }
    }

    /// A change that needs no flush (a reference set to the object it holds) still begins
    /// the session's transaction, as SQLAlchemy's modified event does.
    pub(crate) fn touched(&self) {
        self.autobegin();
    }

    /// Refuses use of a closed session or of one whose flush failed.
    pub fn check_usable(&self) -> Result<()> {
        if self.closed.get() {
            return Err(invalid!(
                "This Session has been closed and can't be used again (close_resets_only is false)"
            ));
        }
        if let Some(orig) = self.pending_rollback.borrow().as_ref() {
            return Err(Error::new(
                ErrorKind::PendingRollbackError,
                format!(
                    "This Session's transaction has been rolled back due to a previous exception during flush. To begin a new transaction with this Session, first issue Session.rollback(). Original exception was: {orig}"
                ),
            ));
        }
        Ok(())
    }

    pub fn in_transaction(&self) -> bool {
        !self.frames.borrow().is_empty()
    }
    pub fn in_nested_transaction(&self) -> bool {
        self.frames.borrow().len() > 1
    }

    fn autobegin(&self) {
        let mut frames = self.frames.borrow_mut();
        if frames.is_empty() {
            frames.push(Frame::default());
            self.tx_serial.set(self.tx_serial.get() + 1);
        }
    }

    /// The current transaction's number (0 before the first), for `transaction_open`.
    pub fn transaction_serial(&self) -> u64 {
        self.tx_serial.get()
    }

    /// Whether the transaction numbered `serial` is still open at `depth` (0 the root, 1
    /// its first savepoint, ...): a block whose body committed or rolled back the session
    /// leaves it alone at its end, as SQLAlchemy's context managers do with a transaction
    /// that is no longer active.
    pub fn transaction_open(&self, serial: u64, depth: usize) -> bool {
        serial == self.tx_serial.get() && self.frames.borrow().len() > depth
    }

    /// The connection of the current transaction, if one is begun.
    pub(crate) fn current_connection(&self) -> Option<Rc<Connection>> {
        self.conn.borrow().clone()
    }

    /// The connection of the current transaction, beginning one on first use.
    pub fn connection(&self) -> Result<Rc<Connection>> {
        self.check_usable()?;
        if let Some(c) = self.routed_connection()? {
            return Ok(c);
        }
        let current = self.conn.borrow().clone();
        if let Some(c) = current {
            if self.savepoints_pending.get() {
                self.take_pending_savepoints(&c)?;
            }
            return Ok(c);
        }
        let (conn, root) = match self.bound_conn.borrow().as_ref() {
            Some(bound) => {
                super::session_bind::begin_on(bound, self.config.borrow().join_transaction_mode)?
            }
            None => {
                let engine = self.bind().ok_or_else(|| {
                    Error::new(ErrorKind::InvalidRequestError, "This Session is not bound to an engine: pass one to orm.Session(engine) or sessionmaker{ bind = engine }")
                })?;
                let conn = Rc::new(engine.connect()?);
                let root = RootTx::from_begin(conn.begin()?);
                (conn, root)
            }
        };
        *self.root_tx.borrow_mut() = root;
        self.autobegin();
        *self.conn.borrow_mut() = Some(conn.clone());
        self.dispatch(SessionEvent::AfterBegin, None, Some(&conn))?;
        if self.savepoints_pending.get() {
            self.take_pending_savepoints(&conn)?;
        }
        Ok(conn)
    }

    /// Takes the SAVEPOINTs of the `begin_nested` frames that have none yet, outermost
    /// first, each firing `after_begin` as SQLAlchemy's nested transaction does when it
    /// first takes the connection.
    fn take_pending_savepoints(&self, conn: &Rc<Connection>) -> Result<()> {
        loop {
            // no borrow of the frames while the SAVEPOINT is sent: its cursor events run
            // listeners, which may ask the session about its transaction
            let Some(i) = self
                .frames
                .borrow()
                .iter()
                .position(|f| f.nested && f.savepoint.is_none())
            else {
                break;
            };
            let name = conn.next_savepoint_name();
            conn.savepoint(&name)?;
            if let Some(f) = self.frames.borrow_mut().get_mut(i) {
                f.savepoint = Some(name.clone());
            }
            self.savepoint_binds(&name)?;
            self.dispatch(SessionEvent::AfterBegin, None, Some(conn))?;
        }
        self.savepoints_pending.set(false);
        Ok(())
    }

    // ---- adding, deleting, expunging -------------------------------------------------

    /// `session:add(obj)`: transient → pending; detached → persistent again.
    pub fn add(&self, inst: &Rc<Instance>) -> Result<()> {
        // added again: no longer an orphan to drop at the flush (SQLAlchemy clears the flag
        // of the object added only, not of those its cascade reaches)
        inst.state_mut().set_orphaned_outside(false);
        // added again after delete(): no longer to delete, as SQLAlchemy's add() takes it
        // out of `deleted` (not for objects its cascade reaches: it stops at those in the
        // session)
        if self.owns(inst) && inst.state().marked_deleted() && inst.status() == Status::Persistent {
            self.unmark_deleted(inst);
        }
        self.add_one(inst)?;
        // save-update cascade: the object's loaded related objects come along
        if !inst.mapper.relationships.borrow().is_empty() {
            self.cascade_add(inst)?;
        }
        Ok(())
    }

    /// `add` without the cascade (the cascade walks the graph itself, without recursion).
    pub(crate) fn add_one(&self, inst: &Rc<Instance>) -> Result<()> {
        if self.closed.get() {
            self.check_usable()?;
        }
        let status = inst.status();
        if let Some(other) = inst.session() {
            if !self.is(&other) {
                if status != Status::Deleted {
                    self.autobegin();
                }
                return Err(invalid!(
                    "Object '{}' is already attached to session {:p} (this is {:p})",
                    inst.describe(),
                    Rc::as_ptr(&other),
                    self as *const _
                ));
            }
            if status == Status::Deleted {
                return Err(invalid!(
                    "Instance '{}' has been deleted. Use the make_transient() function to send this object back to the transient state.",
                    inst.describe()
                ));
            }
            // already here: the transaction still begins, as SQLAlchemy's `_before_attach`
            self.autobegin();
            return Ok(());
        }
        // refused before the transaction begins, as SQLAlchemy's _update_impl refuses a
        // deleted object before its _before_attach autobegins
        if status == Status::Detached && inst.state().was_deleted() {
            return Err(invalid!(
                "Instance '{}' has been deleted. Use the make_transient() function to send this object back to the transient state.",
                inst.describe()
            ));
        }
        self.autobegin();
        match status {
            Status::Transient => {
                {
                    let mut st = inst.state_mut();
                    st.status = Status::Pending;
                    st.session = Some(self.weak());
                }
                self.new.borrow_mut().push(inst.clone());
                if let Some(f) = self.frames.borrow_mut().last_mut() {
                    f.added.push(inst.clone());
                }
                self.dispatch(SessionEvent::TransientToPending, Some(inst), None)?;
            }
            Status::Detached => self.attach_detached(inst)?,
            Status::Pending | Status::Persistent | Status::Deleted => {
                return Err(invalid!(
                    "Object '{}' belongs to a session that no longer exists",
                    inst.describe()
                ));
            }
        }
        Ok(())
    }

    fn attach_detached(&self, inst: &Rc<Instance>) -> Result<()> {
        let key = inst
            .state()
            .key
            .clone()
            .expect("detached instance has a key");
        let mut map = self.identity.borrow_mut();
        if let Some(existing) = map.get(&key) {
            if !Rc::ptr_eq(existing, inst) {
                return Err(invalid!(
                    "Can't attach instance {}; another instance with key {:?} is already present in this session",
                    inst.describe(),
                    key.values()
                ));
            }
        }
        map.insert(key, inst.clone());
        drop(map);
        let mut st = inst.state_mut();
        st.status = Status::Persistent;
        st.session = Some(self.weak());
        // changed while detached (columns, references, a collection's pending changes): it
        // joins the flush, as SQLAlchemy's modified flag brings it into the session's set
        let changed = st.has_changes() || st.modified_outside();
        st.set_modified_outside(false);
        if changed && !st.queued_modified() {
            st.set_queued_modified(true);
            drop(st);
            self.modified.borrow_mut().push(inst.clone());
        }
        Ok(())
    }

    /// `session:delete(obj)`: marks a persistent object for deletion at the next flush.
    pub fn delete(&self, inst: &Rc<Instance>) -> Result<()> {
        let status = inst.status();
        match status {
            Status::Transient | Status::Pending => {
                return Err(invalid!("Instance '{}' is not persisted", inst.describe()));
            }
            Status::Deleted => return Ok(()),
            _ => {}
        }
        // SQLAlchemy's `_before_attach` begins the session's transaction for any object
        // with a key, before it checks the object's session or whether it is already
        // marked: a rollback then expires what the session holds
        self.autobegin();
        match status {
            // attached for its deletion only: no save-update cascade, as SQLAlchemy's delete
            Status::Detached => self.add_one(inst)?,
            Status::Persistent if !self.owns(inst) => {
                return Err(invalid!(
                    "Object '{}' is already attached to another session",
                    inst.describe()
                ));
            }
            _ => {}
        }
        if inst.state().marked_deleted() {
            return Ok(());
        }
        // the `delete` cascade marks what goes with the object now, as SQLAlchemy's does
        // (loading unloaded collections first, which may autoflush); the flush's cascade
        // only adds what changed since
        let cascaded = if inst.mapper.relationships.borrow().is_empty() {
            Vec::new()
        } else {
            super::dependency::delete_cascade(self, inst)?
        };
        self.mark_deleted(inst);
        for x in &cascaded {
            match x.status() {
                Status::Persistent if self.owns(x) => self.mark_deleted(x),
                Status::Detached if x.state().was_deleted() => self.attach_deleted(x)?,
                // its DELETE flushed in this transaction: SQLAlchemy's cascade takes it
                // again (refused when a new row took its key, seed 1021), to be deleted again
                Status::Deleted if self.owns(x) => {
                    self.take_key_again(x)?;
                    if !x.state().marked_deleted() {
                        self.mark_deleted(x);
                    }
                }
                Status::Detached => {
                    self.add_one(x)?;
                    self.mark_deleted(x);
                }
                Status::Persistent => {
                    return Err(invalid!(
                        "Object '{}' (cascaded from the deletion of '{}') is already attached to another session",
                        x.describe(),
                        inst.describe()
                    ));
                }
                // pending and transient objects have no row
                _ => {}
            }
        }
        Ok(())
    }

    /// A detached object whose deletion was committed, reached by a delete cascade: attached
    /// again in the deleted state, as SQLAlchemy's `_delete_impl` attaches it with its
    /// deleted flag still set (no "has been deleted" refusal there), and marked for deletion:
    /// the flush sends its DELETE, which removes a row that took its key since (seed 999) or
    /// matches none (`StaleDataError`, BEHAVIOUR.md 10); a rollback makes it persistent again.
    /// Until that flush it is in the identity map (`take_key_again`).
    fn attach_deleted(&self, inst: &Rc<Instance>) -> Result<()> {
        if self.closed.get() {
            self.check_usable()?;
        }
        self.autobegin();
        self.take_key_again(inst)?;
        {
            let mut st = inst.state_mut();
            st.status = Status::Deleted;
            st.set_changed_while_deleted(false);
            st.session = Some(self.weak());
        }
        if let Some(f) = self.frames.borrow_mut().last_mut() {
            f.deleted.push(inst.clone());
        }
        self.mark_deleted(inst);
        Ok(())
    }

    /// SQLAlchemy's `_delete_impl` adds a deleted object it reaches again to the identity
    /// map, which refuses it when another object holds its key (a row that took the key
    /// since: seeds 1459, 1021). It stays there in the deleted state until the flush that
    /// deletes it: what looks in the identity map finds it (`expire_all`, `expire`,
    /// `refresh`, `get`, a query's rows, a many-to-one's lookup, a bulk operation's
    /// evaluation; seed 1009), the only objects of the deleted state there (`holds`).
    fn take_key_again(&self, inst: &Rc<Instance>) -> Result<()> {
        let key = inst.state().key.clone();
        if let Some(key) = key {
            if self
                .identity
                .borrow()
                .get(&key)
                .is_some_and(|existing| !Rc::ptr_eq(existing, inst))
            {
                return Err(invalid!(
                    "Can't attach instance {}; another instance with key {:?} is already present in this session",
                    inst.describe(),
                    key.values()
                ));
            }
            self.identity.borrow_mut().insert(key, inst.clone());
        }
        Ok(())
    }

    /// Takes an object out of the deletions of the next flush (see `Plan::cancelled_deletes`).
    pub(crate) fn unmark_deleted(&self, inst: &Rc<Instance>) {
        inst.state_mut().set_marked_deleted(false);
        self.deleted.borrow_mut().retain(|o| !Rc::ptr_eq(o, inst));
    }

    /// A deleted object a delete cascade took again (`attach_deleted`) whose deletion a
    /// saved owner's one-to-many cancels: saved as a persistent object, an UPDATE of the row
    /// its key names (which matches none once the row is gone: `StaleDataError`), as
    /// SQLAlchemy's unit of work saves the state its `cancel_delete` registered (seed 7979).
    pub(crate) fn revert_deletion(&self, inst: &Rc<Instance>) {
        let mut st = inst.state_mut();
        st.status = Status::Persistent;
        st.set_changed_while_deleted(false);
        if !st.queued_modified() {
            st.set_queued_modified(true);
            drop(st);
            self.modified.borrow_mut().push(inst.clone());
        }
    }

    pub(crate) fn mark_deleted(&self, inst: &Rc<Instance>) {
        let mut st = inst.state_mut();
        if !st.marked_deleted() {
            st.set_marked_deleted(true);
            drop(st);
            self.deleted.borrow_mut().push(inst.clone());
        }
    }

    /// `session:expunge(obj)`: removes the object from the session.
    pub fn expunge(&self, inst: &Rc<Instance>) -> Result<()> {
        if !self.owns(inst) {
            return Err(invalid!(
                "Instance {} is not present in this Session",
                inst.describe()
            ));
        }
        // the `expunge` cascade: related objects this session holds leave with it
        let related = super::dependency::cascade_iterator(inst, &|c| c.expunge);
        for x in std::iter::once(inst).chain(related.iter().filter(|r| self.owns(r))) {
            let was_persistent = x.status() == Status::Persistent;
            self.remove_everywhere(x);
            x.detach();
            if was_persistent {
                self.dispatch(SessionEvent::PersistentToDetached, Some(x), None)?;
            }
        }
        Ok(())
    }

    /// Takes the object out of the identity map (where it is itself the entry) and every
    /// list of the session, without events.
    pub(crate) fn remove_everywhere(&self, inst: &Rc<Instance>) {
        let key = inst.state().key.clone();
        if let Some(k) = key {
            let mut map = self.identity.borrow_mut();
            if map.get(&k).is_some_and(|o| Rc::ptr_eq(o, inst)) {
                map.remove(&k);
            }
        }
        self.new.borrow_mut().retain(|o| !Rc::ptr_eq(o, inst));
        self.deleted.borrow_mut().retain(|o| !Rc::ptr_eq(o, inst));
        self.modified.borrow_mut().retain(|o| !Rc::ptr_eq(o, inst));
    }

    /// Every object the session holds: persistent, then pending.
    pub fn all_instances(&self) -> Vec<Rc<Instance>> {
        let mut out: Vec<Rc<Instance>> = self.identity.borrow().values().cloned().collect();
        out.extend(self.new.borrow().iter().cloned());
        out
    }

    pub fn expunge_all(&self) {
        for w in self.lingering_deleted.take() {
            if let Some(inst) = w.upgrade() {
                if inst.status() == Status::Deleted && self.owns(&inst) {
                    inst.detach();
                }
            }
        }
        let all: Vec<Rc<Instance>> = {
            let mut v: Vec<Rc<Instance>> =
                self.identity.borrow_mut().drain().map(|(_, i)| i).collect();
            v.append(&mut self.new.borrow_mut());
            v.extend(
                self.frames
                    .borrow()
                    .iter()
                    .flat_map(|f| f.deleted.iter().cloned()),
            );
            v
        };
        self.deleted.borrow_mut().clear();
        self.modified.borrow_mut().clear();
        for f in self.frames.borrow_mut().iter_mut() {
            f.inserted.clear();
            f.deleted.clear();
            f.added.clear();
        }
        for inst in &all {
            let was_persistent = inst.status() == Status::Persistent;
            inst.detach();
            if was_persistent && !self.listeners.is_empty() {
                // close() cannot fail: a listener's error here is dropped
                let _ = self.dispatch(SessionEvent::PersistentToDetached, Some(inst), None);
            }
        }
        drop(all);
        super::cycles::collect();
    }

    pub fn contains(&self, inst: &Rc<Instance>) -> bool {
        self.owns(inst) && !matches!(inst.status(), Status::Deleted)
    }

    // ---- the pending, dirty and deleted collections ----------------------------------

    pub fn new_objects(&self) -> Vec<Rc<Instance>> {
        self.new.borrow().clone()
    }
    /// Persistent objects with attributes set since the last flush (SQLAlchemy's
    /// optimistic `dirty`: a set back to the same value still counts).
    pub fn dirty_objects(&self) -> Vec<Rc<Instance>> {
        self.modified
            .borrow()
            .iter()
            .filter(|i| {
                let st = i.state();
                // SQLAlchemy's modified flag: any set, even one that changes nothing
                st.status == Status::Persistent && !st.marked_deleted()
            })
            .cloned()
            .collect()
    }
    pub fn deleted_objects(&self) -> Vec<Rc<Instance>> {
        self.deleted.borrow().clone()
    }

    /// Not clean, as SQLAlchemy's `_is_clean`: new objects, objects marked for deletion, or
    /// modified objects of the identity map. An object whose DELETE was flushed has left the
    /// identity map: its changes since do not count (seed 1192: a flush after a failed one
    /// is a no-op, not PendingRollbackError).
    pub fn has_pending_changes(&self) -> bool {
        !self.new.borrow().is_empty()
            || !self.deleted.borrow().is_empty()
            || self
                .modified
                .borrow()
                .iter()
                .any(|i| i.status() != Status::Deleted)
    }

    // ---- flush, autoflush ------------------------------------------------------------

    pub fn flush(&self) -> Result<()> {
        // nothing to flush: nothing is checked either (SQLAlchemy's flush of a clean
        // session returns before it looks at the transaction)
        if self.closed.get() {
            self.check_usable()?;
        }
        if !self.has_pending_changes() {
            return Ok(());
        }
        if self.flushing.get() {
            return Err(invalid!("Session is already flushing"));
        }
        // SQLAlchemy's order: before_flush, the pending orphans outside dropped, nothing
        // left to do ends the flush, and only then is the transaction checked (a session
        // waiting for its rollback fires before_flush, then raises PendingRollbackError)
        if !self.listeners.is_empty() {
            // a flush from inside before_flush is refused as a re-entrant flush
            self.flushing.set(true);
            let r = self.dispatch(SessionEvent::BeforeFlush, None, None);
            self.flushing.set(false);
            r?;
        }
        // (when that leaves nothing, no after_flush either: seed 3071)
        super::dependency::expunge_orphans_outside(self)?;
        if !self.has_pending_changes() {
            return Ok(());
        }
        self.check_usable()?;
        // flushing from here: listeners (after_begin included) cannot end the transaction.
        // The connection is taken when the unit of work has a statement to send, as
        // SQLAlchemy's flush takes it at its first statement: a flush that fails before
        // (a circular dependency among its rows) takes none and fires no after_begin
        self.flushing.set(true);
        let conn_for = || self.flush_connection();
        // inside a savepoint, the persistent objects this flush writes are recorded: rolling
        // the savepoint back expires them (their relationships too), as SQLAlchemy does
        let nested = self.frames.borrow().len() > 1;
        let flushed: Vec<Rc<Instance>> = if nested {
            self.modified.borrow().clone()
        } else {
            Vec::new()
        };
        // SQLAlchemy registers every object of the flush as persistent at its end, reading
        // its identity key: one whose key is expired (a parent whose collection changed,
        // either side of a many-to-many link, an object set to what it held) is loaded
        // there. Objects loaded and then changed (the hot path) pay one look each.
        let key_expired = |i: &Rc<Instance>| {
            let st = i.state();
            st.status == Status::Persistent
                && !st.marked_deleted()
                && i.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
        };
        let mut expired_keys: Vec<Rc<Instance>> = Vec::new();
        for inst in self
            .new
            .borrow()
            .iter()
            .chain(self.modified.borrow().iter())
        {
            if key_expired(inst) {
                expired_keys.push(inst.clone());
            }
            // the members a one-to-many gained or lost are registered with the flush too (not
            // those of an object whose DELETE was flushed: out of the identity map, it is out
            // of SQLAlchemy's flush)
            let st = inst.state();
            let Some(rels) = st
                .rels
                .as_ref()
                .filter(|_| st.status != Status::Deleted)
                .filter(|_| st.rels_pending())
            else {
                continue;
            };
            for rel in inst.mapper.relationships.borrow().iter() {
                if rel.viewonly || rel.direction != super::relationships::Direction::OneToMany {
                    continue;
                }
                if let Some(RelState::Collection(c) | RelState::Pending(c)) = rels.get(rel.index) {
                    expired_keys.extend(
                        c.added
                            .iter()
                            .chain(c.removed.iter())
                            .filter(|t| self.owns(t) && key_expired(t))
                            .cloned(),
                    );
                }
            }
        }
        let register = || {
            for inst in &expired_keys {
                let again = {
                    let st = inst.state();
                    st.status == Status::Persistent
                        && inst.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
                };
                if again {
                    self.load_expired(inst)?;
                }
            }
            Ok(())
        };
        // (a deleted object's expired key is read where SQLAlchemy's flush reads it: by
        // the preprocess loading its collections, mapper by mapper (`load_for_deletes`),
        // else at its DELETE)
        let result = self.flush_by_bind(&conn_for, &register);
        self.flushing.set(false);
        // recorded also when the flush failed: one that fails as it registers its objects
        // (reading a key a row deleted meanwhile took: `ObjectDeletedError`) has marked them
        // clean here already, but SQLAlchemy's `_register_persistent` raises before it commits
        // any of them, so they keep their modified flag and the savepoint's rollback expires
        // them whole (seed 1400: a parent whose collection a backref changed, not loaded)
        if nested {
            if let Some(f) = self.frames.borrow_mut().last_mut() {
                f.updated.extend(flushed);
            }
        }
        if let Err(e) = result {
            let conn = self.current_connection();
            self.fail_transaction(conn.as_deref(), &e)?;
            return Err(e);
        }
        super::cycles::maybe_collect();
        Ok(())
    }

    /// A failed flush rolls the transaction back at once, as SQLAlchemy does before raising:
    /// the whole transaction, or the innermost savepoint. The in-memory side follows at once
    /// too: objects added in it become transient (generated keys cleared), deleted ones
    /// persistent, and persistent objects are expired (all of them for the whole transaction;
    /// those the savepoint changed for a savepoint, `expire_after_savepoint`). The session then refuses work until
    /// `rollback()`. Returns the error of an `after_rollback` listener, if one raised.
    pub(crate) fn fail_transaction(&self, conn: Option<&Connection>, err: &Error) -> Result<()> {
        // the innermost savepoint's frame, with its SAVEPOINT's name once taken (a flush that
        // failed before it needed the connection took none: only the in-memory side is
        // undone, and the enclosing transaction stays)
        let sp = self
            .frames
            .borrow()
            .last()
            .filter(|f| f.nested)
            .map(|f| f.savepoint.clone());
        *self.pending_rollback.borrow_mut() = Some(err.clone());
        // the records of the frames rolled back; the frames stay (emptied) until rollback()
        let take = |f: &mut Frame| Frame {
            nested: false,
            savepoint: None,
            inserted: std::mem::take(&mut f.inserted),
            deleted: std::mem::take(&mut f.deleted),
            added: std::mem::take(&mut f.added),
            updated: std::mem::take(&mut f.updated),
            rekeyed: std::mem::take(&mut f.rekeyed),
        };
        match sp {
            Some(name) => {
                if let Some(name) = &name {
                    if let Some(conn) = conn {
                        let _ = conn.rollback_to_savepoint(name);
                    }
                    self.rollback_to_binds(name);
                }
                let frame = self.frames.borrow_mut().last_mut().map(take);
                let touched = self.undo_frames(frame.into_iter().collect());
                self.expire_after_savepoint(touched);
                // as SQLAlchemy's rollback of the nested transaction the failed flush was in
                self.dispatch(SessionEvent::AfterRollback, None, None)
            }
            None => {
                if let Some(conn) = conn {
                    let _ = self.root_tx.borrow().rollback(conn);
                }
                self.rollback_binds();
                let frames: Vec<Frame> = self
                    .frames
                    .borrow_mut()
                    .iter_mut()
                    .rev()
                    .map(take)
                    .collect();
                self.undo_frames(frames);
                self.expire_all();
                self.dispatch(SessionEvent::AfterRollback, None, None)
            }
        }
    }

    pub fn autoflush(&self) -> Result<()> {
        if self.config.borrow().autoflush && self.no_autoflush.get() == 0 && !self.flushing.get() {
            self.flush()
        } else {
            self.check_usable()
        }
    }

    pub fn enter_no_autoflush(&self) {
        self.no_autoflush.set(self.no_autoflush.get() + 1);
    }
    pub fn exit_no_autoflush(&self) {
        self.no_autoflush
            .set(self.no_autoflush.get().saturating_sub(1));
    }

    // ---- commit, rollback, close -----------------------------------------------------

    /// Refuses what would end the transaction a flush is running in (a listener's call).
    pub fn not_flushing(&self, what: &str) -> Result<()> {
        if self.flushing.get() {
            return Err(invalid!(
                "Session is flushing: {what} is not allowed from inside a flush (an event listener?)"
            ));
        }
        Ok(())
    }

    /// As SQLAlchemy's commit of a transaction or of a savepoint (`_prepare_impl`): flushes
    /// until nothing is left (a deletion a flush put off because a saved parent's collection
    /// gained the object, changes an after_flush listener made), at most 100 times.
    fn flush_until_clean(&self) -> Result<()> {
        let mut flushes = 0;
        while flushes == 0 || self.has_pending_changes() {
            if flushes == 100 {
                return Err(invalid!(
                    "Over 100 subsequent flushes have occurred within session.commit() - is an \
                     after_flush() hook creating new objects?"
                ));
            }
            self.flush()?;
            flushes += 1;
        }
        Ok(())
    }

    pub fn commit(&self) -> Result<()> {
        self.not_flushing("commit()")?;
        self.check_usable()?;
        self.dispatch(SessionEvent::BeforeCommit, None, None)?;
        // savepoints still open are committed first, innermost first, each as its own
        // commit (`before_commit`, its flushes, RELEASE, `after_commit`), as SQLAlchemy's
        // commit of the root transaction commits its subtransactions
        while self.in_nested_transaction() {
            self.release_nested()?;
        }
        self.flush_until_clean()?;
        let conn = self.conn.borrow().clone();
        if let Some(conn) = conn {
            let committed = self.root_tx.borrow().commit(&conn);
            if let Err(e) = committed {
                self.fail_transaction(Some(&conn), &e)?;
                return Err(e);
            }
        }
        self.commit_binds()?;
        self.conn.borrow_mut().take();
        let frames: Vec<Frame> = self.frames.borrow_mut().drain(..).collect();
        self.savepoints_pending.set(false);
        let expire = self.config.borrow().expire_on_commit;
        for f in frames {
            for inst in f.deleted {
                if expire {
                    inst.detach();
                } else {
                    self.lingering_deleted
                        .borrow_mut()
                        .push(Rc::downgrade(&inst));
                }
            }
        }
        if expire {
            self.expire_all();
        }
        self.dispatch(SessionEvent::AfterCommit, None, None)
    }

    /// Rolls back the whole transaction: database first, then the objects as the contract
    /// says (added → transient with generated keys cleared, deleted → persistent, every
    /// persistent object expired).
    pub fn rollback(&self) -> Result<()> {
        self.not_flushing("rollback()")?;
        if self.closed.get() {
            self.check_usable()?;
        }
        let conn = self.conn.borrow_mut().take();
        let mut result = Ok(());
        if let Some(conn) = conn {
            result = self.root_tx.borrow().rollback(&conn);
        }
        self.rollback_binds();
        // after a failed flush, after_rollback already ran when it rolled back
        let failed_root =
            self.pending_rollback.borrow().is_some() && self.frames.borrow().len() == 1;
        let was_open = !self.frames.borrow().is_empty() && !failed_root;
        let frames: Vec<Frame> = self.frames.borrow_mut().drain(..).rev().collect();
        self.savepoints_pending.set(false);
        // no transaction begun (nothing read or written since the last commit): nothing
        // to roll back and nothing expires, as SQLAlchemy's rollback() without a transaction.
        // After a failed flush of the whole transaction, whose rollback restored the objects
        // already, SQLAlchemy restores them again only when the session changed since (new,
        // deleted or modified objects; it warns "Session's state has been changed on a
        // non-active transaction"): an object attached unchanged since keeps its values
        // (seed 544)
        if failed_root && !self.has_pending_changes() {
            // nothing is restored: an object a lookup found deleted since (its row gone)
            // stays deleted until the session closes, as SQLAlchemy's
            // `_remove_newly_deleted` leaves it (seed 823)
            let mut lingering = self.lingering_deleted.borrow_mut();
            for f in frames {
                for inst in f.deleted {
                    if inst.status() == Status::Deleted {
                        lingering.push(Rc::downgrade(&inst));
                    }
                }
            }
        } else {
            let had_transaction = !frames.is_empty();
            self.undo_frames(frames);
            if had_transaction {
                self.expire_all();
            }
        }
        *self.pending_rollback.borrow_mut() = None;
        result?;
        if was_open {
            self.dispatch(SessionEvent::AfterRollback, None, None)?;
        }
        Ok(())
    }

    /// Undoes the in-memory effects of the given frames (innermost first): objects a flush
    /// inserted become transient again, deleted ones persistent, changed keys revert, objects
    /// added become transient. Returns the objects whose state the frames touched.
    fn undo_frames(&self, frames: Vec<Frame>) -> Vec<Rc<Instance>> {
        let mut touched: Vec<Rc<Instance>> = Vec::new();
        // objects these frames inserted: made transient below, one of them deleted too does
        // not take its key back (SQLAlchemy expunges it as new first, which takes it out of
        // the deletions to revert), and an object attached since with that key keeps it
        let inserted: super::identity::FxHashSet<*const Instance> = frames
            .iter()
            .flat_map(|f| f.inserted.iter().map(Rc::as_ptr))
            .collect();
        // the objects whose generated key (loaded) the rollback clears
        let mut cleared: super::identity::FxHashSet<*const Instance> = Default::default();
        // and those of a failed flush: SQLAlchemy set them as each INSERT returned
        cleared.extend(self.failed_inserts.take().iter().map(Rc::as_ptr));
        let mut made_transient: Vec<Rc<Instance>> = Vec::new();
        for f in frames {
            for (inst, old) in f.rekeyed.into_iter().rev() {
                let mut map = self.identity.borrow_mut();
                let new = inst.state_mut().key.replace(old.clone());
                if let Some(k) = new {
                    if map.get(&k).is_some_and(|o| Rc::ptr_eq(o, &inst)) {
                        map.remove(&k);
                    }
                }
                map.insert(old, inst.clone());
                touched.push(inst);
            }
            // deleted before inserted: an object inserted and deleted in the same frame
            // ends up transient. A deleted object takes its key back even from an object
            // inserted since with the same key (SQLite reuses the highest id), which leaves
            // below, as SQLAlchemy's revert of a deletion replaces the identity map's entry.
            for inst in f.deleted {
                let key = inst.state().key.clone();
                if let Some(k) = key.filter(|_| !inserted.contains(&Rc::as_ptr(&inst))) {
                    self.identity.borrow_mut().insert(k, inst.clone());
                }
                let mut st = inst.state_mut();
                st.status = Status::Persistent;
                st.set_was_deleted(false);
                st.set_marked_deleted(false);
                // not expired by a savepoint's rollback, as in SQLAlchemy, unless it also
                // had changes (then `updated` holds it) or changed since its DELETE (seeds 1388,
                // 160: SQLAlchemy's modified flag stays on the deleted state)
                if st.changed_while_deleted() {
                    st.set_changed_while_deleted(false);
                    drop(st);
                    touched.push(inst);
                }
            }
            touched.extend(f.updated);
            for inst in f.inserted {
                let key = inst.state().key.clone();
                if let Some(k) = key {
                    let mut map = self.identity.borrow_mut();
                    if map.get(&k).is_some_and(|o| Rc::ptr_eq(o, &inst)) {
                        map.remove(&k);
                    }
                }
                {
                    let mut st = inst.state_mut();
                    st.key = None;
                    st.set_was_deleted(false);
                    // SQLAlchemy refuses to flush it again when its key was expired
                    let key_expired = inst.mapper.pk.iter().any(|&p| !st.loaded.contains(p));
                    st.set_key_expired(key_expired);
                    let attrs_expired =
                        (0..inst.mapper.attrs.len()).any(|i| !st.loaded.contains(i));
                    st.set_attrs_expired(attrs_expired);
                    if st.generated_key() {
                        if let Some(a) = inst.mapper.autoincrement {
                            if st.loaded.contains(a) {
                                cleared.insert(Rc::as_ptr(&inst));
                            }
                            st.values[a] = crate::value::Value::Null;
                            st.loaded.remove(a);
                            st.set_key_cleared(true);
                        }
                        st.set_generated_key(false);
                    }
                    st.committed.clear();
                }
                inst.detach();
                made_transient.push(inst);
            }
            for inst in f.added {
                if inst.status() == Status::Pending && self.owns(&inst) {
                    self.new.borrow_mut().retain(|o| !Rc::ptr_eq(o, &inst));
                    inst.detach();
                    // transient again too: a key it copied from an object inserted in
                    // these frames is as stale (seed 4879: its INSERT failed after the
                    // parent's)
                    made_transient.push(inst);
                }
            }
        }
        for inst in &made_transient {
            super::collections::resync_cleared_keys(inst, &cleared);
        }
        // and those transient already (out of the session: a savepoint's rollback made them
        // so), whose many-to-one holds an object whose key this rollback clears: the key
        // they copied from it is as stale (seed 5575)
        if !cleared.is_empty() {
            for inst in super::instance::transient_holders() {
                if !made_transient.iter().any(|m| Rc::ptr_eq(m, &inst)) {
                    super::collections::resync_cleared_keys(&inst, &cleared);
                }
            }
        }
        for inst in self.deleted.borrow_mut().drain(..) {
            let mut st = inst.state_mut();
            st.set_marked_deleted(false);
            if st.status == Status::Deleted {
                // its DELETE committed in an earlier transaction (kept in the deleted state
                // by `expire_on_commit = false`), marked again by a delete cascade: the
                // rollback reverts that deletion too, as SQLAlchemy's reverts every state of
                // the session's deleted set (seed 2187)
                st.status = Status::Persistent;
                st.set_was_deleted(false);
                if let Some(k) = st.key.clone() {
                    self.identity.borrow_mut().insert(k, inst.clone());
                }
            }
            // changed before delete() reached it (while detached, say, before a delete
            // cascade attached it): SQLAlchemy's modified flag, so a savepoint's rollback
            // expires it whole (seed 591)
            let changed = st.has_changes() || st.changed_while_deleted();
            st.set_changed_while_deleted(false);
            drop(st);
            if changed {
                touched.push(inst);
            }
        }
        for inst in self.modified.borrow_mut().drain(..) {
            inst.state_mut().set_queued_modified(false);
            touched.push(inst);
        }
        touched
    }

    /// `session:close()`: rolls back a transaction still open and detaches every object,
    /// keeping the values they hold.
    pub fn close(&self) {
        if let Some(conn) = self.conn.borrow_mut().take() {
            let _ = self.root_tx.borrow().close(&conn);
        }
        self.rollback_binds();
        self.expunge_all();
        self.frames.borrow_mut().clear();
        self.savepoints_pending.set(false);
        *self.pending_rollback.borrow_mut() = None;
        if !self.config.borrow().close_resets_only {
            self.closed.set(true);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    // ---- savepoints ------------------------------------------------------------------

    /// Flushes, then begins a savepoint; returns its depth. As SQLAlchemy's, the SAVEPOINT
    /// (and the transaction, when none has its connection yet) is taken when something in it
    /// first needs the connection, with `after_begin`; a savepoint nothing used ends without
    /// SQL. A session with other binds, or joined to a caller's connection, takes it now.
    pub fn begin_nested(&self) -> Result<usize> {
        // refused before its flush, as SQLAlchemy's begin_nested checks the transaction
        // before the flush of its snapshot (no before_flush for a session awaiting rollback)
        self.check_usable()?;
        self.flush()?;
        self.autobegin();
        let depth = {
            let mut frames = self.frames.borrow_mut();
            frames.push(Frame {
                nested: true,
                ..Frame::default()
            });
            frames.len() - 1
        };
        self.savepoints_pending.set(true);
        if self.has_binds() || self.bound_conn.borrow().is_some() {
            self.connection()?;
        }
        Ok(depth)
    }

    /// Flushes and releases the innermost savepoint; its records join the enclosing frame.
    /// Flushes as a commit does, until nothing is left: a deletion the first flush put off
    /// (the object a saved parent's collection gained) is sent before the RELEASE (seed 455).
    pub fn release_nested(&self) -> Result<()> {
        // SQLAlchemy's commit of a savepoint is a commit's: `before_commit`, flushes until
        // the session is clean, `after_commit` once released
        self.dispatch(SessionEvent::BeforeCommit, None, None)?;
        self.flush_until_clean()?;
        if !self.in_nested_transaction() {
            return Err(invalid!("no savepoint is open"));
        }
        let frame = self.frames.borrow_mut().pop().expect("checked");
        // a savepoint nothing used took no SAVEPOINT: nothing to release
        if let Some(name) = &frame.savepoint {
            let conn = self.connection()?;
            conn.release_savepoint(name)?;
            self.release_binds(name)?;
        }
        if let Some(parent) = self.frames.borrow_mut().last_mut() {
            parent.inserted.extend(frame.inserted);
            parent.deleted.extend(frame.deleted);
            parent.added.extend(frame.added);
            parent.updated.extend(frame.updated);
            parent.rekeyed.extend(frame.rekeyed);
        }
        self.dispatch(SessionEvent::AfterCommit, None, None)
    }

    /// Rolls back to the innermost savepoint and undoes its in-memory changes.
    pub fn rollback_nested(&self) -> Result<()> {
        let is_sp = self.frames.borrow().last().is_some_and(|f| f.nested);
        if !is_sp {
            return Err(invalid!("no savepoint is open"));
        }
        let frame = self.frames.borrow_mut().pop().expect("checked");
        // a savepoint nothing used took no SAVEPOINT: only the in-memory side is undone
        let name = frame.savepoint.clone().unwrap_or_default();
        let conn = self
            .conn
            .borrow()
            .clone()
            .filter(|_| frame.savepoint.is_some());
        let mut result = Ok(());
        // a flush that failed inside the savepoint rolled the database back to it already
        let rolled_back = self.pending_rollback.borrow().is_some();
        if let Some(conn) = conn {
            result = if rolled_back {
                Ok(())
            } else {
                conn.rollback_to_savepoint(&name)
            }
            .and_then(|_| conn.release_savepoint(&name));
        }
        if frame.savepoint.is_some() {
            if !rolled_back {
                self.rollback_to_binds(&name);
            }
            let _ = self.release_binds(&name);
        }
        *self.pending_rollback.borrow_mut() = None;
        let touched = self.undo_frames(vec![frame]);
        self.expire_after_savepoint(touched);
        result?;
        // a savepoint's rollback is a rollback (SQLAlchemy fires after_rollback for it, SQL
        // sent or not); one a failed flush rolled back fired it then
        if !rolled_back {
            self.dispatch(SessionEvent::AfterRollback, None, None)?;
        }
        Ok(())
    }

    /// What a savepoint's rollback (by `rollback_nested`, or by a flush failing inside it)
    /// expires of the objects its frame touched: as SQLAlchemy, only what the savepoint
    /// changed, relationships included (their collections may hold what the savepoint
    /// appended, removed or moved). An object whose deletion an enclosing frame flushed is out
    /// of the identity map, and SQLAlchemy's `_restore_snapshot` expires only the identity
    /// map's objects: it keeps what it holds, also a change made since (seed 907).
    fn expire_after_savepoint(&self, touched: Vec<Rc<Instance>>) {
        for inst in touched {
            if inst.status() == Status::Persistent && self.owns(&inst) {
                inst.expire(None);
                inst.expire_relationships();
            }
        }
    }

    // ---- expiry ----------------------------------------------------------------------

    pub fn expire_all(&self) {
        for inst in self.identity.borrow().values() {
            inst.expire(None);
            inst.expire_relationships();
            inst.state_mut().set_queued_modified(false);
        }
        self.modified.borrow_mut().clear();
    }

    /// `session:expire(obj, { names })`: the named columns and column properties expire,
    /// the named relationships unload (each reloads on next access). Refused, changing
    /// nothing, when the object is not persistent in this session or a name is unknown.
    pub fn expire_named(&self, inst: &Rc<Instance>, names: &[String]) -> Result<()> {
        self.check_persistent(inst)?;
        let m = &inst.mapper;
        let mut attrs = Vec::new();
        let mut rels = Vec::new();
        for n in names {
            if let Some(rel) = m.relationship(n) {
                rels.push(rel.index);
            } else if let Some(i) = m.attr_index(n).or_else(|| m.prop_index(n)) {
                attrs.push(i);
            } else {
                return Err(Error::argument(format!(
                    "session:expire(): {} has no attribute '{n}'",
                    m.class_name
                )));
            }
        }
        for r in rels {
            inst.with_rel(r, |s| *s = super::collections::RelState::Unloaded);
        }
        self.expire(inst, Some(&attrs))
    }

    fn check_persistent(&self, inst: &Rc<Instance>) -> Result<()> {
        // SQLAlchemy asks the identity map: a deleted object `take_key_again` put there counts
        let held = inst.status() == Status::Deleted && self.holds(inst);
        if !self.owns(inst) || (inst.status() != Status::Persistent && !held) {
            return Err(invalid!(
                "Instance '{}' is not persistent within this Session",
                inst.describe()
            ));
        }
        Ok(())
    }

    pub fn expire(&self, inst: &Rc<Instance>, attrs: Option<&[usize]>) -> Result<()> {
        self.check_persistent(inst)?;
        if attrs.is_none() {
            // the `refresh-expire` cascade, and the relationships themselves reload; an
            // object expired whole has no changes left and leaves the modified list, as
            // SQLAlchemy's `_expire` takes it out of the session's modified set; a pending
            // object the cascade reaches leaves the session (transient), as SQLAlchemy's
            // `_conditional_expire` expunges it
            let mut expired = vec![inst.clone()];
            for r in super::dependency::cascade_iterator(inst, &|c| c.refresh_expire) {
                // every object with a row: deleted ones and those of other sessions too
                if r.state().key.is_some() {
                    r.expire(None);
                    r.expire_relationships();
                    if self.owns(&r) {
                        expired.push(r);
                    }
                } else if self.owns(&r) && r.status() == Status::Pending {
                    self.remove_everywhere(&r);
                    r.detach();
                }
            }
            inst.expire_relationships();
            inst.expire(None);
            for r in &expired {
                r.state_mut().set_queued_modified(false);
            }
            self.modified
                .borrow_mut()
                .retain(|m| !expired.iter().any(|r| Rc::ptr_eq(r, m)));
            return Ok(());
        }
        inst.expire(attrs);
        Ok(())
    }

    /// A persistent object whose row a reload found gone (`get`, a many-to-one from the
    /// identity map): deleted in this transaction, as SQLAlchemy's `_remove_newly_deleted`
    /// makes it (out of the identity map; detached by the commit, persistent again after a
    /// rollback).
    pub(crate) fn remove_newly_deleted(&self, inst: &Rc<Instance>) {
        if inst.status() == Status::Deleted && self.owns(inst) && self.holds(inst) {
            // put there by `take_key_again` (a frame holds it already): out of the identity
            // map and of the flush's deletions
            self.remove_everywhere(inst);
            inst.state_mut().set_marked_deleted(false);
            return;
        }
        if inst.status() != Status::Persistent || !self.owns(inst) {
            return;
        }
        self.remove_everywhere(inst);
        {
            let mut st = inst.state_mut();
            st.status = Status::Deleted;
            st.set_changed_while_deleted(false);
            st.set_was_deleted(true);
            st.set_marked_deleted(false);
            st.set_queued_modified(false);
        }
        self.autobegin();
        if let Some(f) = self.frames.borrow_mut().last_mut() {
            f.deleted.push(inst.clone());
        }
    }

    pub fn find(&self, key: &IdentityKey) -> Option<Rc<Instance>> {
        self.identity.borrow().get(key).cloned()
    }
}
