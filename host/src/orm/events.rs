//! Events: listeners the program hangs on mappers (`before_insert`, `load`, ...) and on
//! sessions (`before_flush`, `after_commit`, the object state transitions), called by the
//! unit of work, the loader and the session at the points SQLAlchemy calls them. The core
//! knows listeners only as Rust closures; the binding wraps its Lua functions in them.
//!
//! A listener's error aborts the operation and reaches the caller unchanged (the binding
//! carries the raised value in `Error::cause`). A model or session without listeners pays
//! one empty-list check per event point.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::identity::FxHashMap;
use super::instance::Instance;
use super::session::SessionCore;
use crate::engine::Connection;
use crate::error::Result;
use crate::listeners::Listeners;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapperEvent {
    BeforeInsert,
    AfterInsert,
    BeforeUpdate,
    AfterUpdate,
    BeforeDelete,
    AfterDelete,
    /// An instance built from a row (not one the identity map already held).
    Load,
    /// Expired attributes loaded again (`attrs`: which, or all).
    Refresh,
}

impl MapperEvent {
    pub fn parse(name: &str) -> Option<MapperEvent> {
        Some(match name {
            "before_insert" => MapperEvent::BeforeInsert,
            "after_insert" => MapperEvent::AfterInsert,
            "before_update" => MapperEvent::BeforeUpdate,
            "after_update" => MapperEvent::AfterUpdate,
            "before_delete" => MapperEvent::BeforeDelete,
            "after_delete" => MapperEvent::AfterDelete,
            "load" => MapperEvent::Load,
            "refresh" => MapperEvent::Refresh,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEvent {
    BeforeFlush,
    AfterFlush,
    AfterFlushPostexec,
    BeforeCommit,
    AfterCommit,
    AfterRollback,
    AfterBegin,
    TransientToPending,
    PendingToPersistent,
    PersistentToDetached,
}

impl SessionEvent {
    pub fn parse(name: &str) -> Option<SessionEvent> {
        Some(match name {
            "before_flush" => SessionEvent::BeforeFlush,
            "after_flush" => SessionEvent::AfterFlush,
            "after_flush_postexec" => SessionEvent::AfterFlushPostexec,
            "before_commit" => SessionEvent::BeforeCommit,
            "after_commit" => SessionEvent::AfterCommit,
            "after_rollback" => SessionEvent::AfterRollback,
            "after_begin" => SessionEvent::AfterBegin,
            "transient_to_pending" => SessionEvent::TransientToPending,
            "pending_to_persistent" => SessionEvent::PendingToPersistent,
            "persistent_to_detached" => SessionEvent::PersistentToDetached,
            _ => return None,
        })
    }
}

/// What a mapper listener is told.
pub struct MapperArgs<'a> {
    pub event: MapperEvent,
    pub target: &'a Rc<Instance>,
    /// The flush's connection (insert / update / delete events).
    pub connection: Option<&'a Connection>,
    /// `refresh`: the attributes loaded again (`None`: all).
    pub attrs: Option<&'a [usize]>,
}

/// What a session listener is told.
pub struct SessionArgs<'a> {
    pub event: SessionEvent,
    pub session: &'a SessionCore,
    /// The object of a state transition.
    pub object: Option<&'a Rc<Instance>>,
    /// `after_begin`: the transaction's connection.
    pub connection: Option<&'a Connection>,
}

pub type MapperListener = Rc<dyn Fn(&MapperArgs<'_>) -> Result<()>>;
pub type SessionListener = Rc<dyn Fn(&SessionArgs<'_>) -> Result<()>>;

pub type MapperListeners = Listeners<MapperEvent, MapperListener>;
pub type SessionListeners = Listeners<SessionEvent, SessionListener>;

thread_local! {
    /// Mapper listeners by mapper id.
    static MAPPERS: RefCell<FxHashMap<u32, Rc<MapperListeners>>> = RefCell::new(FxHashMap::default());
    /// How many mappers have listeners: zero keeps every event point to one check.
    static ANY_MAPPER: Cell<usize> = const { Cell::new(0) };
}

/// The listeners of mapper `id` (created on first use).
pub fn mapper_listeners(id: u32) -> Rc<MapperListeners> {
    MAPPERS.with(|m| {
        m.borrow_mut()
            .entry(id)
            .or_insert_with(|| {
                ANY_MAPPER.with(|a| a.set(a.get() + 1));
                Rc::default()
            })
            .clone()
    })
}

/// The listeners of mapper `id` when it has any.
fn listeners_of(id: u32) -> Option<Rc<MapperListeners>> {
    if ANY_MAPPER.with(Cell::get) == 0 {
        return None;
    }
    MAPPERS.with(|m| m.borrow().get(&id).filter(|l| !l.is_empty()).cloned())
}

/// Whether mapper `id` listens for `event`.
pub fn mapper_listens(id: u32, event: MapperEvent) -> bool {
    listeners_of(id).is_some_and(|l| l.has(event))
}

/// Calls the listeners of `event` on `target`'s mapper.
pub fn dispatch_mapper(
    event: MapperEvent,
    target: &Rc<Instance>,
    connection: Option<&Connection>,
    attrs: Option<&[usize]>,
) -> Result<()> {
    let Some(l) = listeners_of(target.mapper.id) else {
        return Ok(());
    };
    for f in l.take_for(event) {
        f(&MapperArgs {
            event,
            target,
            connection,
            attrs,
        })?;
    }
    Ok(())
}

impl SessionCore {
    /// Calls the session's listeners of `event`.
    pub(crate) fn dispatch(
        &self,
        event: SessionEvent,
        object: Option<&Rc<Instance>>,
        connection: Option<&Connection>,
    ) -> Result<()> {
        if self.listeners.is_empty() {
            return Ok(());
        }
        for f in self.listeners.take_for(event) {
            f(&SessionArgs {
                event,
                session: self,
                object,
                connection,
            })?;
        }
        Ok(())
    }
}
