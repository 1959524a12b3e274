//! The in-memory side of relationships: each instance's related objects (a scalar reference
//! or a collection, with what changed since the last flush) and the attribute events that
//! keep both sides of a bidirectional relationship in step (`user.posts:append(p)` makes
//! `p.author == user`) and cascade `save-update` into the session.
//!
//! Related objects are held by strong references; the session's flush reads the changes
//! recorded here (`dependency.rs`) to set foreign keys and association rows.

use std::rc::Rc;

use super::instance::{Instance, Status};
use super::relationships::{Direction, Relationship};
use crate::error::Result;
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
}

#[derive(Clone, Default)]
pub struct ScalarRef {
    pub value: Option<Rc<Instance>>,
    /// Set in this session since the last flush: the foreign key follows it at flush.
    pub changed: bool,
    /// The object it held at the last flush, when set since (a one-to-one's replaced
    /// child: its foreign key is cleared, or with delete-orphan it is deleted).
    pub replaced: Option<Rc<Instance>>,
}

#[derive(Clone, Default)]
pub struct Collection {
    pub items: Vec<Rc<Instance>>,
    /// Appended since the last flush (and still present).
    pub added: Vec<Rc<Instance>>,
    /// Removed since the last flush (and not appended again).
    pub removed: Vec<Rc<Instance>>,
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
    fn take(&mut self, x: &Rc<Instance>) -> bool {
        let Some(p) = self.items.iter().position(|i| Rc::ptr_eq(i, x)) else {
            return false;
        };
        self.items.remove(p);
        if let Some(p) = self.added.iter().position(|i| Rc::ptr_eq(i, x)) {
            self.added.remove(p);
        } else {
            self.removed.push(x.clone());
        }
        true
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
        if rels.len() <= r {
            rels.resize(r + 1, RelState::Unloaded);
        }
        f(&mut rels[r])
    }

    /// Every relationship unloaded (expired): the next access loads it again.
    pub fn expire_relationships(&self) {
        let mut st = self.state_mut();
        if let Some(rels) = st.rels.as_mut() {
            rels.iter_mut().for_each(|r| *r = RelState::Unloaded);
        }
        st.rels_changed = false;
    }

    pub fn rel_loaded(&self, r: usize) -> bool {
        !self.rel_is(r, |s| {
            matches!(s, RelState::Unloaded | RelState::Deferred(..))
        })
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
        let mut st = self.state_mut();
        st.rels_changed = true;
        if matches!(st.status, Status::Persistent) && !st.queued_modified {
            if let Some(s) = st.session.as_ref().and_then(|w| w.upgrade()) {
                st.queued_modified = true;
                drop(st);
                s.queue_modified(self.clone());
            }
        }
    }
}

/// Sets a scalar relationship's value, as changed since the last flush.
fn put_scalar(obj: &Rc<Instance>, r: usize, value: Option<Rc<Instance>>) {
    obj.with_rel(r, |s| {
        let replaced = match s {
            RelState::Scalar(old) if old.changed => old.replaced.take(),
            RelState::Scalar(old) => old.value.take(),
            _ => None,
        };
        *s = RelState::Scalar(ScalarRef {
            value,
            changed: true,
            replaced,
        })
    });
    obj.rel_changed();
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
    if !Rc::ptr_eq(&x.mapper, &t) {
        return Err(crate::arg_err!(
            "{}: expected an instance of {}, got {}",
            rel.path(),
            t.class_name,
            x.mapper.class_name
        ));
    }
    Ok(())
}

/// The attribute events of relationships. An unloaded relationship is loaded first, by its
/// strategy (`strategies.rs`).
pub struct Events;

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
        if reverse.is_some()
            && parent.status() == Status::Persistent
            && !parent.rel_loaded(rel.index)
        {
            if rel.direction == Direction::ManyToOne {
                let old = super::strategies::many_to_one_in_identity_map(parent, rel);
                parent.with_rel(rel.index, |s| {
                    *s = RelState::Scalar(ScalarRef {
                        value: old,
                        changed: false,
                        replaced: None,
                    })
                });
            } else {
                self.ensure(parent, rel)?;
            }
        }
        let old = match parent.rel_state(rel.index) {
            RelState::Scalar(s) => s.value,
            _ => None,
        };
        if let (Some(o), Some(v)) = (&old, &value) {
            if Rc::ptr_eq(o, v) {
                return Ok(());
            }
        }
        put_scalar(parent, rel.index, value.clone());
        if let Some(rev) = &reverse {
            if let Some(o) = &old {
                self.reverse_remove(o, rev, parent)?;
            }
            if let Some(v) = &value {
                self.reverse_add(v, rev, parent)?;
            }
        }
        if let Some(v) = &value {
            cascade_into_session(parent, rel, v)?;
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
        check_target(rel, child)?;
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be changed", rel.path()));
        }
        self.ensure(parent, rel)?;
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
        parent.with_rel(rel.index, |s| {
            if !matches!(s, RelState::Collection(_)) {
                *s = RelState::Collection(Collection::default());
            }
            if let RelState::Collection(c) = s {
                c.push(child);
            }
        });
        parent.rel_changed();
        if let Some(rev) = rel.reverse() {
            self.reverse_add(child, &rev, parent)?;
        }
        cascade_into_session(parent, rel, child)
    }

    /// `parent.rel:remove(child)`; false when it was not there.
    pub fn remove(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        child: &Rc<Instance>,
    ) -> Result<bool> {
        if rel.viewonly {
            return Err(invalid!("{} is viewonly and cannot be changed", rel.path()));
        }
        self.ensure(parent, rel)?;
        let removed = parent.with_rel(rel.index, |s| match s {
            RelState::Collection(c) => c.take(child),
            _ => false,
        });
        if !removed {
            return Ok(false);
        }
        parent.rel_changed();
        // a pending orphan never reaches the database
        if rel.cascade.delete_orphan && child.status() == Status::Pending {
            if let Some(s) = child.session() {
                s.expunge(child)?;
            }
        }
        if let Some(rev) = rel.reverse() {
            self.reverse_remove(child, &rev, parent)?;
        }
        Ok(true)
    }

    /// `parent.rel = { ... }`: the collection becomes exactly `items`.
    pub fn replace(
        &self,
        parent: &Rc<Instance>,
        rel: &Rc<Relationship>,
        items: &[Rc<Instance>],
    ) -> Result<()> {
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
        self.ensure(parent, rel)?;
        let current = match parent.rel_state(rel.index) {
            RelState::Collection(c) => c.items,
            _ => Vec::new(),
        };
        for x in &current {
            if !items.iter().any(|y| Rc::ptr_eq(x, y)) {
                self.remove(parent, rel, x)?;
            }
        }
        for x in items {
            if !current.iter().any(|y| Rc::ptr_eq(x, y)) {
                self.append(parent, rel, x)?;
            }
        }
        // keep the order given
        parent.with_rel(rel.index, |s| {
            if let RelState::Collection(c) = s {
                c.items = items.to_vec();
            }
        });
        Ok(())
    }

    /// The reverse side of `rel` on `obj` gains `parent` (backref events).
    fn reverse_add(
        &self,
        obj: &Rc<Instance>,
        rev: &Rc<Relationship>,
        parent: &Rc<Instance>,
    ) -> Result<()> {
        if rev.uselist {
            // only a loaded collection changes in memory; an unloaded one reads the
            // database after the autoflush has written the change
            let loaded_without = obj.rel_is(
                rev.index,
                |s| matches!(s, RelState::Collection(c) if !c.contains(parent)),
            );
            let transient = !obj.rel_loaded(rev.index) && obj.status() != Status::Persistent;
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
            }
        } else {
            // a scalar reverse: the object leaves its old parent's collection (an unloaded
            // reference is found in the identity map, without SQL, as SQLAlchemy does)
            let old = match obj.rel_state(rev.index) {
                RelState::Scalar(s) => s.value,
                _ => super::strategies::many_to_one_in_identity_map(obj, rev),
            };
            if old.as_ref().is_some_and(|o| Rc::ptr_eq(o, parent)) {
                return Ok(());
            }
            put_scalar(obj, rev.index, Some(parent.clone()));
            if let (Some(o), Some(fwd)) = (old, rev.reverse()) {
                if fwd.uselist {
                    let _ = o.with_rel(fwd.index, |s| match s {
                        RelState::Collection(c) => c.take(obj),
                        _ => false,
                    });
                    o.rel_changed();
                } else {
                    put_scalar(&o, fwd.index, None);
                }
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
    ) -> Result<()> {
        if rev.uselist {
            let changed = obj.with_rel(rev.index, |s| match s {
                RelState::Collection(c) => c.take(parent),
                _ => false,
            });
            if changed {
                obj.rel_changed();
            }
        } else {
            let points_here = match obj.rel_state(rev.index) {
                RelState::Scalar(s) => s.value.is_some_and(|v| Rc::ptr_eq(&v, parent)),
                // unloaded: the foreign key says, and it is the parent's (being removed)
                RelState::Unloaded | RelState::Deferred(..) => {
                    rev.direction == Direction::ManyToOne
                }
                RelState::Collection(_) => false,
            };
            if points_here {
                put_scalar(obj, rev.index, None);
            }
        }
        Ok(())
    }
}
