//! Loader options: per-statement choices of how relationships and columns load
//! (`joinedload`, `selectinload`, `lazyload`, `raiseload`, `noload`, `contains_eager`,
//! `load_only`, `defer`, `undefer`), each along a path of relationships from one of the
//! statement's entities, and the load plan they resolve to for each entity of a result.
//!
//! A plan (`EntityLoad`) says, for one entity: which columns to read, which relationships
//! to fill from extra columns of the same rows (joined), which by a second SELECT per batch
//! of parents (selectin), and which get a strategy other than their default on access.
//! Without options, a relationship's own `lazy` default applies at every depth; an eager
//! default stops where its relationship already appears on the path, so self-referential
//! and mutually eager relationships do not recurse without end.

use std::rc::Rc;

use super::mapper::Mapper;
use super::relationships::{Lazy, Relationship};
use crate::arg_err;
use crate::error::Result;
use crate::sql::Derived;

/// A path of relationships from a root entity: `[User.posts, Post.comments]`.
pub type RelPath = Vec<Rc<Relationship>>;

/// Options for the objects a relationship leads to, rooted at its target.
pub type NestedOptions = Rc<Vec<LoaderOption>>;

/// What a column option does.
#[derive(Clone, Debug)]
pub enum ColumnOption {
    /// Only these attributes (and the primary key) load with the row.
    LoadOnly(Vec<usize>),
    Defer(usize),
    Undefer(usize),
}

#[derive(Clone, Debug)]
pub enum LoaderOption {
    /// The relationship at the end of `path` loads by `lazy`; a self-referential
    /// `selectinload` with `recursion_depth` goes on that many levels more (-1: until a
    /// level finds nothing).
    Relationship {
        path: RelPath,
        lazy: Lazy,
        recursion_depth: Option<i32>,
    },
    /// Every relationship of the entity at the end of `prefix` (or of every root entity)
    /// loads by `lazy`: `raiseload("*")`.
    Wildcard { prefix: RelPath, lazy: Lazy },
    /// The relationship at the end of `path` is filled from columns the statement's own
    /// joins provide (of `alias` when given).
    ContainsEager {
        path: RelPath,
        alias: Option<Rc<Derived>>,
    },
    /// Which columns of `mapper` (the entity at the end of `path`) load.
    Columns {
        path: RelPath,
        mapper: Rc<Mapper>,
        option: ColumnOption,
    },
    /// `selectin_polymorphic(Base, { Sub, ... })`: the objects of each subclass a query of
    /// `mapper` returns load the subclass's columns by one SELECT ... IN per subclass.
    SelectinPolymorphic {
        mapper: Rc<Mapper>,
        subs: Vec<Rc<Mapper>>,
    },
}

impl LoaderOption {
    /// The mapper the option's path starts from (`None`: any root entity).
    pub fn root(&self) -> Option<Rc<Mapper>> {
        let path = match self {
            LoaderOption::Relationship { path, .. } | LoaderOption::ContainsEager { path, .. } => {
                path
            }
            LoaderOption::Wildcard { prefix, .. } => prefix,
            LoaderOption::Columns { path, mapper, .. } => {
                return Some(path.first().map(|r| r.parent()).unwrap_or(mapper.clone()))
            }
            LoaderOption::SelectinPolymorphic { mapper, .. } => return Some(mapper.clone()),
        };
        path.first().map(|r| r.parent())
    }
}

impl LoaderOption {
    /// This option with `base` taken off the front of its path, when it applies below the
    /// end of `base` (to the related objects `base` leads to).
    pub fn rebased(&self, base: &[Rc<Relationship>]) -> Option<LoaderOption> {
        let under = |p: &[Rc<Relationship>], strict: bool| {
            (p.len() > base.len() || (!strict && p.len() == base.len()))
                && same_path(&p[..base.len()], base)
        };
        Some(match self {
            LoaderOption::Relationship {
                path,
                lazy,
                recursion_depth,
            } if under(path, true) => LoaderOption::Relationship {
                path: path[base.len()..].to_vec(),
                lazy: *lazy,
                recursion_depth: *recursion_depth,
            },
            LoaderOption::ContainsEager { path, alias } if under(path, true) => {
                LoaderOption::ContainsEager {
                    path: path[base.len()..].to_vec(),
                    alias: alias.clone(),
                }
            }
            LoaderOption::Wildcard { prefix, lazy } if under(prefix, false) => {
                LoaderOption::Wildcard {
                    prefix: prefix[base.len()..].to_vec(),
                    lazy: *lazy,
                }
            }
            LoaderOption::Columns {
                path,
                mapper,
                option,
            } if under(path, false) => LoaderOption::Columns {
                path: path[base.len()..].to_vec(),
                mapper: mapper.clone(),
                option: option.clone(),
            },
            _ => return None,
        })
    }
}

/// Checks that `next` continues `path` (its parent is the target of the path's end).
pub fn extend_path(path: &RelPath, next: &Rc<Relationship>) -> Result<RelPath> {
    if let Some(last) = path.last() {
        if !Rc::ptr_eq(&last.target(), &next.parent()) {
            return Err(arg_err!(
                "Attribute '{}' does not link from element '{}': a chained loader option continues from {}",
                next.path(),
                last.path(),
                last.target().class_name
            ));
        }
    }
    // a path goes on through the objects of `last`: a write-only collection has none
    if let Some(last) = path.last() {
        refuse_population(last)?;
    }
    let mut p = path.clone();
    p.push(next.clone());
    Ok(p)
}

/// A write-only or dynamic collection is never filled with objects: no eager loader, nor
/// a loader path through it, applies (SQLAlchemy raises the same).
pub fn refuse_population(rel: &Relationship) -> Result<()> {
    if rel.lazy.never_loads() {
        return Err(crate::invalid!(
            "'{}' (lazy = \"{}\") does not support object population - eager loading cannot be applied",
            rel.path(),
            rel.lazy.name()
        ));
    }
    Ok(())
}

fn same_path(a: &[Rc<Relationship>], b: &[Rc<Relationship>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Rc::ptr_eq(x, y))
}

/// A relationship filled from columns of the parent's rows.
#[derive(Debug)]
pub struct JoinedLoad {
    pub rel: Rc<Relationship>,
    /// `contains_eager`: the statement joins the target itself (this FROM item, or the
    /// target's table when `None`); otherwise the loader adds a LEFT OUTER JOIN.
    pub user_defined: Option<Option<Rc<Derived>>>,
    /// Set when the plan is applied to a SELECT: where the target's columns start.
    pub start: std::cell::Cell<usize>,
    /// Set when the plan is applied to a SELECT and the target is read through its
    /// concrete hierarchy's polymorphic union: the union's columns after the target's.
    pub poly: std::cell::RefCell<Option<super::mapper::PolyColumns>>,
    pub child: EntityLoad,
}

/// How one entity of a result loads.
#[derive(Debug)]
pub struct EntityLoad {
    pub mapper: Rc<Mapper>,
    /// The attributes read from the row, in column order (`None`: all of them).
    pub attrs: Option<Rc<[usize]>>,
    pub joined: Vec<JoinedLoad>,
    /// Selectin loads: the relationship, the plan of its objects, and the levels more a
    /// self-referential one goes on (`recursion_depth`).
    pub selectin: Vec<(Rc<Relationship>, EntityLoad, Option<i32>)>,
    /// Relationships whose strategy on access differs from their default (by relationship
    /// index): raise, noload, or a lazy select where the default would raise.
    /// With the options for the related objects, rooted at the target, when the query
    /// gave any (`lazyload(User.posts):joinedload(Post.tags)`).
    pub on_access: Vec<(usize, Lazy, Option<NestedOptions>)>,
    /// An entity read through a concrete hierarchy's polymorphic union: the plans of the
    /// rows of its other classes, which have relationships of their own (their own `lazy`
    /// defaults and wildcards apply, and `selectinload` of the entity's relationship of the
    /// same key, as SQLAlchemy's; its other options name the entity's own relationships).
    pub subs: Vec<EntityLoad>,
}

impl EntityLoad {
    /// Nothing beyond reading every column: the plain path.
    pub fn is_plain(&self) -> bool {
        self.attrs.is_none()
            && self.joined.is_empty()
            && self.selectin.is_empty()
            && self.on_access.is_empty()
            && self.subs.iter().all(EntityLoad::is_plain)
    }

    /// The plan of an object of class `mapper` this plan's rows returned: its own, or the
    /// one of its class among the union's (`subs`).
    pub fn for_class(&self, mapper: &Mapper) -> &EntityLoad {
        self.subs
            .iter()
            .find(|s| s.mapper.id == mapper.id)
            .unwrap_or(self)
    }

    /// Whether rows repeat a parent (a joined collection at any depth), so a 2.0-style
    /// result must be uniqued.
    pub fn multiplies_rows(&self) -> bool {
        self.joined
            .iter()
            .any(|j| j.rel.uselist || j.child.multiplies_rows())
            || self.subs.iter().any(EntityLoad::multiplies_rows)
    }

    /// The plan of the entity `mapper` reached by `path`, under `options`.
    pub fn build(mapper: &Rc<Mapper>, path: &RelPath, options: &[LoaderOption]) -> EntityLoad {
        let mut plan = EntityLoad::build_one(mapper, path, options);
        for sub in mapper.union_subclasses() {
            let own = union_options(mapper, &sub, path, options);
            plan.subs.push(EntityLoad::build_one(&sub, path, &own));
        }
        plan
    }

    fn build_one(mapper: &Rc<Mapper>, path: &RelPath, options: &[LoaderOption]) -> EntityLoad {
        let mut plan = EntityLoad {
            mapper: mapper.clone(),
            attrs: column_plan(mapper, path, options),
            joined: Vec::new(),
            selectin: Vec::new(),
            on_access: Vec::new(),
            subs: Vec::new(),
        };
        let rels = mapper.relationships.borrow().clone();
        for rel in rels {
            if rel.lazy.never_loads() {
                continue; // never filled (eager options naming it were refused)
            }
            let mut sub = path.clone();
            sub.push(rel.clone());
            let mut chosen: Option<Lazy> = None;
            let mut recursion: Option<i32> = None;
            let mut eager_user: Option<Option<Rc<Derived>>> = None;
            for o in options {
                match o {
                    LoaderOption::Relationship {
                        path: p,
                        lazy,
                        recursion_depth,
                    } if same_path(p, &sub) => {
                        chosen = Some(*lazy);
                        recursion = *recursion_depth;
                        eager_user = None;
                    }
                    LoaderOption::ContainsEager { path: p, alias } if same_path(p, &sub) => {
                        chosen = Some(Lazy::Joined);
                        eager_user = Some(alias.clone());
                    }
                    _ => {}
                }
            }
            if chosen.is_none() {
                // a wildcard at this depth: rooted at this path, or at any root entity
                chosen = options.iter().rev().find_map(|o| match o {
                    LoaderOption::Wildcard { prefix, lazy }
                        if same_path(prefix, path)
                            && (!prefix.is_empty()
                                || o.root().is_none_or(|m| Rc::ptr_eq(&m, mapper))) =>
                    {
                        Some(*lazy)
                    }
                    _ => None,
                });
            }
            let lazy = match chosen {
                Some(l) => l,
                // an eager default does not recurse through its own relationship
                // (join_depth levels of a self-referential one: one by default)
                None if matches!(rel.lazy, Lazy::Joined | Lazy::Selectin)
                    && path.iter().filter(|r| Rc::ptr_eq(r, &rel)).count()
                        >= rel.join_depth.unwrap_or(1) as usize =>
                {
                    Lazy::Select
                }
                None => rel.lazy,
            };
            match lazy {
                Lazy::Joined => plan.joined.push(JoinedLoad {
                    child: EntityLoad::build(&rel.target(), &sub, options),
                    rel,
                    user_defined: eager_user,
                    start: Default::default(),
                    poly: Default::default(),
                }),
                Lazy::Selectin => {
                    let child = EntityLoad::build(&rel.target(), &sub, options);
                    plan.selectin.push((rel, child, recursion));
                }
                l => {
                    let nested: Vec<LoaderOption> =
                        options.iter().filter_map(|o| o.rebased(&sub)).collect();
                    if l != rel.lazy || !nested.is_empty() {
                        let nested = (!nested.is_empty()).then(|| Rc::new(nested));
                        plan.on_access.push((rel.index, l, nested));
                    }
                }
            }
        }
        // joined and selectin loads need the parent's joining columns in the row
        if let Some(attrs) = &plan.attrs {
            let mut a = attrs.to_vec();
            let rels = plan
                .joined
                .iter()
                .map(|j| &j.rel)
                .chain(plan.selectin.iter().map(|(r, ..)| r));
            for rel in rels {
                a.extend(rel.local.iter().filter(|l| !attrs.contains(l)));
            }
            a.sort_unstable();
            a.dedup();
            plan.attrs = Some(a.into());
        }
        plan
    }

    /// Whether a selectin load happens anywhere under this entity.
    pub fn has_selectin(&self) -> bool {
        !self.selectin.is_empty()
            || self.joined.iter().any(|j| j.child.has_selectin())
            || self.subs.iter().any(EntityLoad::has_selectin)
    }
}

/// The options of a union-read entity `base` at `path` as they apply to the rows of its
/// concrete class `sub`: a `selectinload` of `base`'s relationship also loads `sub`'s
/// relationship of the same key (SQLAlchemy's selectin loader runs per class of the rows);
/// the other options stay as they are (they name `base`'s relationships, so only
/// wildcards reach `sub`'s).
fn union_options(
    base: &Mapper,
    sub: &Rc<Mapper>,
    path: &RelPath,
    options: &[LoaderOption],
) -> Vec<LoaderOption> {
    let mut out = options.to_vec();
    for o in options {
        if let LoaderOption::Relationship {
            path: p,
            lazy: Lazy::Selectin,
            recursion_depth,
        } = o
        {
            if p.len() <= path.len() || !same_path(&p[..path.len()], path) {
                continue;
            }
            let r = &p[path.len()];
            if r.parent().id != base.id {
                continue;
            }
            let own = sub
                .relationships
                .borrow()
                .iter()
                .find(|x| x.key == r.key)
                .cloned();
            if let Some(own) = own {
                let mut np = path.clone();
                np.push(own);
                np.extend(p[path.len() + 1..].iter().cloned());
                out.push(LoaderOption::Relationship {
                    path: np,
                    lazy: Lazy::Selectin,
                    recursion_depth: *recursion_depth,
                });
            }
        }
    }
    out
}

/// The attributes that load for `mapper` at `path` under the column options, in order.
fn column_plan(
    mapper: &Rc<Mapper>,
    path: &RelPath,
    options: &[LoaderOption],
) -> Option<Rc<[usize]>> {
    let mut set: Option<Vec<bool>> = None;
    // load_only first: an explicit defer / undefer of a column wins over it, in any order
    let load_only_first = options
        .iter()
        .filter(|o| {
            matches!(
                o,
                LoaderOption::Columns {
                    option: ColumnOption::LoadOnly(_),
                    ..
                }
            )
        })
        .chain(options.iter().filter(|o| {
            !matches!(
                o,
                LoaderOption::Columns {
                    option: ColumnOption::LoadOnly(_),
                    ..
                }
            )
        }));
    for o in load_only_first {
        let LoaderOption::Columns {
            path: p,
            mapper: m,
            option,
        } = o
        else {
            continue;
        };
        if !Rc::ptr_eq(m, mapper) || !same_path(p, path) {
            continue;
        }
        let s = set.get_or_insert_with(|| vec![true; mapper.attrs.len()]);
        // the discriminator of a hierarchy always loads, as the key does
        let on = mapper.inherit.as_ref().and_then(|i| i.on);
        match option {
            ColumnOption::LoadOnly(keep) => {
                for (i, v) in s.iter_mut().enumerate() {
                    *v = keep.contains(&i) || mapper.pk.contains(&i) || on == Some(i);
                }
            }
            ColumnOption::Defer(i) => s[*i] = mapper.pk.contains(i) || on == Some(*i),
            ColumnOption::Undefer(i) => s[*i] = true,
        }
    }
    let s = set?;
    if s.iter().all(|v| *v) {
        return None;
    }
    Some(
        s.iter()
            .enumerate()
            .filter(|(_, v)| **v)
            .map(|(i, _)| i)
            .collect(),
    )
}
