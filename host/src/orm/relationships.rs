//! Relationships between mappers: what a model declares (`RelationshipSpec`) and what it
//! becomes once every model it names exists (`Relationship`): the direction, the column
//! pairs that join the two tables (through a secondary table for many-to-many), the
//! reverse relationship, the cascades and the loader strategy.
//!
//! Models name their targets by class name, so relationships are configured at first use,
//! over every mapper of a registry at once, as SQLAlchemy's `configure_mappers()` does. A
//! relationship that cannot be configured (no foreign key between the tables, two candidate
//! keys, a missing target) fails there with an error naming both models.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use super::mapper::Mapper;
use crate::arg_err;
use crate::error::Result;
use crate::schema::Table;
use crate::sql::{BinOp, Expr};

/// Which side holds the foreign key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The target's rows point at the parent (`User.posts`).
    OneToMany,
    /// The parent's row points at the target (`Post.author`).
    ManyToOne,
    /// Rows of a secondary table join the two (`Student.courses`).
    ManyToMany,
}

/// How an unloaded relationship loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lazy {
    /// One SELECT on first access (the default).
    Select,
    /// Loaded with its parents in the same SELECT, by a LEFT OUTER JOIN.
    Joined,
    /// Loaded for all the parents of a query by a second SELECT with an IN list.
    Selectin,
    /// Access raises `InvalidRequestError`.
    Raise,
    /// Never loads: empty (or nil) unless set in this session.
    NoLoad,
    /// A collection never loaded into memory (SQLAlchemy's `WriteOnlyMapped`): access gives
    /// a `WriteOnlyCollection` that records `add` / `remove` for the next flush and builds
    /// the SELECT of its members.
    WriteOnly,
    /// As `WriteOnly`, with a query of the members (SQLAlchemy's legacy `AppenderQuery`).
    Dynamic,
}

impl Lazy {
    pub fn parse(s: &str) -> Result<Lazy> {
        Ok(match s {
            "select" | "true" => Lazy::Select,
            "joined" => Lazy::Joined,
            "selectin" => Lazy::Selectin,
            "raise" | "raise_on_sql" => Lazy::Raise,
            "noload" => Lazy::NoLoad,
            "write_only" => Lazy::WriteOnly,
            "dynamic" => Lazy::Dynamic,
            other => {
                return Err(arg_err!(
                    "lazy must be \"select\", \"joined\", \"selectin\", \"raise\", \"noload\", \"write_only\" or \"dynamic\", got \"{other}\""
                ))
            }
        })
    }

    /// The name `lazy` takes for it.
    pub fn name(self) -> &'static str {
        match self {
            Lazy::Select => "select",
            Lazy::Joined => "joined",
            Lazy::Selectin => "selectin",
            Lazy::Raise => "raise",
            Lazy::NoLoad => "noload",
            Lazy::WriteOnly => "write_only",
            Lazy::Dynamic => "dynamic",
        }
    }

    /// A collection that is never loaded into memory (`write_only`, `dynamic`): its
    /// changes stay pending until the flush writes them.
    pub fn never_loads(self) -> bool {
        matches!(self, Lazy::WriteOnly | Lazy::Dynamic)
    }
}

/// The cascades of a relationship (`cascade = "all, delete-orphan"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cascade {
    pub save_update: bool,
    pub merge: bool,
    pub expunge: bool,
    pub delete: bool,
    pub delete_orphan: bool,
    pub refresh_expire: bool,
}

impl Default for Cascade {
    /// `"save-update, merge"`, SQLAlchemy's default.
    fn default() -> Cascade {
        Cascade {
            save_update: true,
            merge: true,
            ..Cascade::NONE
        }
    }
}

impl Cascade {
    /// `cascade = "none"`.
    pub const NONE: Cascade = Cascade {
        save_update: false,
        merge: false,
        expunge: false,
        delete: false,
        delete_orphan: false,
        refresh_expire: false,
    };

    pub fn parse(s: &str) -> Result<Cascade> {
        let mut c = Cascade::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => {
                    c.save_update = true;
                    c.merge = true;
                    c.expunge = true;
                    c.delete = true;
                    c.refresh_expire = true;
                }
                "save-update" => c.save_update = true,
                "merge" => c.merge = true,
                "expunge" => c.expunge = true,
                "delete" => c.delete = true,
                "delete-orphan" => c.delete_orphan = true,
                "refresh-expire" => c.refresh_expire = true,
                "none" => {}
                other => {
                    return Err(arg_err!(
                        "Invalid cascade option '{other}' (expected all, save-update, merge, expunge, delete, delete-orphan, refresh-expire or none)"
                    ))
                }
            }
        }
        if c.delete_orphan && !c.delete {
            // SQLAlchemy warns; an orphan that is deleted implies its parent's delete cascades
            c.delete = true;
        }
        Ok(c)
    }
}

/// A relationship as a model declares it.
#[derive(Clone, Debug)]
pub struct RelationshipSpec {
    pub key: String,
    /// The class name of the target model.
    pub target: String,
    /// A secondary (association) table, by name or as a table.
    pub secondary: Option<SecondaryRef>,
    pub back_populates: Option<String>,
    /// `backref = "name"` or `orm.backref(name, opts)`: the reverse is created on the target.
    pub backref: Option<(String, Box<RelationshipSpec>)>,
    pub uselist: Option<bool>,
    /// Column keys on the remote side (self-referential relationships).
    pub remote_side: Vec<String>,
    /// Column keys (`"Post.author_id"` or `"author_id"`) that act as the foreign key.
    pub foreign_keys: Vec<String>,
    /// An explicit join condition: column equalities ANDed.
    pub primaryjoin: Option<Expr>,
    pub order_by: Vec<Expr>,
    pub lazy: Lazy,
    /// Levels a self-referential eager default loads (`join_depth`; one when unset).
    pub join_depth: Option<u32>,
    pub cascade: Cascade,
    pub passive_deletes: bool,
    pub viewonly: bool,
    pub post_update: bool,
    /// A dictionary collection (`collection_class`): the binding reads and writes its
    /// members by a key computed from each (the members are still a list here).
    pub keyed: bool,
}

#[derive(Clone, Debug)]
pub enum SecondaryRef {
    Name(String),
    Table(Rc<Table>),
}

impl RelationshipSpec {
    pub fn new(key: &str, target: &str) -> RelationshipSpec {
        RelationshipSpec {
            key: key.to_string(),
            target: target.to_string(),
            secondary: None,
            back_populates: None,
            backref: None,
            uselist: None,
            remote_side: Vec::new(),
            foreign_keys: Vec::new(),
            primaryjoin: None,
            order_by: Vec::new(),
            lazy: Lazy::Select,
            join_depth: None,
            cascade: Cascade::default(),
            passive_deletes: false,
            viewonly: false,
            post_update: false,
            keyed: false,
        }
    }
}

/// A configured relationship.
#[derive(Debug)]
pub struct Relationship {
    pub key: String,
    /// The sort key of SQLAlchemy's flush step for it (`ProcessAll`): the declaring class,
    /// `_`, the key (`Child_parent` runs before `Parent_children` in one level).
    pub sort_key: String,
    /// Its position among the parent's relationships.
    pub index: usize,
    parent: Weak<Mapper>,
    target: Weak<Mapper>,
    pub direction: Direction,
    /// The joining columns, pairwise: for one-to-many the parent's referenced columns and
    /// the target's foreign key columns; for many-to-one the parent's foreign key columns
    /// and the target's referenced columns; for many-to-many the parent's and the target's
    /// referenced columns. Attribute indices of the respective mapper.
    pub local: Vec<usize>,
    pub remote: Vec<usize>,
    /// Many-to-many: the secondary table, its columns that reference `local` and those
    /// that reference `remote` (column indices of the secondary table).
    pub secondary: Option<Rc<Table>>,
    pub sec_local: Vec<usize>,
    pub sec_remote: Vec<usize>,
    pub uselist: bool,
    /// The reverse relationship's index on the target.
    pub back: Cell<Option<usize>>,
    pub order_by: Vec<Expr>,
    pub lazy: Lazy,
    /// Levels a self-referential eager default loads (`join_depth`; one when unset).
    pub join_depth: Option<u32>,
    pub cascade: Cascade,
    pub passive_deletes: bool,
    pub viewonly: bool,
    pub post_update: bool,
    /// A dictionary collection (`collection_class`): the binding reads and writes its
    /// members by a key computed from each (the members are still a list here).
    pub keyed: bool,
    /// The terms of an explicit `primaryjoin` beyond the joining column pairs (the
    /// `Comment.target_type == "post"` of a generic foreign key, a range condition), ANDed;
    /// their columns are the parent's and the target's tables, re-aimed by each use.
    pub extra: Option<Expr>,
    /// The parent's and the target's attributes `extra` reads (each once, in order).
    pub extra_parent: Vec<usize>,
    pub extra_target: Vec<usize>,
    /// The table id `extra` names the target's columns by: the target's table, or for a
    /// self-referential condition beyond column equalities (`remote()` columns of a LIKE)
    /// a stand-in of it, the parent's side keeping the table's own id.
    target_side: u32,
    /// The attribute listeners of this relationship (`append`, `remove`, `set`), once any
    /// is registered: the attribute events (`collections.rs`) call them.
    pub listener: ListenerSlot,
    /// The lazy load's SELECT, compiled on first use (`strategies.rs`).
    pub(crate) lazy_sql:
        std::cell::OnceCell<(crate::sql::Compiled, Vec<super::query::ResultColumn>)>,
}

/// Where a relationship's attribute listener is kept (empty: no listener, no cost).
#[derive(Default)]
pub struct ListenerSlot(pub std::cell::RefCell<Option<Rc<dyn super::collections::AttrListener>>>);

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.borrow().is_some() {
            "ListenerSlot(set)"
        } else {
            "ListenerSlot(empty)"
        })
    }
}

impl Relationship {
    pub fn parent(&self) -> Rc<Mapper> {
        self.parent
            .upgrade()
            .expect("a relationship outlives its mapper")
    }
    pub fn target(&self) -> Rc<Mapper> {
        self.target
            .upgrade()
            .expect("a relationship outlives its target")
    }
    /// `"User.posts"`: how errors name it.
    pub fn path(&self) -> String {
        format!("{}.{}", self.parent().class_name, self.key)
    }
    /// The reverse relationship on the target, if the two are linked.
    pub fn reverse(&self) -> Option<Rc<Relationship>> {
        let i = self.back.get()?;
        self.target().relationships.borrow().get(i).cloned()
    }
    /// The reverse relationship as it applies to an object of class `of` (the target or a
    /// class of it): a concrete class has relationships of its own, so its relationship of
    /// the reverse's key (one whose `back_populates` names this one, as SQLAlchemy's
    /// backref events find the attribute by key on the object's class).
    pub fn reverse_on(&self, of: &Mapper) -> Option<Rc<Relationship>> {
        let r = self.reverse()?;
        if of.concrete().is_none() || r.parent().id == of.id {
            return Some(r);
        }
        of.relationships
            .borrow()
            .iter()
            .find(|o| o.key == r.key && o.back.get() == Some(self.index))
            .cloned()
    }
    /// The target's joining columns (`remote`) as attributes of an object of class `of`:
    /// a concrete class of a target read through its union has its own table, whose
    /// columns of the same keys hold them (checked when the models are configured).
    pub fn remote_on(&self, of: &Mapper) -> Vec<usize> {
        let target = self.target();
        if of.id == target.id || of.concrete().is_none() {
            return self.remote.clone();
        }
        self.remote
            .iter()
            .map(|&r| {
                of.table
                    .column_index_by_key(&target.table.columns[r].key)
                    .unwrap_or(r)
            })
            .collect()
    }
    /// `extra` with the parent's columns replaced by `parent(i)` and the target's by
    /// `target(i)` (attribute indices).
    pub fn extra_adapted(
        &self,
        parent: &dyn Fn(usize) -> Expr,
        target: &dyn Fn(usize) -> Expr,
    ) -> Option<Expr> {
        let e = self.extra.as_ref()?;
        let (pid, tid) = (self.parent().table.id, self.target_side);
        Some(e.adapt(&|c| {
            if c.from.is_some() {
                None
            } else if c.table.id == pid {
                Some(parent(c.index))
            } else if c.table.id == tid {
                Some(target(c.index))
            } else {
                None
            }
        }))
    }

    /// Whether a many-to-one is a plain reference to the target's primary key, which can
    /// be found in the identity map without SQL (SQLAlchemy's `use_get`).
    pub fn uses_get(&self) -> bool {
        self.direction == Direction::ManyToOne
            && self.extra.is_none()
            && self.remote == self.target().pk
    }

    /// The join condition as SQL, `parent_cols = target_cols` (through the secondary table
    /// for many-to-many: the parent side and the target side).
    pub fn join_condition(&self) -> (Expr, Option<Expr>) {
        let p = self.parent();
        let t = self.target();
        match &self.secondary {
            None => {
                let on = eq_all(
                    self.local
                        .iter()
                        .zip(&self.remote)
                        .map(|(&l, &r)| (Expr::column(&p.table, l), Expr::column(&t.table, r))),
                );
                let extra = self.extra_adapted(&|i| Expr::column(&p.table, i), &|i| {
                    Expr::column(&t.table, i)
                });
                (and_extra(on, extra), None)
            }
            Some(sec) => (
                eq_all(
                    self.local
                        .iter()
                        .zip(&self.sec_local)
                        .map(|(&l, &s)| (Expr::column(&p.table, l), Expr::column(sec, s))),
                ),
                Some(eq_all(self.remote.iter().zip(&self.sec_remote).map(
                    |(&r, &s)| (Expr::column(&t.table, r), Expr::column(sec, s)),
                ))),
            ),
        }
    }
}

/// `on AND extra`, one flat AND.
pub(crate) fn and_extra(on: Expr, extra: Option<Expr>) -> Expr {
    let Some(extra) = extra else { return on };
    let mut parts = match on {
        Expr::List(BinOp::And, parts) => parts,
        e => vec![e],
    };
    match extra {
        Expr::List(BinOp::And, more) => parts.extend(more),
        e => parts.push(e),
    }
    Expr::List(BinOp::And, parts)
}

fn eq_all(pairs: impl Iterator<Item = (Expr, Expr)>) -> Expr {
    let mut parts: Vec<Expr> = pairs.map(|(a, b)| Expr::binary(a, BinOp::Eq, b)).collect();
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Expr::List(BinOp::And, parts)
    }
}

/// Configures the pending relationship specs of `mappers` (a registry's models), backrefs
/// included. Specs stay pending on failure, so the error repeats at the next use.
pub fn configure(mappers: &[Rc<Mapper>], tables: &dyn Fn(&str) -> Option<Rc<Table>>) -> Result<()> {
    // backrefs first: each becomes a spec on its target, linked by back_populates
    for m in mappers {
        let specs: Vec<RelationshipSpec> = m.rel_specs.borrow().clone();
        for spec in specs {
            if let Some((name, opts)) = &spec.backref {
                let target = find(mappers, &spec.target, m, &spec.key)?;
                if target.relationships.borrow().iter().any(|r| r.key == *name)
                    || target.rel_specs.borrow().iter().any(|s| s.key == *name)
                {
                    continue; // configured before
                }
                if target.attr_index(name).is_some() {
                    return Err(arg_err!(
                        "Error creating backref '{name}' on relationship '{}.{}': property of that name exists on mapper '{}'",
                        m.class_name,
                        spec.key,
                        target.class_name
                    ));
                }
                let mut r = (**opts).clone();
                r.key = name.clone();
                r.target = m.class_name.clone();
                r.back_populates = Some(spec.key.clone());
                r.secondary = spec.secondary.clone();
                if spec.primaryjoin.is_some() && r.primaryjoin.is_none() {
                    r.primaryjoin = spec.primaryjoin.clone();
                }
                if r.foreign_keys.is_empty() {
                    r.foreign_keys = spec.foreign_keys.clone();
                }
                if r.remote_side.is_empty()
                    && !spec.remote_side.is_empty()
                    && Rc::ptr_eq(&target, m)
                {
                    // the reverse of a self-referential many-to-one is the one-to-many,
                    // whose remote side is the foreign key: the local side of the forward
                    r.remote_side = vec!["\u{0}reverse".to_string()];
                }
                target.rel_specs.borrow_mut().push(r);
                for s in m.rel_specs.borrow_mut().iter_mut() {
                    if s.key == spec.key {
                        s.backref = None;
                        s.back_populates = Some(name.clone());
                    }
                }
            }
        }
    }
    for m in mappers {
        // a subclass has its parent's relationships first, at the same positions (a
        // concrete class declares its own: SQLAlchemy does not inherit them)
        if let Some(p) = m.inherits().filter(|_| m.concrete().is_none()) {
            let inherited: Vec<Rc<Relationship>> = p.relationships.borrow().clone();
            let mut own = m.relationships.borrow_mut();
            for (i, r) in inherited.iter().enumerate() {
                match own.get(i) {
                    Some(o) if Rc::ptr_eq(o, r) => {}
                    None => own.push(r.clone()),
                    Some(_) => {
                        return Err(crate::error::Error::new(
                            crate::error::ErrorKind::InvalidRequestError,
                            format!(
                                "relationship {}: added to {} after its subclass {} was configured with relationships of its own; declare the models before their first use",
                                r.path(),
                                p.class_name,
                                m.class_name
                            ),
                        ))
                    }
                }
            }
        }
        let specs: Vec<RelationshipSpec> = m.rel_specs.borrow().clone();
        for spec in &specs {
            let target = find(mappers, &spec.target, m, &spec.key)?;
            let r = resolve(m, &target, spec, tables)?;
            check_union_target(&m.class_name, &r, &target)?;
            m.relationships.borrow_mut().push(Rc::new(r));
        }
        m.rel_specs.borrow_mut().clear();
    }
    // link the pairs named by back_populates
    for m in mappers {
        let rels: Vec<Rc<Relationship>> = m.relationships.borrow().clone();
        for r in rels {
            if r.back.get().is_some() {
                continue;
            }
            let Some(name) = m.back_populates.borrow().get(&r.key).cloned() else {
                continue;
            };
            let target = r.target();
            let other = target
                .relationships
                .borrow()
                .iter()
                .find(|o| o.key == name)
                .cloned()
                .ok_or_else(|| {
                    arg_err!(
                        "relationship {}: back_populates = \"{name}\" names no relationship of {}",
                        r.path(),
                        target.class_name
                    )
                })?;
            // a concrete class's own relationship may name one that relates to a class it
            // inherits from (SQLAlchemy's documented pattern: each concrete class repeats the
            // base's `company`, all back-populating `Company.employees`); that one's reverse
            // stays the base's, and the backref reaches the subclass's by key
            let inherited =
                m.concrete().is_some() && m.isa(&other.target()) && !Rc::ptr_eq(&other.target(), m);
            if inherited {
                r.back.set(Some(other.index));
                continue;
            }
            if !Rc::ptr_eq(&other.target(), m) {
                return Err(arg_err!(
                    "relationship {}: back_populates = \"{name}\" names {}, which relates to {}, not {}",
                    r.path(),
                    other.path(),
                    other.target().class_name,
                    m.class_name
                ));
            }
            r.back.set(Some(other.index));
            other.back.set(Some(r.index));
        }
    }
    // each delete-orphan relationship is listed on its target (once: a subclass shares its
    // parent's relationships, and configure runs again for models declared later)
    for m in mappers {
        for r in m.relationships.borrow().iter() {
            if !r.cascade.delete_orphan || r.viewonly {
                continue;
            }
            let target = r.target();
            let mut list = target.delete_orphans.borrow_mut();
            if !list.iter().any(|w| std::ptr::eq(w.as_ptr(), Rc::as_ptr(r))) {
                list.push(Rc::downgrade(r));
            }
        }
    }
    Ok(())
}

/// A relationship to a class read through its concrete union reads and writes its joining
/// columns on every class of the union, by key: each must have them.
fn check_union_target(parent: &str, r: &Relationship, target: &Mapper) -> Result<()> {
    for sub in target.union_subclasses() {
        for &c in &r.remote {
            let key = &target.table.columns[c].key;
            if sub.table.column_index_by_key(key).is_none() {
                return Err(arg_err!(
                    "relationship {}.{}: its target {} is read through the polymorphic union of its concrete-table hierarchy, and its concrete class {} has no column '{key}' to join on (declare it on {} too)",
                    parent,
                    r.key,
                    target.class_name,
                    sub.class_name,
                    sub.class_name
                ));
            }
        }
    }
    Ok(())
}

fn find(mappers: &[Rc<Mapper>], name: &str, from: &Mapper, key: &str) -> Result<Rc<Mapper>> {
    mappers
        .iter()
        .find(|m| m.class_name == name)
        .cloned()
        .ok_or_else(|| {
            arg_err!(
                "relationship {}.{key}: When initializing mapper {}, expression '{name}' failed to locate a name: no model named '{name}' is declared on this base",
                from.class_name,
                from.class_name
            )
        })
}

/// The columns of `from` (a table) whose foreign keys reference `to`, with the referenced
/// column indices.
fn fk_pairs(from: &Table, to: &Table) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, c) in from.columns.iter().enumerate() {
        for fk in &c.foreign_keys {
            let (t, col) = fk.target_parts();
            if t == to.name {
                if let Some(j) = to.column_index(col) {
                    out.push((i, j));
                }
            }
        }
    }
    out
}

/// Does `spec.foreign_keys` allow column `i` of `table`? Entries name a column by key or
/// name, optionally qualified (`"Post.author_id"`, `"posts.author_id"`).
fn allowed(spec: &RelationshipSpec, table: &Table, i: usize) -> bool {
    spec.foreign_keys.is_empty()
        || spec.foreign_keys.iter().any(|f| {
            let col = f.rsplit('.').next().unwrap_or(f);
            table.columns[i].key == col || table.columns[i].name == col
        })
}

/// A `primaryjoin` without its `foreign()` / `remote()` annotations, with the columns
/// each marked (SQLAlchemy's annotations; `foreign` works as `foreign_keys`, `remote` as
/// `remote_side`).
///
/// With `stand_in` (a self-referential condition that is not only column equalities), the
/// columns a `remote()` wraps are re-pointed to that stand-in of the table: the target's
/// side of the condition (`Table::stand_in`).
fn strip_annotations(
    e: &Expr,
    foreign: &mut Vec<String>,
    remote: &mut Vec<String>,
    stand_in: Option<&Rc<Table>>,
) -> Expr {
    let mut s = |x: &Expr| strip_annotations(x, foreign, remote, stand_in);
    match e {
        Expr::Annotated(inner, a) => {
            let inner = s(inner);
            let mut names = Vec::new();
            each_column(&inner, &mut |c| {
                names.push(format!("{}.{}", c.table.name, c.table.columns[c.index].key))
            });
            if a.foreign {
                foreign.extend(names.iter().cloned());
            }
            if a.remote {
                remote.extend(names);
                if let Some(t) = stand_in {
                    return inner.adapt(&|c| {
                        (c.from.is_none() && c.table.name == t.name)
                            .then(|| Expr::column(t, c.index))
                    });
                }
            }
            inner
        }
        Expr::Binary(l, op, r) => {
            let l = s(l);
            Expr::Binary(Box::new(l), *op, Box::new(s(r)))
        }
        Expr::Unary(op, x) => Expr::Unary(*op, Box::new(s(x))),
        Expr::Grouping(x) => Expr::Grouping(Box::new(s(x))),
        Expr::List(op, items) => Expr::List(*op, items.iter().map(s).collect()),
        Expr::Func { name, args } => Expr::Func {
            name: name.clone(),
            args: args.iter().map(s).collect(),
        },
        other => other.clone(),
    }
}

fn resolve(
    parent: &Rc<Mapper>,
    target: &Rc<Mapper>,
    spec: &RelationshipSpec,
    tables: &dyn Fn(&str) -> Option<Rc<Table>>,
) -> Result<Relationship> {
    let both = format!(
        "relationship {}.{} (between {} and {})",
        parent.class_name, spec.key, parent.class_name, target.class_name
    );
    // foreign() / remote() in primaryjoin: as foreign_keys / remote_side
    let annotated;
    // a self-referential condition beyond column equalities (a materialized path's LIKE):
    // the whole condition, its target side on a stand-in table, and its direction
    let mut self_condition: Option<(Expr, Rc<Table>, Direction)> = None;
    let spec = match &spec.primaryjoin {
        Some(pj) => {
            let (mut foreign, mut remote) = (Vec::new(), Vec::new());
            let plain = strip_annotations(pj, &mut foreign, &mut remote, None);
            let mut s = spec.clone();
            s.primaryjoin = Some(plain);
            s.foreign_keys.extend(foreign.iter().cloned());
            let self_ref = Rc::ptr_eq(parent, target);
            if self_ref && !remote.is_empty() {
                // a self-referential join of column equalities: the remote side names the
                // target's columns, the rest follows the foreign keys (as remote_side)
                let mut terms = Vec::new();
                and_terms(s.primaryjoin.as_ref().expect("set above"), &mut terms);
                if terms.iter().any(|t| column_eq(t).is_none()) {
                    // as SQLAlchemy: only a viewonly relationship may join on operators
                    // other than equality; it is loaded and queried, never written
                    if !spec.viewonly {
                        return Err(arg_err!(
                            "{both}: primaryjoin compares with operators other than equality (no simple equality of a foreign() column); such a relationship can only be read: declare it with viewonly = true"
                        ));
                    }
                    let stand_in = Rc::new(parent.table.stand_in());
                    let (mut f2, mut r2) = (Vec::new(), Vec::new());
                    let cond = strip_annotations(pj, &mut f2, &mut r2, Some(&stand_in));
                    // the foreign key side: remote (the target's rows hold it) makes a
                    // collection, local a reference
                    let direction = if foreign.iter().all(|f| remote.contains(f)) {
                        Direction::OneToMany
                    } else {
                        Direction::ManyToOne
                    };
                    self_condition = Some((cond, stand_in, direction));
                    s.primaryjoin = None;
                    annotated = s;
                    &annotated
                } else {
                    s.remote_side.extend(
                        remote
                            .iter()
                            .map(|r| r.rsplit('.').next().unwrap_or(r).to_string()),
                    );
                    s.primaryjoin = None;
                    annotated = s;
                    &annotated
                }
            } else {
                annotated = s;
                &annotated
            }
        }
        None => spec,
    };
    let index = parent.relationships.borrow().len();
    let (pt, tt) = (&parent.table, &target.table);
    let mut secondary = None;
    let (mut sec_local, mut sec_remote) = (Vec::new(), Vec::new());
    let (direction, local, remote);
    let mut extra_terms: Vec<Expr> = Vec::new();
    let mut target_side = tt.id;
    if let Some((cond, stand_in, dir)) = self_condition {
        // no joining columns: the condition is all there is, its target side on the
        // stand-in (each use re-aims it: `extra_adapted`)
        direction = dir;
        local = Vec::new();
        remote = Vec::new();
        target_side = stand_in.id;
        and_terms(&cond, &mut extra_terms);
    } else if let Some(sec) = &spec.secondary {
        if spec.primaryjoin.is_some() {
            return Err(arg_err!(
                "{both}: primaryjoin with secondary (and secondaryjoin) is not supported; the join through '{}' follows its foreign keys",
                match sec {
                    SecondaryRef::Table(t) => t.name.clone(),
                    SecondaryRef::Name(n) => n.clone(),
                }
            ));
        }
        let sec = match sec {
            SecondaryRef::Table(t) => t.clone(),
            SecondaryRef::Name(n) => tables(n)
                .ok_or_else(|| arg_err!("{both}: secondary table '{n}' is not in the metadata"))?,
        };
        let to_parent = fk_pairs(&sec, pt);
        let to_target = fk_pairs(&sec, tt);
        let (lp, rp) = if Rc::ptr_eq(parent, target) {
            return Err(arg_err!(
                "{both}: a self-referential many-to-many through '{}' needs primaryjoin and secondaryjoin, which are not supported yet",
                sec.name
            ));
        } else {
            (to_parent, to_target)
        };
        if lp.is_empty() || rp.is_empty() {
            return Err(arg_err!(
                "{both}: Could not determine join condition: the secondary table '{}' needs foreign keys to both '{}' and '{}'",
                sec.name,
                pt.name,
                tt.name
            ));
        }
        direction = Direction::ManyToMany;
        local = lp.iter().map(|p| p.1).collect::<Vec<_>>();
        sec_local = lp.iter().map(|p| p.0).collect();
        remote = rp.iter().map(|p| p.1).collect::<Vec<_>>();
        sec_remote = rp.iter().map(|p| p.0).collect();
        secondary = Some(sec);
    } else if let Some(pj) = &spec.primaryjoin {
        // column equalities between the two tables; the side whose column has a foreign
        // key to the other (or is named in foreign_keys) is the foreign key side. Every
        // other term (a literal, a range, an equality of two non-key columns) is kept as
        // the relationship's extra criteria.
        if Rc::ptr_eq(parent, target) {
            return Err(arg_err!(
                "{both}: a self-referential primaryjoin needs remote() annotations (orm.remote(Node.id):eq(orm.foreign(Node.parent_id))), or remote_side"
            ));
        }
        let mut terms = Vec::new();
        and_terms(pj, &mut terms);
        let mut many_to_one = Vec::new();
        let mut one_to_many = Vec::new();
        let mut extra = Vec::new();
        for term in terms {
            let mut paired = false;
            if let Some((a, b)) = column_eq(&term) {
                for (x, y) in [(a, b), (b, a)] {
                    if x.0 == pt.id && y.0 == tt.id {
                        // x: parent column, y: target column
                        let x_fk = if spec.foreign_keys.is_empty() {
                            fk_pairs(pt, tt).iter().any(|p| p.0 == x.1)
                        } else {
                            allowed(spec, pt, x.1)
                        };
                        let y_fk = if spec.foreign_keys.is_empty() {
                            fk_pairs(tt, pt).iter().any(|p| p.0 == y.1)
                        } else {
                            allowed(spec, tt, y.1)
                        };
                        if x_fk && !y_fk {
                            many_to_one.push((x.1, y.1));
                            paired = true;
                        } else if y_fk && !x_fk {
                            one_to_many.push((x.1, y.1));
                            paired = true;
                        }
                    }
                }
            }
            if !paired {
                extra.push(term.clone());
            }
        }
        for term in &extra {
            if let Some(other) = foreign_table(term, pt.id, tt.id) {
                return Err(arg_err!(
                    "{both}: primaryjoin may only use the columns of '{}' and '{}', not of '{other}'",
                    pt.name,
                    tt.name
                ));
            }
        }
        many_to_one.dedup();
        one_to_many.dedup();
        (direction, local, remote) = match (many_to_one.is_empty(), one_to_many.is_empty()) {
            (false, true) => (
                Direction::ManyToOne,
                many_to_one.iter().map(|p| p.0).collect(),
                many_to_one.iter().map(|p| p.1).collect(),
            ),
            (true, false) => (
                Direction::OneToMany,
                one_to_many.iter().map(|p| p.0).collect(),
                one_to_many.iter().map(|p| p.1).collect(),
            ),
            _ => {
                return Err(arg_err!(
                    "{both}: could not tell the foreign key side of primaryjoin; name it with foreign_keys"
                ))
            }
        };
        extra_terms = extra;
    } else if Rc::ptr_eq(parent, target) {
        let pairs: Vec<(usize, usize)> = fk_pairs(pt, pt)
            .into_iter()
            .filter(|p| allowed(spec, pt, p.0))
            .collect();
        if pairs.is_empty() {
            return Err(arg_err!(
                "{both}: Could not determine join condition: table '{}' has no foreign key to itself",
                pt.name
            ));
        }
        if pairs.len() > 1 {
            return Err(arg_err!(
                "{both}: Could not determine join condition: table '{}' has several foreign keys to itself; name one with foreign_keys",
                pt.name
            ));
        }
        let (fk, referenced) = pairs[0];
        // remote_side names the referenced column (many-to-one: `manager`), or the
        // foreign key (one-to-many, the default: `children`)
        // each name is a column of the table, bare or qualified by the class or table
        // name (`"id"`, `"Node.id"`); one naming nothing is refused
        let mut remote_cols = Vec::new();
        for k in spec.remote_side.iter().filter(|k| !k.starts_with('\u{0}')) {
            let (qual, col) = match k.rsplit_once('.') {
                Some((q, c)) => (Some(q), c),
                None => (None, k.as_str()),
            };
            let found = qual
                .is_none_or(|q| q == parent.class_name || q == pt.name)
                .then(|| {
                    pt.columns
                        .iter()
                        .position(|c| c.key == col || c.name == col)
                })
                .flatten();
            match found {
                Some(i) => remote_cols.push(i),
                None => {
                    return Err(arg_err!(
                        "{both}: remote_side '{k}' names no column of {} (table '{}')",
                        parent.class_name,
                        pt.name
                    ))
                }
            }
        }
        let remote_is_referenced = remote_cols.contains(&referenced);
        if remote_is_referenced {
            direction = Direction::ManyToOne;
            local = vec![fk];
            remote = vec![referenced];
        } else {
            direction = Direction::OneToMany;
            local = vec![referenced];
            remote = vec![fk];
        }
    } else {
        let m2o: Vec<(usize, usize)> = fk_pairs(pt, tt)
            .into_iter()
            .filter(|p| allowed(spec, pt, p.0))
            .collect();
        let o2m: Vec<(usize, usize)> = fk_pairs(tt, pt)
            .into_iter()
            .filter(|p| allowed(spec, tt, p.0))
            .collect();
        match (m2o.len(), o2m.len()) {
            (0, 0) => {
                return Err(arg_err!(
                    "{both}: Could not determine join condition: there are no foreign keys linking '{}' and '{}'; add a ForeignKey, or name the columns with foreign_keys / primaryjoin",
                    pt.name,
                    tt.name
                ))
            }
            (1, 0) => {
                direction = Direction::ManyToOne;
                local = vec![m2o[0].0];
                remote = vec![m2o[0].1];
            }
            (0, 1) => {
                direction = Direction::OneToMany;
                local = vec![o2m[0].1];
                remote = vec![o2m[0].0];
            }
            _ => {
                let names: Vec<String> = m2o
                    .iter()
                    .map(|p| format!("{}.{}", pt.name, pt.columns[p.0].name))
                    .chain(o2m.iter().map(|p| format!("{}.{}", tt.name, tt.columns[p.0].name)))
                    .collect();
                return Err(arg_err!(
                    "{both}: Could not determine join condition: there are multiple foreign key paths linking the tables ({}); name the one to use with foreign_keys",
                    names.join(", ")
                ));
            }
        }
    }
    let uselist = spec.uselist.unwrap_or(direction != Direction::ManyToOne);
    if let Some(bp) = &spec.back_populates {
        parent
            .back_populates
            .borrow_mut()
            .insert(spec.key.clone(), bp.clone());
    }
    if spec.keyed && !uselist {
        return Err(arg_err!(
            "{both}: collection_class is for collections; it cannot be used with a many-to-one or one-to-one relationship (uselist = false)"
        ));
    }
    if spec.lazy.never_loads() && !uselist {
        return Err(arg_err!(
            "{both}: lazy = \"{}\" is for collections; it cannot be used with a many-to-one or one-to-one relationship (uselist = false)",
            spec.lazy.name()
        ));
    }
    if spec.cascade.delete_orphan && direction == Direction::ManyToOne && uselist {
        return Err(arg_err!(
            "{both}: delete-orphan cascade is not supported on a many-to-many or many-to-one relationship"
        ));
    }
    let (extra_parent, extra_target) = extra_columns(&extra_terms, pt.id, target_side);
    let extra = match extra_terms.len() {
        0 => None,
        1 => extra_terms.pop(),
        _ => Some(Expr::List(BinOp::And, extra_terms)),
    };
    Ok(Relationship {
        key: spec.key.clone(),
        sort_key: format!("{}_{}", parent.class_name, spec.key),
        index,
        parent: Rc::downgrade(parent),
        target: Rc::downgrade(target),
        direction,
        local,
        remote,
        secondary,
        sec_local,
        sec_remote,
        uselist,
        back: Cell::new(None),
        order_by: spec.order_by.clone(),
        lazy: spec.lazy,
        join_depth: spec.join_depth,
        cascade: spec.cascade,
        passive_deletes: spec.passive_deletes,
        viewonly: spec.viewonly,
        post_update: spec.post_update,
        keyed: spec.keyed,
        extra,
        extra_parent,
        extra_target,
        target_side,
        listener: ListenerSlot::default(),
        lazy_sql: std::cell::OnceCell::new(),
    })
}

/// A column as (table id, column index).
type ColumnAt = (u32, usize);

/// The terms of an AND of conditions (nested ANDs and parentheses flattened).
fn and_terms(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::List(BinOp::And, parts) => parts.iter().for_each(|p| and_terms(p, out)),
        Expr::Binary(a, BinOp::And, b) => {
            and_terms(a, out);
            and_terms(b, out);
        }
        Expr::Grouping(inner) => and_terms(inner, out),
        other => out.push(other.clone()),
    }
}

/// The two columns of `a = b`.
fn column_eq(e: &Expr) -> Option<(ColumnAt, ColumnAt)> {
    match e {
        Expr::Binary(a, BinOp::Eq, b) => match (&**a, &**b) {
            (Expr::Column(x), Expr::Column(y)) if x.from.is_none() && y.from.is_none() => {
                Some(((x.table.id, x.index), (y.table.id, y.index)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Calls `f` on every column `e` reads (nested SELECTs included).
fn each_column(e: &Expr, f: &mut dyn FnMut(&crate::sql::expr::ColumnRef)) {
    let f = std::cell::RefCell::new(f);
    e.adapt_deep(&|c| {
        (f.borrow_mut())(c);
        None
    });
}

/// The name of a table other than `pid` / `tid` whose column `e` reads.
fn foreign_table(e: &Expr, pid: u32, tid: u32) -> Option<String> {
    let mut other = None;
    each_column(e, &mut |c| {
        if c.from.is_some() || (c.table.id != pid && c.table.id != tid) {
            other.get_or_insert_with(|| c.table.name.clone());
        }
    });
    other
}

/// The parent's and the target's column indices the extra terms read, each once.
fn extra_columns(terms: &[Expr], pid: u32, tid: u32) -> (Vec<usize>, Vec<usize>) {
    let (mut p, mut t) = (Vec::new(), Vec::new());
    for e in terms {
        each_column(e, &mut |c| {
            let list = if c.table.id == pid { &mut p } else { &mut t };
            if (c.table.id == pid || c.table.id == tid) && !list.contains(&c.index) {
                list.push(c.index);
            }
        });
    }
    (p, t)
}
