//! Loader strategies for relationships: the lazy `"select"` load of one instance's related
//! objects (one SELECT, compiled once per relationship and dialect, by the identity map
//! first for a many-to-one), what `"raise"` and `"noload"` do instead, and the eager
//! strategies a load plan (`strategy_options.rs`) asks for: `"joined"` (LEFT OUTER JOINs
//! to aliases of the target, its columns read from the parent's rows) and `"selectin"`
//! (after the parents' rows, one SELECT per batch of parent keys with an IN list).

use std::rc::Rc;

use super::collections::{Collection, RelState, ScalarRef};
use super::identity::{FxHashMap, FxHashSet, IdentityKey};
use super::instance::{Instance, Status};
use super::mapper::Mapper;
use super::query::{Item, OrmSelect, ResultColumn, SelectItem};
use super::relationships::{and_extra, Lazy, Relationship};
use super::session::SessionCore;
use super::strategy_options::{EntityLoad, JoinedLoad};
use crate::engine::{Connection, Row};
use crate::error::{Error, ErrorKind, Result};
use crate::sql::expr::UnaryOp;
use crate::sql::select::anon_name;
use crate::sql::{compile, BinOp, Compiled, Derived, Expr, FromItem, Join, Select, Statement};
use crate::value::Value;

/// How many parent keys one selectin SELECT lists in its IN clause.
pub const SELECTIN_BATCH: usize = 500;

/// The SELECT of one parent's related rows, with slots for the parent's column values.
fn lazy_statement(rel: &Relationship) -> OrmSelect {
    let target = rel.target();
    let mut q = OrmSelect::new(vec![SelectItem::Entity(target.clone())]);
    match &rel.secondary {
        None => {
            for (n, &r) in rel.remote.iter().enumerate() {
                q.select.where_.push(Expr::binary(
                    Expr::column(&target.table, r),
                    BinOp::Eq,
                    Expr::Slot(n),
                ));
            }
            // the extra criteria, the parent's columns as the slots after the keys'
            let n = rel.local.len();
            let slot = |i: usize| {
                let k = rel.extra_parent.iter().position(|&a| a == i);
                Expr::Slot(n + k.expect("an extra column"))
            };
            if let Some(e) = rel.extra_adapted(&slot, &|i| Expr::column(&target.table, i)) {
                q.select.where_.push(e);
            }
        }
        Some(sec) => {
            let (_, on) = rel.join_condition();
            q.select.joins.push(Join {
                target: FromItem::Table(sec.clone()),
                on: on.expect("many-to-many has a secondary join"),
                outer: false,
            });
            for (n, &s) in rel.sec_local.iter().enumerate() {
                q.select
                    .where_
                    .push(Expr::binary(Expr::column(sec, s), BinOp::Eq, Expr::Slot(n)));
            }
        }
    }
    q.select.order_by = rel.order_by.clone();
    q
}

/// The object a many-to-one of `inst` points at, when the identity map holds it (no SQL).
pub fn many_to_one_in_identity_map(
    inst: &Rc<Instance>,
    rel: &Relationship,
) -> Option<Rc<Instance>> {
    let values: Vec<Value> = {
        let st = inst.state();
        if rel.local.iter().any(|&c| !st.loaded.contains(c)) {
            return None;
        }
        rel.local.iter().map(|&c| st.values[c].clone()).collect()
    };
    target_in_identity_map(inst, rel, &values)
}

/// The object of `inst`'s session's identity map that many-to-one `rel` points at when
/// its key columns hold `values` (one whose DELETE was flushed is not there; one
/// `take_key_again` put there in the deleted state is found, as SQLAlchemy's lookup finds it).
pub fn target_in_identity_map(
    inst: &Rc<Instance>,
    rel: &Relationship,
    values: &[Value],
) -> Option<Rc<Instance>> {
    let target = rel.target();
    if !rel.uses_get() {
        return None;
    }
    let key = IdentityKey::new(target.ident_id, values)?;
    let found = inst.session()?.find(&key)?;
    // an object of another class of the hierarchy is not the target
    if !found.mapper.isa(&target) {
        return None;
    }
    Some(found)
}

/// The values of `inst`'s columns `cols` as of the last flush (SQLAlchemy's
/// `get_committed_value`, which the flush's lazy loads join by): a column changed since
/// gives the value it had then (NULL when it was not loaded), any other its current value,
/// loaded first when expired.
pub fn committed_values(inst: &Rc<Instance>, cols: &[usize]) -> Result<Vec<Value>> {
    cols.iter()
        .map(|&c| match inst.committed_value(c) {
            Some(v) => Ok(v),
            None => {
                SessionCore::ensure_loaded(inst, c)?;
                Ok(inst.state().values[c].clone())
            }
        })
        .collect()
}

impl SessionCore {
    /// Loads relationship `rel` of `inst` (lazy `"select"`), or says why it cannot be.
    pub fn load_relationship(&self, inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        self.load_relationship_as(inst, rel, false, false)
    }

    /// The unit of work's own load (the children of a deleted parent): `"raise"` guards
    /// the program's access, not the flush, as in SQLAlchemy.
    pub fn load_relationship_for_flush(
        &self,
        inst: &Rc<Instance>,
        rel: &Rc<Relationship>,
    ) -> Result<()> {
        self.load_relationship_as(inst, rel, true, false)
    }

    /// The flush's read of a relationship's history (SQLAlchemy's `get_attribute_history`
    /// loads against the committed state): the parent's columns changed since the last
    /// flush join by the values they had then (`committed_values`).
    pub fn load_relationship_against_committed(
        &self,
        inst: &Rc<Instance>,
        rel: &Rc<Relationship>,
    ) -> Result<()> {
        self.load_relationship_as(inst, rel, true, true)
    }

    fn load_relationship_as(
        &self,
        inst: &Rc<Instance>,
        rel: &Rc<Relationship>,
        for_flush: bool,
        committed: bool,
    ) -> Result<()> {
        let empty = || {
            if rel.uselist {
                RelState::Collection(Collection::default())
            } else {
                RelState::Scalar(ScalarRef::default())
            }
        };
        // a dynamic collection loads for the flush (the rows whose keys a delete clears, as
        // SQLAlchemy's history with PASSIVE_OFF runs its query); a write-only one never
        if rel.lazy == Lazy::WriteOnly || (rel.lazy == Lazy::Dynamic && !for_flush) {
            // an object without a row has nothing to load: its additions are the history
            if inst.state().key.is_none() {
                return Ok(());
            }
            return Err(Error::new(
                ErrorKind::InvalidRequestError,
                format!(
                    "Attribute {} (lazy = \"{}\") can't load the existing state from the database for this operation; full iteration is not permitted. If this is a delete operation, configure passive_deletes = true on the {} relationship in order to resolve this error",
                    rel.path(),
                    rel.lazy.name(),
                    rel.path()
                ),
            ));
        }
        let (lazy, options) = match inst.rel_state(rel.index) {
            RelState::Deferred(l, o) => (l, o),
            _ => (rel.lazy, None),
        };
        match lazy {
            Lazy::NoLoad => {
                inst.with_rel(rel.index, |s| *s = empty());
                return Ok(());
            }
            Lazy::Raise if !for_flush => {
                return Err(Error::new(
                    ErrorKind::InvalidRequestError,
                    format!("'{}' is not available due to lazy='raise'", rel.path()),
                ))
            }
            _ => {}
        }
        // the values of the parent's joining columns (then those its extra criteria read)
        let values: Vec<Value> = if committed {
            let cols: Vec<usize> = rel.local.iter().chain(&rel.extra_parent).copied().collect();
            committed_values(inst, &cols)?
        } else {
            for &c in rel.local.iter().chain(&rel.extra_parent) {
                SessionCore::ensure_loaded(inst, c)?;
            }
            let st = inst.state();
            rel.local
                .iter()
                .chain(&rel.extra_parent)
                .map(|&c| st.values[c].clone())
                .collect()
        };
        if values[..rel.local.len()].iter().any(Value::is_null) {
            inst.store_loaded(rel.index, empty());
            return Ok(());
        }
        let target = rel.target();
        // a many-to-one to the target's primary key: the identity map first
        if rel.uses_get() {
            if let Some(k) = IdentityKey::new(target.ident_id, &values) {
                if let Some(found) = self.find(&k).filter(|f| f.mapper.isa(&target)) {
                    // as SQLAlchemy's identity lookup: an object marked for deletion is
                    // still found, by the program's access and by the flush; an expired one
                    // (all its columns) loads first, autoflushing, and is deleted in the
                    // session when its row is gone
                    let (gone, expired) = {
                        let st = found.state();
                        (
                            st.status == Status::Deleted,
                            !for_flush
                                && !st.expired_flag_reset()
                                && target.pk.iter().any(|&c| !st.loaded.contains(c)),
                        )
                    };
                    let gone = gone
                        || (expired
                            && match self.load_expired(&found) {
                                Ok(()) => false,
                                Err(e) if e.kind == ErrorKind::ObjectDeletedError => {
                                    self.remove_newly_deleted(&found);
                                    true
                                }
                                Err(e) => return Err(e),
                            });
                    if !gone {
                        inst.with_rel(rel.index, |s| {
                            *s = RelState::Scalar(ScalarRef {
                                value: Some(found.clone()),
                                changed: false,
                                replaced: None,
                                key_cleared: false,
                            })
                        });
                        return Ok(());
                    }
                }
            }
        }
        self.autoflush()?;
        let _route = self.route_to(Some(&target));
        let conn = self.connection()?;
        if let Some(options) = options {
            // the loading query's options for the related objects apply
            let mut q = lazy_statement(rel);
            q.options = options;
            let rows = match plan_select(&q)? {
                Some((select, columns, plans)) => {
                    let c = compile(&Statement::Select(select), conn.engine().dialect())?;
                    let params = c.bind(&values, &|_| None)?;
                    let plans: Vec<Option<&EntityLoad>> =
                        plans.iter().map(Option::as_ref).collect();
                    self.run_planned(&conn, &c.sql, &params, &columns, &plans)?
                }
                None => {
                    let (c, columns) = self.lazy_sql(rel, conn.engine().dialect())?;
                    let params = c.bind(&values, &|_| None)?;
                    self.run_select(&conn, &c.sql, &params, &columns)?
                }
            };
            self.set_loaded(inst, rel, rows);
            return Ok(());
        }
        // the related objects' own eager relationships load with them
        let plan = has_eager_default(&target)
            .then(|| EntityLoad::build(&target, &vec![rel.clone()], &[]))
            .filter(|p| !p.is_plain());
        let (c, columns) = match plan.as_ref().filter(|p| !p.joined.is_empty()) {
            Some(p) => {
                let mut q = lazy_statement(rel);
                let union = q
                    .select
                    .polymorphic
                    .iter()
                    .find(|(t, _)| t.id == target.table.id)
                    .map(|(_, u)| u.clone());
                apply_joined_entity(&mut q.select, p, &target, union.as_ref())?;
                let c = compile(&Statement::Select(q.select), conn.engine().dialect())?;
                (c, q.columns)
            }
            None => self.lazy_sql(rel, conn.engine().dialect())?,
        };
        let params = c.bind(&values, &|_| None)?;
        let rows = self.run_planned(&conn, &c.sql, &params, &columns, &[plan.as_ref()])?;
        self.set_loaded(inst, rel, rows);
        Ok(())
    }

    /// A lazy load's rows become the relationship's loaded value (each object once: joined
    /// loads under it repeat rows).
    fn set_loaded(&self, inst: &Rc<Instance>, rel: &Rc<Relationship>, rows: super::query::Rows) {
        let mut seen = FxHashSet::default();
        let found: Vec<Rc<Instance>> = rows
            .items
            .into_iter()
            .filter_map(|i| match i {
                Item::Instance(i) => Some(i),
                _ => None,
            })
            .filter(|i| seen.insert(Rc::as_ptr(i) as usize))
            .collect();
        inst.store_loaded(
            rel.index,
            if rel.uselist {
                RelState::Collection(Collection {
                    items: found,
                    ..Default::default()
                })
            } else {
                RelState::Scalar(ScalarRef {
                    value: found.into_iter().next(),
                    changed: false,
                    replaced: None,
                    key_cleared: false,
                })
            },
        );
    }

    fn lazy_sql(
        &self,
        rel: &Relationship,
        dialect: &dyn crate::sql::Dialect,
    ) -> Result<(Compiled, Vec<ResultColumn>)> {
        if let Some(c) = rel.lazy_sql.get() {
            return Ok(c.clone());
        }
        let q = lazy_statement(rel);
        let c = compile(&Statement::Select(q.select), dialect)?;
        Ok(rel.lazy_sql.get_or_init(|| (c, q.columns)).clone())
    }

    /// Makes a relationship readable: as `load_on_access`, except that a transient or
    /// pending object's empty value is not stored (SQLAlchemy returns it without keeping
    /// it: once flushed, the relationship loads from the database). The reader takes a
    /// relationship still unloaded as empty / `nil`.
    pub fn load_for_read(inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        if matches!(inst.status(), Status::Transient | Status::Pending) {
            match inst.rel_state(rel.index) {
                // changes recorded while it had a key (a rollback took it back) stay
                // recorded: read, it is empty and still not loaded (SQLAlchemy's empty
                // collection stays out of `__dict__` until changed, and its pending
                // mutations stay for the flush's history, seed 118)
                RelState::Unloaded | RelState::Deferred(..) | RelState::Pending(_) => return Ok(()),
                _ => {}
            }
        }
        Self::load_on_access(inst, rel)
    }

    /// Loads a relationship on access: through the session of a persistent object; a
    /// transient or pending object has nothing to load; a detached one cannot.
    pub fn load_on_access(inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        match inst.status() {
            Status::Transient | Status::Pending => {
                if !inst.rel_loaded(rel.index) {
                    // no rows to load: empty, and changes recorded while it had a key (a
                    // rollback took it back) are dropped, as SQLAlchemy initializes it
                    let empty = if rel.uselist {
                        RelState::Collection(Collection::default())
                    } else {
                        RelState::Scalar(ScalarRef::default())
                    };
                    inst.with_rel(rel.index, |s| *s = empty);
                }
                Ok(())
            }
            Status::Persistent | Status::Deleted => match inst.session() {
                Some(s) => s.load_relationship(inst, rel),
                None => Err(detached(inst, rel)),
            },
            Status::Detached => Err(detached(inst, rel)),
        }
    }
}

fn detached(inst: &Rc<Instance>, rel: &Relationship) -> Error {
    Error::new(
        ErrorKind::DetachedInstanceError,
        format!(
            "Parent instance {} is not bound to a Session; lazy load operation of attribute '{}' cannot proceed",
            inst.describe(),
            rel.key
        ),
    )
}

/// Whether `mapper` has relationships that load eagerly by default (or, read through a
/// concrete union, one of the union's classes has).
pub fn has_eager_default(mapper: &Mapper) -> bool {
    let own = mapper
        .relationships
        .borrow()
        .iter()
        .any(|r| matches!(r.lazy, Lazy::Joined | Lazy::Selectin));
    own || (mapper.concrete().is_some()
        && mapper.union_subclasses().iter().any(|m| {
            m.relationships
                .borrow()
                .iter()
                .any(|r| matches!(r.lazy, Lazy::Joined | Lazy::Selectin))
        }))
}

/// The SELECT a statement runs once its load plans apply: entity columns cut to the
/// columns that load, joined eager loads added; with the plan of each result column.
/// `None` when no entity needs more than its columns read (the plain path).
pub type PlannedSelect = (Select, Vec<ResultColumn>, Vec<Option<EntityLoad>>);

pub fn plan_select(q: &OrmSelect) -> Result<Option<PlannedSelect>> {
    let mut plans: Vec<Option<EntityLoad>> = Vec::with_capacity(q.columns.len());
    for c in &q.columns {
        plans.push(match c {
            ResultColumn::Entity { mapper, .. }
                if !q.options.is_empty() || has_eager_default(mapper) =>
            {
                Some(EntityLoad::build(mapper, &Vec::new(), &q.options)).filter(|p| !p.is_plain())
            }
            _ => None,
        });
    }
    if plans.iter().all(Option::is_none) {
        return Ok(None);
    }
    // the entities' columns: only those that load
    let mut select = q.select.clone();
    select.columns = Vec::with_capacity(q.select.columns.len());
    let mut columns = q.columns.clone();
    // per entity column: its attributes' full expressions (the joins' parent side)
    let mut parents: Vec<Vec<Expr>> = vec![Vec::new(); columns.len()];
    for (ci, c) in columns.iter_mut().enumerate() {
        match c {
            ResultColumn::Entity {
                mapper,
                start,
                poly,
                ..
            } => {
                let old = *start;
                *start = select.columns.len();
                let all = &q.select.columns[old..old + mapper.width()];
                parents[ci] = all.to_vec();
                // an entity read through a concrete union selects every column: a row
                // of another class loads them all (`concrete_from_row` keeps to `attrs`
                // for the entity's own class)
                let union = poly.is_some() && mapper.reads_union();
                match plans[ci]
                    .as_ref()
                    .and_then(|p| p.attrs.as_deref())
                    .filter(|_| !union)
                {
                    Some(attrs) => {
                        select.columns.extend(attrs.iter().map(|&i| all[i].clone()));
                        *poly = None;
                    }
                    None => {
                        select.columns.extend_from_slice(all);
                        if let Some(p) = poly {
                            let w = old + mapper.width();
                            select
                                .columns
                                .extend_from_slice(&q.select.columns[w..w + p.len()]);
                        }
                    }
                }
            }
            ResultColumn::Value { index, .. } => {
                let old = *index;
                *index = select.columns.len();
                select.columns.push(q.select.columns[old].clone());
            }
        }
    }
    // an entity read through a union: each class's attributes by key among its columns
    // (its own, then the union's others), for the joins of its classes' plans
    let mut spans: Vec<Option<Vec<Rc<str>>>> = vec![None; columns.len()];
    for (ci, c) in columns.iter().enumerate() {
        if let ResultColumn::Entity {
            mapper,
            poly: Some(p),
            ..
        } = c
        {
            if mapper.reads_union() {
                let mut names: Vec<Rc<str>> = mapper
                    .table
                    .columns
                    .iter()
                    .map(|c| Rc::from(c.key.as_str()))
                    .collect();
                names.extend(p.iter().map(|(t, i)| Rc::from(t.columns[*i].name.as_str())));
                spans[ci] = Some(names);
            }
        }
    }
    // LIMIT / OFFSET count parents: a joined collection joins to the limited rows
    let limited = select.limit.is_some() || select.offset.is_some();
    let joins_collection = plans.iter().flatten().any(|p| {
        p.joined
            .iter()
            .any(|j| j.user_defined.is_none() && (j.rel.uselist || j.child.multiplies_rows()))
    });
    if limited && joins_collection {
        let (outer, sub) = wrap_limited(select)?;
        select = outer;
        for (ci, c) in columns.iter().enumerate() {
            if let (ResultColumn::Entity { mapper, start, .. }, Some(plan)) = (c, &plans[ci]) {
                parents[ci] = (0..mapper.attrs.len())
                    .map(|i| {
                        let pos = match &plan.attrs {
                            Some(a) => a.iter().position(|&x| x == i),
                            None => Some(i),
                        };
                        // an attribute the subquery lacks cannot join; joins use loaded ones
                        pos.map(|p| sub.column(start + p)).unwrap_or(Expr::Null)
                    })
                    .collect();
            }
        }
    }
    for (ci, plan) in plans.iter().enumerate() {
        if let Some(plan) = plan {
            apply_joined(&mut select, plan, &parents[ci])?;
            if let (Some(names), ResultColumn::Entity { start, .. }) = (&spans[ci], &columns[ci]) {
                // the union's other classes: their attributes as the columns of the same
                // key in the entity's span (read from the LIMIT subquery when wrapped)
                for sp in &plan.subs {
                    let parent: Vec<Expr> = (0..sp.mapper.attrs.len())
                        .map(|i| {
                            let key = sp.mapper.table.columns[i].key.as_str();
                            names
                                .iter()
                                .position(|n| &**n == key)
                                .map(|p| select.columns[start + p].clone())
                                .unwrap_or(Expr::Null)
                        })
                        .collect();
                    apply_joined(&mut select, sp, &parent)?;
                }
            }
        }
    }
    Ok(Some((select, columns, plans)))
}

/// `SELECT <cols> FROM (<select with LIMIT>) AS anon ORDER BY <same order>`: the limited
/// statement as a subquery, so that joins added to the outer one do not change which
/// parents the limit keeps. Returns the outer statement and the subquery.
fn wrap_limited(mut inner: Select) -> Result<(Select, Rc<Derived>)> {
    let n = inner.columns.len();
    let mut order = Vec::new();
    for (k, e) in std::mem::take(&mut inner.order_by).into_iter().enumerate() {
        let (dir, e) = match e {
            Expr::Unary(op @ (UnaryOp::Asc | UnaryOp::Desc), inner) => (Some(op), *inner),
            e => (None, e),
        };
        // a labelled expression orders by its expression
        let e = match e {
            Expr::Label(_, inner) => *inner,
            e => e,
        };
        let label: Rc<str> = Rc::from(format!("_order_{}", k + 1).as_str());
        inner.columns.push(Expr::Label(label, Box::new(e.clone())));
        inner.order_by.push(match dir {
            Some(op) => Expr::Unary(op, Box::new(e)),
            None => e,
        });
        order.push(dir);
    }
    let sub = Derived::subquery(inner, &anon_name(), false)?;
    let mut outer = Select::new((0..n).map(|i| sub.column(i)).collect());
    outer.from.push(FromItem::Derived(sub.clone()));
    outer.order_by = order
        .into_iter()
        .enumerate()
        .map(|(k, dir)| {
            let c = sub.column(n + k);
            match dir {
                Some(op) => Expr::Unary(op, Box::new(c)),
                None => c,
            }
        })
        .collect();
    Ok((outer, sub))
}

fn and_all(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Expr::and(parts)
    }
}

/// The joined loads of `plan`, the plan of `target`'s rows of a SELECT reading its table
/// (as `union`, its concrete union, when given: then the plans of the union's other
/// classes too, each joining on the union's columns of its attributes' keys).
fn apply_joined_entity(
    select: &mut Select,
    plan: &EntityLoad,
    target: &Mapper,
    union: Option<&Rc<Derived>>,
) -> Result<()> {
    let parent: Vec<Expr> = (0..target.attrs.len())
        .map(|i| Expr::column(&target.table, i))
        .collect();
    apply_joined(select, plan, &parent)?;
    if let Some(u) = union {
        for sp in &plan.subs {
            let parent: Vec<Expr> = (0..sp.mapper.attrs.len())
                .map(|i| Mapper::union_column(u, &sp.mapper, i))
                .collect();
            apply_joined(select, sp, &parent)?;
        }
    }
    Ok(())
}

/// Adds the joins and columns of `plan`'s joined loads to `select`; `parent[i]` is the
/// parent entity's attribute `i` as the statement reads it.
fn apply_joined(select: &mut Select, plan: &EntityLoad, parent: &[Expr]) -> Result<()> {
    for j in &plan.joined {
        let rel = &j.rel;
        let target = rel.target();
        let from: FromItem = match &j.user_defined {
            // contains_eager: the statement's own join
            Some(Some(alias)) => FromItem::Derived(alias.clone()),
            Some(None) => FromItem::Table(target.table.clone()),
            None => {
                // a target read through its concrete union joins a union of its own
                let union = target.polymorphic_union_named(&anon_name())?;
                let alias = match &union {
                    Some(u) => u.clone(),
                    None => Derived::alias(&target.table, &anon_name())?,
                };
                let tcol = |i: usize| match &union {
                    Some(u) => Mapper::union_column(u, &target, i),
                    None => alias.column(i),
                };
                let on = match &rel.secondary {
                    None => and_extra(
                        and_all(
                            rel.local
                                .iter()
                                .zip(&rel.remote)
                                .map(|(&l, &r)| Expr::binary(parent[l].clone(), BinOp::Eq, tcol(r)))
                                .collect(),
                        ),
                        rel.extra_adapted(&|i| parent[i].clone(), &|i| tcol(i)),
                    ),
                    Some(sec) => {
                        let sa = Derived::alias(sec, &anon_name())?;
                        select.joins.push(Join {
                            target: FromItem::Derived(sa.clone()),
                            on: and_all(
                                rel.local
                                    .iter()
                                    .zip(&rel.sec_local)
                                    .map(|(&l, &s)| {
                                        Expr::binary(parent[l].clone(), BinOp::Eq, sa.column(s))
                                    })
                                    .collect(),
                            ),
                            outer: true,
                        });
                        and_all(
                            rel.remote
                                .iter()
                                .zip(&rel.sec_remote)
                                .map(|(&r, &s)| Expr::binary(tcol(r), BinOp::Eq, sa.column(s)))
                                .collect(),
                        )
                    }
                };
                // a subclass of a single-table hierarchy: its identities in the ON
                let on = and_extra(on, target.criterion(&|i| tcol(i)));
                select.joins.push(Join {
                    target: FromItem::Derived(alias.clone()),
                    on,
                    outer: true,
                });
                let tid = target.table.id;
                for e in &rel.order_by {
                    select.order_by.push(e.adapt(&|c| {
                        (c.table.id == tid && c.from.is_none()).then(|| tcol(c.index))
                    }));
                }
                FromItem::Derived(alias)
            }
        };
        // a union's columns are read by key
        let union = match &from {
            FromItem::Derived(d) if target.reads_union() && j.user_defined.is_none() => {
                Some(d.clone())
            }
            _ => None,
        };
        let col = |i: usize| match (&from, &union) {
            (_, Some(u)) => Mapper::union_column(u, &target, i),
            (FromItem::Table(t), None) => Expr::column(t, i),
            (FromItem::Derived(d), None) => d.column(i),
        };
        j.start.set(select.columns.len());
        match (&j.child.attrs, &union) {
            (Some(a), None) => select.columns.extend(a.iter().map(|&i| col(i))),
            _ => select.columns.extend(target.entity_exprs(&col)),
        }
        let child_parent: Vec<Expr> = (0..target.attrs.len()).map(col).collect();
        if let Some(u) = &union {
            // the discriminator and the other classes' columns, after the target's
            let (poly, extra) = target.union_extra_columns(u);
            select.columns.extend(extra);
            *j.poly.borrow_mut() = Some(poly);
        }
        apply_joined(select, &j.child, &child_parent)?;
        if let Some(u) = &union {
            for sp in &j.child.subs {
                let parent: Vec<Expr> = (0..sp.mapper.attrs.len())
                    .map(|i| Mapper::union_column(u, &sp.mapper, i))
                    .collect();
                apply_joined(select, sp, &parent)?;
            }
        }
    }
    Ok(())
}

/// What joined loads of one result have filled: which parents each load fills (those
/// whose relationship was not loaded when first met), and the (parent, child) pairs
/// already added, since joined collections repeat rows.
#[derive(Default)]
pub struct JoinedFill {
    filling: FxHashMap<(usize, usize), bool>,
    pairs: FxHashSet<(usize, usize, usize)>,
}

fn empty_state(rel: &Relationship) -> RelState {
    if rel.uselist {
        RelState::Collection(Collection::default())
    } else {
        RelState::Scalar(ScalarRef::default())
    }
}

/// Adds `child` to the loaded relationship `rel` of `parent` (not as a change).
fn add_loaded(parent: &Instance, rel: &Relationship, child: Rc<Instance>) {
    parent.with_rel(rel.index, |s| match s {
        RelState::Collection(c) => c.items.push(child),
        RelState::Scalar(r) => r.value = Some(child),
        _ => {
            *s = if rel.uselist {
                RelState::Collection(Collection {
                    items: vec![child],
                    ..Default::default()
                })
            } else {
                RelState::Scalar(ScalarRef {
                    value: Some(child),
                    changed: false,
                    replaced: None,
                    key_cleared: false,
                })
            }
        }
    });
}

/// Marks `inst`'s not-yet-loaded relationships that its plan loads some other way on
/// access (`raiseload`, `noload`, `lazyload`).
fn apply_on_access(inst: &Instance, plan: &EntityLoad) {
    if plan.on_access.is_empty() {
        return;
    }
    let rels = inst.mapper.relationships.borrow();
    for (idx, lazy, options) in &plan.on_access {
        inst.with_rel(*idx, |s| {
            if matches!(s, RelState::Unloaded) {
                *s = match lazy {
                    Lazy::NoLoad => empty_state(&rels[*idx]),
                    l => RelState::Deferred(*l, options.clone()),
                };
            }
        });
    }
}

impl SessionCore {
    /// After one row's entity `inst` is built: its joined loads from the same row.
    pub(crate) fn populate_row(
        &self,
        row: &Row<'_>,
        inst: &Rc<Instance>,
        plan: &EntityLoad,
        fill: &mut JoinedFill,
    ) -> Result<()> {
        let plan = plan.for_class(&inst.mapper);
        apply_on_access(inst, plan);
        for j in &plan.joined {
            let poly = j.poly.borrow().clone();
            let child = self.instance_from_row(
                &j.child.mapper,
                row,
                j.start.get(),
                j.child.attrs.as_deref(),
                poly.as_ref(),
            )?;
            let node = j as *const JoinedLoad as usize;
            let p = Rc::as_ptr(inst) as usize;
            let filling = *fill.filling.entry((node, p)).or_insert_with(|| {
                let unloaded = inst.rel_fillable(j.rel.index);
                if unloaded {
                    inst.with_rel(j.rel.index, |s| *s = empty_state(&j.rel));
                }
                unloaded
            });
            if let Some(child) = child {
                if filling && fill.pairs.insert((node, p, Rc::as_ptr(&child) as usize)) {
                    add_loaded(inst, &j.rel, child.clone());
                }
                self.populate_row(row, &child, &j.child, fill)?;
            }
        }
        Ok(())
    }

    /// After a result's rows: the selectin loads of `plan` for `parents`, and those of
    /// the entities its joined loads filled.
    pub(crate) fn load_selectin_tree(
        &self,
        conn: &Connection,
        parents: &[Rc<Instance>],
        plan: &EntityLoad,
    ) -> Result<()> {
        if !plan.subs.is_empty() {
            // the rows of a union's other classes load by their class's plan
            let (own, others): (Vec<_>, Vec<_>) = parents
                .iter()
                .cloned()
                .partition(|p| plan.for_class(&p.mapper).mapper.id == plan.mapper.id);
            for sp in &plan.subs {
                let mine: Vec<Rc<Instance>> = others
                    .iter()
                    .filter(|p| p.mapper.id == sp.mapper.id)
                    .cloned()
                    .collect();
                if !mine.is_empty() && sp.has_selectin() {
                    self.load_selectin_tree(conn, &mine, sp)?;
                }
            }
            return self.load_selectin_tree_own(conn, &own, plan);
        }
        self.load_selectin_tree_own(conn, parents, plan)
    }

    fn load_selectin_tree_own(
        &self,
        conn: &Connection,
        parents: &[Rc<Instance>],
        plan: &EntityLoad,
    ) -> Result<()> {
        for (rel, child, recursion) in &plan.selectin {
            // recursion_depth: the objects each level loaded are the next level's parents
            let mut level = self.load_selectin(conn, parents, rel, child)?;
            let mut more = recursion.unwrap_or(0);
            while more != 0 && !level.is_empty() {
                level = self.load_selectin(conn, &level, rel, child)?;
                if more > 0 {
                    more -= 1;
                }
            }
        }
        for j in &plan.joined {
            if !j.child.has_selectin() {
                continue;
            }
            let mut seen = FxHashSet::default();
            let mut children = Vec::new();
            for p in parents {
                let related = match p.rel_state(j.rel.index) {
                    RelState::Collection(c) => c.items,
                    RelState::Scalar(s) => s.value.into_iter().collect(),
                    _ => Vec::new(),
                };
                for c in related {
                    if seen.insert(Rc::as_ptr(&c) as usize) {
                        children.push(c);
                    }
                }
            }
            self.load_selectin_tree(conn, &children, &j.child)?;
        }
        Ok(())
    }

    /// `"selectin"`: relationship `rel` of every parent not loaded yet, by one SELECT per
    /// `SELECTIN_BATCH` parent keys (a many-to-one by primary key looks in the identity map
    /// first). The related rows load by `child`'s plan. Returns the objects the SELECTs
    /// read, each once.
    fn load_selectin(
        &self,
        conn: &Connection,
        parents: &[Rc<Instance>],
        rel: &Rc<Relationship>,
        child: &EntityLoad,
    ) -> Result<Vec<Rc<Instance>>> {
        let target = rel.target();
        let by_pk = rel.secondary.is_none() && rel.uses_get() && child.is_plain();
        // extra criteria on the parent's columns: the parents' table joins in, and the
        // parents are found by primary key (as SQLAlchemy's selectin does then)
        let parent_table = (!rel.extra_parent.is_empty()).then(|| rel.parent());
        let key_attrs: &[usize] = match &parent_table {
            Some(pm) => &pm.pk,
            None => &rel.local,
        };
        let mut read: Vec<Rc<Instance>> = Vec::new();
        let mut read_seen: FxHashSet<usize> = FxHashSet::default();
        let mut seen = FxHashSet::default();
        let mut wanted: FxHashMap<IdentityKey, Vec<Rc<Instance>>> = FxHashMap::default();
        let mut keys: Vec<Vec<Value>> = Vec::new();
        for p in parents {
            if !seen.insert(Rc::as_ptr(p) as usize) || !p.rel_fillable(rel.index) {
                continue;
            }
            p.with_rel(rel.index, |s| *s = empty_state(rel));
            for &c in &rel.local {
                SessionCore::ensure_loaded(p, c)?;
            }
            let values: Vec<Value> = {
                let st = p.state();
                rel.local.iter().map(|&c| st.values[c].clone()).collect()
            };
            if by_pk {
                if let Some(found) = IdentityKey::new(target.ident_id, &values)
                    .and_then(|k| self.find(&k))
                    .filter(|f| f.mapper.isa(&target))
                {
                    if read_seen.insert(Rc::as_ptr(&found) as usize) {
                        read.push(found.clone());
                    }
                    add_loaded(p, rel, found);
                    continue;
                }
            }
            if values.iter().any(Value::is_null) {
                continue; // a NULL key: nothing related
            }
            let values = if parent_table.is_some() {
                for &c in key_attrs {
                    SessionCore::ensure_loaded(p, c)?;
                }
                let st = p.state();
                key_attrs.iter().map(|&c| st.values[c].clone()).collect()
            } else {
                values
            };
            let Some(key) = IdentityKey::new(0, &values) else {
                continue;
            };
            let e = wanted.entry(key).or_default();
            if e.is_empty() {
                keys.push(values);
            }
            e.push(p.clone());
        }
        if keys.is_empty() {
            return Ok(read);
        }
        // SELECT target.<cols>, <key cols> FROM target [JOIN secondary] WHERE <key> IN (...)
        // (a self-referential parent table joins in as an alias: FROM node AS node_1 JOIN node)
        let parent_from: Option<FromItem> = match &parent_table {
            Some(pm) if pm.table.id == target.table.id => {
                Some(FromItem::Derived(Derived::alias(&pm.table, &anon_name())?))
            }
            Some(pm) => Some(FromItem::Table(pm.table.clone())),
            None => None,
        };
        let parent_col = |c: usize| match &parent_from {
            Some(FromItem::Derived(a)) => a.column(c),
            Some(FromItem::Table(t)) => Expr::column(t, c),
            _ => unreachable!("the parent's table or its alias"),
        };
        let key_cols: Vec<Expr> = match (&rel.secondary, &parent_table) {
            (_, Some(_)) => key_attrs.iter().map(|&c| parent_col(c)).collect(),
            (None, None) => rel
                .remote
                .iter()
                .map(|&r| Expr::column(&target.table, r))
                .collect(),
            (Some(sec), None) => rel
                .sec_local
                .iter()
                .map(|&s| Expr::column(sec, s))
                .collect(),
        };
        let mut base = Select::default();
        // a target read through its concrete union: every column, the discriminator and
        // the other classes' columns after them, the target's table read as the union
        let union = target.polymorphic_union()?;
        let mut poly = None;
        match (&child.attrs, &union) {
            (Some(a), None) => base
                .columns
                .extend(a.iter().map(|&i| Expr::column(&target.table, i))),
            _ => base.columns.extend(target.column_exprs()),
        }
        if let Some(u) = &union {
            let (p, extra) = target.union_extra_columns(u);
            base.columns.extend(extra);
            base.polymorphic.push((target.table.clone(), u.clone()));
            poly = Some(p);
        }
        let nent = base.columns.len();
        base.columns.extend(key_cols.iter().cloned());
        if let Some(from) = &parent_from {
            // FROM parent JOIN target ON <the whole join condition>
            base.from.push(from.clone());
            base.joins
                .extend(rel.joins_to(from, &FromItem::Table(target.table.clone()), false));
        } else {
            base.from.push(FromItem::Table(target.table.clone()));
            if let Some(sec) = &rel.secondary {
                let (_, on) = rel.join_condition();
                base.joins.push(Join {
                    target: FromItem::Table(sec.clone()),
                    on: on.expect("many-to-many has a secondary join"),
                    outer: false,
                });
            }
            if let Some(e) = rel.extra_adapted(&|i| Expr::column(&target.table, i), &|i| {
                Expr::column(&target.table, i)
            }) {
                base.where_.push(e);
            }
        }
        // a subclass of a single-table hierarchy: its identities
        base.where_
            .extend(target.criterion(&|i| Expr::column(&target.table, i)));
        base.order_by = rel.order_by.clone();
        let mut columns = vec![ResultColumn::Entity {
            mapper: target.clone(),
            start: 0,
            alias: None,
            poly,
        }];
        columns.extend(
            key_cols
                .iter()
                .enumerate()
                .map(|(k, e)| ResultColumn::Value {
                    name: Rc::from(format!("key_{k}").as_str()),
                    kind: e.sql_type().kind(),
                    index: nent + k,
                    enum_values: None,
                }),
        );
        apply_joined_entity(&mut base, child, &target, union.as_ref())?;
        let plans = [Some(child)];
        let width = columns.len();
        // joined loads under this one repeat a related row once per row of theirs
        let mut added: FxHashSet<(usize, usize)> = FxHashSet::default();
        for chunk in keys.chunks(SELECTIN_BATCH) {
            let mut select = base.clone();
            select.where_.push(if key_cols.len() == 1 {
                Expr::In {
                    expr: Box::new(key_cols[0].clone()),
                    items: chunk.iter().map(|v| Expr::bind(v[0].clone())).collect(),
                    negate: false,
                }
            } else {
                Expr::List(
                    BinOp::Or,
                    chunk
                        .iter()
                        .map(|v| {
                            and_all(
                                key_cols
                                    .iter()
                                    .zip(v)
                                    .map(|(c, x)| {
                                        Expr::binary(c.clone(), BinOp::Eq, Expr::bind(x.clone()))
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            });
            let c = compile(&Statement::Select(select), conn.engine().dialect())?;
            let params = c.bind(&[], &|_| None)?;
            let rows = self.run_planned(conn, &c.sql, &params, &columns, &plans)?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let Item::Instance(found) = &row[0] else {
                    continue;
                };
                if read_seen.insert(Rc::as_ptr(found) as usize) {
                    read.push(found.clone());
                }
                let values: Vec<Value> = row[1..width]
                    .iter()
                    .map(|i| match i {
                        Item::Value(v, _) => v.clone(),
                        _ => Value::Null,
                    })
                    .collect();
                let Some(key) = IdentityKey::new(0, &values) else {
                    continue;
                };
                if let Some(ps) = wanted.get(&key) {
                    for p in ps {
                        if added.insert((Rc::as_ptr(p) as usize, Rc::as_ptr(found) as usize)) {
                            add_loaded(p, rel, found.clone());
                        }
                    }
                }
            }
        }
        Ok(read)
    }
}
