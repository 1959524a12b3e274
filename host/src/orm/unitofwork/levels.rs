//! The order in which a flush writes its tables, as SQLAlchemy's unit of work sorts its
//! mappers: a dependency order of the tables (foreign keys; `post_update` edges left out),
//! run in levels, a table's depth one more than that of the deepest earlier table it
//! references, and within a level by class name; a concrete hierarchy's tables at one
//! depth, saved together.

use std::rc::Rc;

use crate::orm::relationships::Direction;
use crate::orm::Mapper;
use crate::schema::Table;

/// The tables (in a dependency order) in the order of SQLAlchemy's unit of work: its
/// topological sort runs in levels (a mapper's saves one level after the processing of the
/// relationships to its parents, two after the parents' saves), and within a level by sort
/// key, the mapper's class name. Tables that reference each other keep the given order.
pub(super) fn in_levels(
    order: Vec<Rc<Table>>,
    mappers: &[Rc<Mapper>],
    skip: &[(u32, String)],
) -> Vec<Rc<Table>> {
    if order.len() < 2 {
        return order;
    }
    let mapper = |t: &Table| mappers.iter().find(|m| m.table.id == t.id);
    let concrete: Vec<Option<(String, usize)>> = order
        .iter()
        .map(|t| mapper(t).and_then(|m| m.concrete_sort_key()))
        .collect();
    let depth = concrete_depths(table_depths(&order, skip), &concrete);
    let mut keyed: Vec<(usize, String, usize, Rc<Table>)> = order
        .into_iter()
        .zip(depth)
        .zip(concrete)
        .map(|((t, d), c)| match c {
            Some((root, pos)) => (d, root, pos, t),
            None => (
                d,
                mapper(&t).map(|m| m.class_name.clone()).unwrap_or_default(),
                0,
                t,
            ),
        })
        .collect();
    // stable: tables of one depth and class name keep their order
    keyed.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    keyed.into_iter().map(|(_, _, _, t)| t).collect()
}

/// A concrete hierarchy's tables are saved together, as SQLAlchemy's one save of its base
/// mapper: each at the depth of the hierarchy's deepest table (`concrete`: per table, the
/// hierarchy's base class name and the class's place, as `Mapper::concrete_sort_key`).
fn concrete_depths(mut depth: Vec<usize>, concrete: &[Option<(String, usize)>]) -> Vec<usize> {
    if concrete.iter().all(Option::is_none) {
        return depth;
    }
    let depths = depth.clone();
    for (i, c) in concrete.iter().enumerate() {
        if let Some((root, _)) = c {
            depth[i] = concrete
                .iter()
                .zip(&depths)
                .filter(|(o, _)| o.as_ref().is_some_and(|(r, _)| r == root))
                .map(|(_, &d)| d)
                .max()
                .unwrap_or(depths[i]);
        }
    }
    depth
}

/// The tables' depths of a flush's table order (`table_depths`, a concrete hierarchy's
/// tables at one depth).
pub(super) fn flush_depths(
    order: &[Rc<Table>],
    mappers: &[Rc<Mapper>],
    skip: &[(u32, String)],
) -> Vec<usize> {
    let concrete: Vec<Option<(String, usize)>> = order
        .iter()
        .map(|t| {
            mappers
                .iter()
                .find(|m| m.table.id == t.id)
                .and_then(|m| m.concrete_sort_key())
        })
        .collect();
    concrete_depths(table_depths(order, skip), &concrete)
}

/// Each table's depth in a dependency order: one more than the deepest earlier table it
/// references (not itself, not through a `post_update` relationship).
fn table_depths(order: &[Rc<Table>], skip: &[(u32, String)]) -> Vec<usize> {
    let mut depth: Vec<usize> = Vec::with_capacity(order.len());
    for (n, t) in order.iter().enumerate() {
        let refs = t.referenced_tables();
        let d = order[..n]
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.id != t.id
                    && refs.iter().any(|x| *x == r.name)
                    && !skip.iter().any(|(id, name)| *id == t.id && *name == r.name)
            })
            .map(|(k, _)| depth[k] + 1)
            .max()
            .unwrap_or(0);
        depth.push(d);
    }
    depth
}

/// The foreign-key edges of `post_update` relationships (table holding the key, table it
/// references), left out of the table order: those keys are written after the INSERTs.
pub(super) fn post_update_edges(mappers: &[Rc<Mapper>]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for m in mappers {
        for rel in m.relationships.borrow().iter().filter(|r| r.post_update) {
            let (holder, referenced) = match rel.direction {
                Direction::ManyToOne => (rel.parent(), rel.target()),
                Direction::OneToMany => (rel.target(), rel.parent()),
                Direction::ManyToMany => continue,
            };
            out.push((holder.table.id, referenced.table.name.clone()));
        }
    }
    out
}
