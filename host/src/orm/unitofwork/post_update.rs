//! `post_update` relationships (SQLAlchemy's): foreign keys written by an UPDATE after the
//! rows are inserted, and set to NULL before they are deleted, so rows that point at each
//! other need no order.

use std::rc::Rc;

use super::{value_after, InsertOutcome, Inserted, LazyConn, Undo};
use crate::error::Result;
use crate::orm::dependency::Plan;
use crate::orm::instance::{Instance, Status};
use crate::sql::{compile, Expr, Statement, Update};
use crate::value::Value;

/// Writes the foreign keys of `post_update` relationships once every row is inserted: one
/// UPDATE of the key columns per object, by primary key.
pub(super) fn post_update(
    conn: &LazyConn,
    plan: &Plan,
    inserted: &[InsertOutcome],
    index: &Inserted,
    undo: &mut Undo,
) -> Result<()> {
    for rule in &plan.post_rules {
        let child = &rule.child;
        if child.state().marked_deleted() {
            continue;
        }
        let mut values = Vec::with_capacity(rule.child_cols.len());
        for n in 0..rule.child_cols.len() {
            values.push(match &rule.parent {
                None => Value::Null,
                Some((p, cols)) => value_after(p, cols[n], inserted, index)?
                    .ok_or_else(|| crate::invalid!("{} was not inserted", p.describe()))?,
            });
        }
        let pk: Vec<Value> = child
            .mapper
            .pk
            .iter()
            .map(|&i| {
                value_after(child, i, inserted, index)?
                    .ok_or_else(|| crate::invalid!("{} was not inserted", child.describe()))
            })
            .collect::<Result<_>>()?;
        let table = &child.mapper.table;
        let mut u = Update::new(table);
        let n = rule.child_cols.len();
        u.values = rule
            .child_cols
            .iter()
            .enumerate()
            .map(|(k, &c)| (c, Expr::Slot(k)))
            .collect();
        u.where_ = child.mapper.pk_condition(n);
        let conn = conn.get()?;
        let c = compile(&Statement::Update(u), conn.engine().dialect())?;
        let mut params = values.clone();
        params.extend(pk);
        conn.execute(&c.sql, &c.bind(&params, &|_| None)?)?;
        // the object holds what the row holds, with no change left to flush
        let mut st = child.state_mut();
        for (&c, v) in rule.child_cols.iter().zip(values) {
            let had = st.committed.iter().any(|(a, _)| *a == c);
            undo.fks.push((
                child.clone(),
                c,
                st.values[c].clone(),
                st.loaded.contains(c),
                had,
                false,
            ));
            st.values[c] = v;
            st.loaded.insert(c);
        }
    }
    Ok(())
}

/// Before rows are deleted: the `post_update` foreign keys of the deleted rows are set to
/// NULL, so rows that point at each other can go in any order.
pub(super) fn unlink_post_updated(conn: &LazyConn, deleted: &[Rc<Instance>]) -> Result<()> {
    // per model: the many-to-one keys a post_update relationship (either side) writes, one
    // prepared UPDATE each, run for the model's deleted rows
    let mut done: Vec<u32> = Vec::new();
    for inst in deleted {
        let mapper = &inst.mapper;
        if done.contains(&mapper.id) {
            continue;
        }
        done.push(mapper.id);
        let rels: Vec<Rc<crate::orm::relationships::Relationship>> = mapper
            .relationships
            .borrow()
            .iter()
            .filter(|r| {
                r.direction == crate::orm::relationships::Direction::ManyToOne
                    && (r.post_update || r.reverse().is_some_and(|b| b.post_update))
            })
            .cloned()
            .collect();
        if rels.is_empty() {
            continue;
        }
        let keys: Vec<Vec<Value>> = deleted
            .iter()
            .filter(|d| d.mapper.id == mapper.id && d.status() == Status::Persistent)
            .filter_map(|d| d.state().key.as_ref().map(|k| k.values()))
            .collect();
        if keys.is_empty() {
            continue;
        }
        for rel in rels {
            let mut u = Update::new(&mapper.table);
            u.values = rel.local.iter().map(|&c| (c, Expr::Null)).collect();
            u.where_ = mapper.pk_condition(0);
            let conn = conn.get()?;
            let c = compile(&Statement::Update(u), conn.engine().dialect())?;
            conn.execute_many(&c.sql, &c.bind_rows(&keys)?, |_, _, _| Ok(()))?;
        }
    }
    Ok(())
}
