//! The per-row ordering check of self-referential relationships: a flush whose rows of
//! one table must each be written before the other (a node pointing at a node that points
//! back, a row pointing at itself) raises `CircularDependencyError`, as SQLAlchemy's unit of
//! work does when its per-state sort of a self-referential mapper finds a cycle. Its sort
//! runs in levels and raises only when no action is left that waits for nothing: the
//! flush writes the rows the cycle does not hold up first (`Plan::blocked` names the
//! others), then fails. `post_update` relationships take no part (their keys are written by a
//! second UPDATE), nor do unloaded attributes.
//!
//! The rows are the flush's: pending, modified and deleted objects and the children whose
//! foreign keys the flush sets or clears. For each loaded self-referential attribute of a
//! row (its value and what it replaced; a collection's items and removed members) that
//! reaches another row of the flush, the edges are SQLAlchemy's:
//! - many-to-one, row saved: the referenced row is saved first (when it is saved);
//! - one-to-many, row saved: the row is saved before its members;
//! - one-to-many, row deleted: its members are written first;
//! - many-to-one, row deleted: it is deleted before a deleted referenced row.

use std::rc::Rc;

use super::collections::RelState;
use super::dependency::Plan;
use super::identity::{FxHashMap, FxHashSet};
use super::instance::{Instance, Status};
use super::relationships::{Direction, Relationship};
use super::session::SessionCore;
use crate::error::{Error, ErrorKind};

pub(crate) fn check(
    session: &SessionCore,
    plan: &Plan,
) -> Option<(Error, FxHashSet<*const Instance>)> {
    // the common flush has no self-referential mapper: one look per mapper (a flush holds
    // few mappers, interleaved or not)
    let mut seen: Vec<*const super::mapper::Mapper> = Vec::new();
    let mut any_self_ref = false;
    for list in [&session.new, &session.modified, &session.deleted] {
        for inst in list.borrow().iter() {
            let m = Rc::as_ptr(&inst.mapper);
            if !seen.contains(&m) {
                seen.push(m);
                any_self_ref |= self_refs(inst).next().is_some();
            }
        }
    }
    if !any_self_ref {
        return None;
    }
    // (instance, deleted) for every row of the flush, in a first-seen order
    let mut rows: Vec<(Rc<Instance>, bool)> = Vec::new();
    let mut index: FxHashMap<*const Instance, usize> = FxHashMap::default();
    {
        // an object an earlier flush deleted is out of the identity map, so out of
        // SQLAlchemy's flush (a key copied into it is written in memory only)
        let mut push = |inst: &Rc<Instance>, deleted: bool| {
            if !session.owns(inst) || inst.status() == Status::Deleted {
                return;
            }
            index.entry(Rc::as_ptr(inst)).or_insert_with(|| {
                rows.push((inst.clone(), deleted));
                rows.len() - 1
            });
        };
        for inst in session.deleted.borrow().iter() {
            push(inst, true);
        }
        for inst in session.new.borrow().iter() {
            push(inst, false);
        }
        for inst in session.modified.borrow().iter() {
            let st = inst.state();
            let deleted = st.marked_deleted();
            drop(st);
            push(inst, deleted);
        }
        for rule in plan.rules.iter() {
            let deleted = rule.child.state().marked_deleted();
            push(&rule.child, deleted);
        }
    }
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for (x, (inst, x_deleted)) in rows.iter().enumerate() {
        for rel in self_refs(inst) {
            for y in pending_members(inst, &rel) {
                let Some(&y) = index.get(&Rc::as_ptr(&y)) else {
                    continue;
                };
                let y_deleted = rows[y].1;
                match (rel.direction, *x_deleted) {
                    (Direction::ManyToOne, false) if !y_deleted => edges[y].push(x),
                    (Direction::OneToMany, false) => edges[x].push(y),
                    (Direction::OneToMany, true) => edges[y].push(x),
                    (Direction::ManyToOne, true) if y_deleted => edges[x].push(y),
                    _ => {}
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle
            .iter()
            .map(|&i| {
                let (inst, deleted) = &rows[i];
                format!(
                    "{} {}",
                    if *deleted { "delete" } else { "save" },
                    inst.describe()
                )
            })
            .collect();
        let rels: Vec<String> = self_refs(&rows[cycle[0]].0).map(|r| r.path()).collect();
        let e = Error::new(
            ErrorKind::CircularDependencyError,
            format!(
                "Circular dependency detected: {} must each be written before the other along {}; set post_update on the many-to-one relationship to write such keys by a second UPDATE",
                names.join(", "),
                rels.join(" / ")
            ),
        );
        return Some((e, held_up(&edges).map(|n| Rc::as_ptr(&rows[n].0)).collect()));
    }
    None
}

/// The nodes a cycle holds up: those left once every node with no predecessor left is
/// taken away, again and again (the cycles' nodes and the nodes after them).
fn held_up(edges: &[Vec<usize>]) -> impl Iterator<Item = usize> {
    let mut preds = vec![0usize; edges.len()];
    for succ in edges {
        for &s in succ {
            preds[s] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..edges.len()).filter(|&n| preds[n] == 0).collect();
    let mut taken = vec![false; edges.len()];
    while let Some(n) = ready.pop() {
        taken[n] = true;
        for &s in &edges[n] {
            preds[s] -= 1;
            if preds[s] == 0 {
                ready.push(s);
            }
        }
    }
    (0..edges.len()).filter(move |&n| !taken[n])
}

/// The writable relationships of the object's mapper that target the same mapper, with no
/// `post_update`.
fn self_refs(inst: &Instance) -> impl Iterator<Item = Rc<Relationship>> + '_ {
    let rels: Vec<Rc<Relationship>> = inst.mapper.relationships.borrow().clone();
    rels.into_iter().filter(move |r| {
        !r.viewonly
            && !r.post_update
            && matches!(r.direction, Direction::ManyToOne | Direction::OneToMany)
            && std::ptr::eq(Rc::as_ptr(&r.target()), Rc::as_ptr(&inst.mapper))
    })
}

/// What SQLAlchemy's `get_all_pending` gives without loading: a loaded reference and the
/// one it replaced, a loaded collection's members and those removed from it.
fn pending_members(inst: &Instance, rel: &Relationship) -> Vec<Rc<Instance>> {
    match inst.rel_state(rel.index) {
        RelState::Scalar(s) => {
            let mut out: Vec<Rc<Instance>> = s.value.iter().cloned().collect();
            if let Some(r) = s.replaced {
                if !out.iter().any(|v| Rc::ptr_eq(v, &r)) {
                    out.push(r);
                }
            }
            out
        }
        RelState::Collection(c) => c.items.iter().chain(c.removed.iter()).cloned().collect(),
        _ => Vec::new(),
    }
}

/// A cycle of the graph (each node's successors in `edges`), as the nodes along it, or
/// `None` when the graph is acyclic.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    // iterative depth-first search with colours: 0 unvisited, 1 on the stack, 2 done
    let mut colour = vec![0u8; edges.len()];
    let mut parent = vec![usize::MAX; edges.len()];
    for start in 0..edges.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < edges[node].len() {
                let succ = edges[node][*next];
                *next += 1;
                match colour[succ] {
                    0 => {
                        colour[succ] = 1;
                        parent[succ] = node;
                        stack.push((succ, 0));
                    }
                    1 => {
                        // back edge node -> succ: the cycle is succ .. node
                        let mut cycle = vec![node];
                        let mut n = node;
                        while n != succ {
                            n = parent[n];
                            cycle.push(n);
                        }
                        cycle.reverse();
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;

    #[test]
    fn finds_cycles_and_self_loops() {
        assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0]));
        let c = find_cycle(&[vec![1], vec![2], vec![0]]).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(find_cycle(&[vec![1, 2], vec![3], vec![3], vec![]]), None);
    }
}
