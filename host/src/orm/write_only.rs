//! Collections never loaded into memory: `lazy = "write_only"` (SQLAlchemy's
//! `WriteOnlyCollection`) and `lazy = "dynamic"` (its legacy `AppenderQuery`), for
//! collections too large to hold. Their `add` / `remove` are recorded as a not-loaded
//! collection's changes (`collections.rs`) and written by the flush (`dependency.rs`), which
//! then forgets them; the members are read with the SELECT built here.

use std::rc::Rc;

use super::collections::RelState;
use super::query::{OrmSelect, SelectItem};
use super::relationships::Relationship;
use super::Instance;
use crate::error::Result;

/// `parent.rel:select()`: the target's rows that belong to `parent` through `rel`, in the
/// relationship's `order_by`.
pub fn members_select(parent: &Rc<Instance>, rel: &Relationship) -> Result<OrmSelect> {
    let mut q = target_query(rel);
    q.select.where_.push(rel.with_parent(parent)?);
    Ok(q)
}

/// The target's rows in the relationship's `order_by`, before the parent's criterion (a
/// dynamic relationship's query adds it when it runs, once a pending parent has its key).
pub fn target_query(rel: &Relationship) -> OrmSelect {
    let mut q = OrmSelect::new(vec![SelectItem::Entity(rel.target())]);
    q.select.order_by = rel.order_by.clone();
    q
}

/// The members added since the last flush: all that an object outside any session
/// (SQLAlchemy's dynamic collection without a session) is known to have.
pub fn added_members(parent: &Instance, rel: &Relationship) -> Vec<Rc<Instance>> {
    match parent.rel_state(rel.index) {
        RelState::Pending(c) => c.added,
        _ => Vec::new(),
    }
}
