//! Freeing reference cycles between instances. A loaded relationship holds its related
//! objects strongly, and a bidirectional one holds them both ways (`user.posts` holds the
//! posts, each `post.author` the user), so once nothing else holds such a group, reference
//! counting alone would never free it. The collector finds those groups by trial deletion,
//! as CPython's cycle collector does: an instance whose strong count exceeds the
//! references other tracked instances' relationships hold is reachable from outside (Lua,
//! a session, a result), and so is everything its relationships reach; the rest is garbage
//! and its relationships are cleared, which frees it.
//!
//! Instances of mappers with relationships are tracked (weakly) when created. A collection
//! runs when the session closes or expunges everything, and whenever the tracked list has
//! doubled since the last one, at points where no instance state is borrowed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use super::collections::RelState;
use super::instance::Instance;

thread_local! {
    static TRACKED: RefCell<Vec<Weak<Instance>>> = const { RefCell::new(Vec::new()) };
    static NEXT_AT: Cell<usize> = const { Cell::new(1024) };
}

/// Tracks a new instance of a mapper that has (or will have) relationships.
pub fn track(inst: &Rc<Instance>) {
    TRACKED.with(|t| t.borrow_mut().push(Rc::downgrade(inst)));
}

/// Collects when the tracked list has doubled since the last collection.
pub fn maybe_collect() {
    let due = TRACKED.with(|t| t.borrow().len()) >= NEXT_AT.with(Cell::get);
    if due {
        collect();
    }
}

/// The instances `inst`'s relationships hold, once per strong reference.
fn edges(inst: &Instance, out: &mut Vec<*const Instance>) -> bool {
    let Some(st) = inst.try_state() else {
        return false;
    };
    if let Some(rels) = st.rels.as_ref() {
        for r in rels.iter() {
            match r {
                RelState::Scalar(s) => {
                    out.extend(s.value.iter().chain(&s.replaced).map(Rc::as_ptr));
                }
                RelState::Collection(c) | RelState::Pending(c) => {
                    out.extend(
                        c.items
                            .iter()
                            .chain(&c.added)
                            .chain(&c.removed)
                            .map(Rc::as_ptr),
                    );
                }
                RelState::Unloaded | RelState::Deferred(..) => {}
            }
        }
    }
    true
}

/// Runs a collection; returns how many instances were freed of their relationships.
pub fn collect() -> usize {
    let live: Vec<Rc<Instance>> = TRACKED.with(|t| {
        let mut t = t.borrow_mut();
        t.retain(|w| w.strong_count() > 0);
        t.iter().filter_map(Weak::upgrade).collect()
    });
    let index: HashMap<*const Instance, usize> = live
        .iter()
        .enumerate()
        .map(|(i, x)| (Rc::as_ptr(x), i))
        .collect();
    // strong references from outside the tracked instances' relationships
    // (`live` itself holds one of each)
    let mut outside: Vec<isize> = live
        .iter()
        .map(|x| Rc::strong_count(x) as isize - 1)
        .collect();
    let mut out_edges: Vec<Vec<usize>> = Vec::with_capacity(live.len());
    let mut buf = Vec::new();
    for x in &live {
        buf.clear();
        if !edges(x, &mut buf) {
            // a state in use: nothing is certain now, try again later
            finish(&live, live.len());
            return 0;
        }
        let targets: Vec<usize> = buf.iter().filter_map(|p| index.get(p).copied()).collect();
        for &t in &targets {
            outside[t] -= 1;
        }
        out_edges.push(targets);
    }
    // everything reachable from an instance held from outside is alive
    let mut alive = vec![false; live.len()];
    let mut stack: Vec<usize> = (0..live.len()).filter(|&i| outside[i] > 0).collect();
    while let Some(i) = stack.pop() {
        if alive[i] {
            continue;
        }
        alive[i] = true;
        stack.extend(out_edges[i].iter().copied().filter(|&t| !alive[t]));
    }
    let mut freed = 0;
    for (i, x) in live.iter().enumerate() {
        if !alive[i] {
            // dropping the states' references frees the group once `live` goes
            let rels = x.state_mut().rels.take();
            drop(rels);
            freed += 1;
        }
    }
    let kept = alive.iter().filter(|a| **a).count();
    finish(&live, kept);
    freed
}

/// Keeps tracking the instances still alive; the next collection waits for twice as many.
fn finish(live: &[Rc<Instance>], kept: usize) {
    TRACKED.with(|t| {
        let mut t = t.borrow_mut();
        t.clear();
        t.extend(live.iter().map(Rc::downgrade));
    });
    NEXT_AT.with(|n| n.set((kept * 2).max(1024)));
}

/// How many instances are tracked (alive or not yet pruned): for tests.
pub fn tracked() -> usize {
    TRACKED.with(|t| t.borrow().iter().filter(|w| w.strong_count() > 0).count())
}
