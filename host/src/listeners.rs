//! A registry of event listeners, shared by the engine's events and the ORM's: listeners of
//! one event source in registration order, each with the id the binding removes it by and a
//! `once` flag.

use std::cell::RefCell;

/// Listeners of one kind of event source, in registration order. `id` lets the binding
/// remove one (by the function it wraps); `once` listeners go after their first call.
pub struct Listeners<E, F> {
    list: RefCell<Vec<Entry<E, F>>>,
}

struct Entry<E, F> {
    event: E,
    id: u64,
    once: bool,
    f: F,
}

impl<E, F> Default for Listeners<E, F> {
    fn default() -> Self {
        Listeners {
            list: RefCell::new(Vec::new()),
        }
    }
}

impl<E: Copy + PartialEq, F: Clone> Listeners<E, F> {
    pub fn add(&self, event: E, id: u64, once: bool, f: F) {
        self.list.borrow_mut().push(Entry { event, id, once, f });
    }
    /// Removes the listener `id` of `event`; whether there was one.
    pub fn remove(&self, event: E, id: u64) -> bool {
        let mut l = self.list.borrow_mut();
        let before = l.len();
        l.retain(|e| !(e.event == event && e.id == id));
        l.len() != before
    }
    pub fn contains(&self, event: E, id: u64) -> bool {
        self.list
            .borrow()
            .iter()
            .any(|e| e.event == event && e.id == id)
    }
    pub fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }
    pub fn has(&self, event: E) -> bool {
        self.list.borrow().iter().any(|e| e.event == event)
    }
    /// The listeners of `event` to call now (a `once` listener is removed first).
    pub fn take_for(&self, event: E) -> Vec<F> {
        let mut l = self.list.borrow_mut();
        if !l.iter().any(|e| e.event == event) {
            return Vec::new();
        }
        let out: Vec<F> = l
            .iter()
            .filter(|e| e.event == event)
            .map(|e| e.f.clone())
            .collect();
        l.retain(|e| !(e.event == event && e.once));
        out
    }
    /// Copies every listener of `other` (a sessionmaker's, into a new session).
    pub fn extend_from(&self, other: &Listeners<E, F>) {
        let o = other.list.borrow();
        self.list.borrow_mut().extend(o.iter().map(|e| Entry {
            event: e.event,
            id: e.id,
            once: e.once,
            f: e.f.clone(),
        }));
    }
}
