//! ORM-enabled bulk UPDATE and DELETE (`session:execute(orm.update(User):where(...))`):
//! one statement for every matching row, with the objects already in the session kept in
//! step, as SQLAlchemy's `synchronize_session` does.
//!
//! lualchemy synchronizes by fetching: before the statement runs, the primary keys of the
//! rows it will match are selected with the same WHERE clause, in the same transaction.
//! Objects of those keys in the identity map then take the new values worked out in memory
//! (`bulk_evaluate.rs`, as SQLAlchemy's evaluator; what cannot be worked out expires and
//! reloads on access), or, for DELETE, leave the identity map as deleted objects (a
//! rollback restores them). `"auto"`, `"evaluate"` and `"fetch"` all
//! take this path, which is always exact; `"auto"` / `"evaluate"` (the default) leave out
//! an object expired as a whole, as SQLAlchemy's evaluation skips it; `false` skips it all.

use std::rc::Rc;

use super::identity::IdentityKey;
use super::instance::Status;
use super::mapper::Mapper;
use super::query::{OrmSelect, Rows};
use super::session::SessionCore;
use crate::error::Result;
use crate::sql::{Delete, Expr, Select, Statement, Update};
use crate::value::Value;

/// How objects in the session follow a bulk statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronize {
    /// Select the matching keys first and bring those objects in step.
    Fetch,
    /// As `Fetch`, but an object of the session that is expired as a whole is left alone,
    /// as SQLAlchemy's `"evaluate"` (and `"auto"`) skip expired objects (it has nothing
    /// loaded to evaluate the criteria against).
    Evaluate,
    /// Leave the session's objects alone (`synchronize_session = false`).
    None,
}

impl SessionCore {
    /// `UPDATE table SET values WHERE where_ [RETURNING ...]`; returns the number of rows
    /// matched and the returned rows. Objects of returned entities are refreshed with the
    /// row's new values.
    pub fn bulk_update(
        &self,
        mapper: &Rc<Mapper>,
        values: Vec<(usize, Expr)>,
        where_: Vec<Expr>,
        sync: Synchronize,
        returning: Option<&OrmSelect>,
    ) -> Result<BulkOutcome> {
        // a single-table subclass: its identities filter the rows
        let mut where_ = where_;
        where_.extend(mapper.criterion(&|i| Expr::column(&mapper.table, i)));
        self.autoflush()?;
        let _route = self.route_to(Some(mapper));
        let keys = self.matching_keys(mapper, &where_, sync)?;
        let attrs: Vec<usize> = values.iter().map(|(i, _)| *i).collect();
        let matched: Vec<Rc<super::instance::Instance>> = {
            let map = self.identity.borrow();
            keys.iter().filter_map(|k| map.get(k).cloned()).collect()
        };
        if returning.is_some() {
            // expired first, so that RETURNING rows fill the new values in
            for inst in &matched {
                inst.expire(Some(&attrs));
            }
        }
        let mut up = Update::new(&mapper.table);
        up.where_ = where_;
        if let Some(r) = returning {
            up.returning = r.select.columns.clone();
        }
        // as SQLAlchemy: the new values worked out in memory before the statement runs
        let computed: Vec<Vec<(usize, Option<Value>)>> = if returning.is_none() {
            matched
                .iter()
                .map(|inst| {
                    values
                        .iter()
                        .map(|(i, e)| (*i, super::bulk_evaluate::evaluate(e, inst)))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        up.values = values;
        let out = self.run_statement(&Statement::Update(up), returning)?;
        // a loaded attribute not changed since the flush takes the worked-out value (as the
        // row's, no change recorded); a changed one, or one whose value cannot be worked
        // out, expires; an unloaded one stays so
        for (inst, vals) in matched.iter().zip(computed) {
            let mut expire = Vec::new();
            {
                let mut st = inst.state_mut();
                // SQLAlchemy commits the synchronized attributes, which resets the object's
                // expired flag whatever it loaded
                st.expired_flag_reset = true;
                for (i, v) in vals {
                    if !st.loaded.contains(i) {
                        continue;
                    }
                    let changed = st.committed.iter().any(|(a, _)| *a == i);
                    match v {
                        Some(v) if !changed => st.values[i] = v,
                        _ => expire.push(i),
                    }
                }
            }
            if !expire.is_empty() {
                inst.expire(Some(&expire));
            }
            if let Some(f) = self.frames.borrow_mut().last_mut() {
                f.updated.push(inst.clone());
            }
        }
        Ok(out)
    }

    /// `DELETE FROM table WHERE where_ [RETURNING ...]`; returns the number of rows matched
    /// and the returned rows.
    pub fn bulk_delete(
        &self,
        mapper: &Rc<Mapper>,
        where_: Vec<Expr>,
        sync: Synchronize,
        returning: Option<&OrmSelect>,
    ) -> Result<BulkOutcome> {
        // a single-table subclass: its identities filter the rows
        let mut where_ = where_;
        where_.extend(mapper.criterion(&|i| Expr::column(&mapper.table, i)));
        self.autoflush()?;
        let _route = self.route_to(Some(mapper));
        let mut keys = self.matching_keys(mapper, &where_, sync)?;
        // SQLAlchemy's evaluation of the criteria in memory: an object (not expired as a
        // whole) with a column of the criteria expired is neither matched nor skipped but
        // expired as a whole, whatever its row
        let partial: Vec<Rc<super::instance::Instance>> = if sync == Synchronize::Evaluate {
            let mut cols = Vec::new();
            if where_
                .iter()
                .all(|e| criteria_columns(e, &mapper.table, &mut cols))
                && !cols.is_empty()
            {
                self.identity
                    .borrow()
                    .values()
                    .filter(|i| {
                        let st = i.state();
                        Rc::ptr_eq(&i.mapper, mapper)
                            && st.status == Status::Persistent
                            && (0..i.mapper.attrs.len()).any(|a| st.loaded.contains(a))
                            && cols.iter().any(|&c| !st.loaded.contains(c))
                    })
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        if !partial.is_empty() {
            keys.retain(|k| !partial.iter().any(|i| i.state().key.as_ref() == Some(k)));
        }
        let mut del = Delete::new(&mapper.table);
        del.where_ = where_;
        if let Some(r) = returning {
            del.returning = r.select.columns.clone();
        }
        let out = self.run_statement(&Statement::Delete(del), returning)?;
        // entities returned by the DELETE are gone from the database too
        if let Some(rows) = &out.rows {
            for item in &rows.items {
                if let super::query::Item::Instance(i) = item {
                    if Rc::ptr_eq(&i.mapper, mapper) {
                        keys.extend(i.state().key.clone());
                    }
                }
            }
        }
        for inst in &partial {
            inst.expire_relationships();
            inst.expire(None);
            inst.state_mut().queued_modified = false;
            self.modified.borrow_mut().retain(|m| !Rc::ptr_eq(m, inst));
        }
        for k in &keys {
            let inst = self.identity.borrow_mut().remove(k);
            if let Some(inst) = inst {
                {
                    let mut st = inst.state_mut();
                    st.status = Status::Deleted;
                    st.was_deleted = true;
                }
                if let Some(f) = self.frames.borrow_mut().last_mut() {
                    f.deleted.push(inst);
                }
            }
        }
        Ok(out)
    }

    /// The identity keys of the rows `where_` matches (none when not synchronizing).
    fn matching_keys(
        &self,
        mapper: &Rc<Mapper>,
        where_: &[Expr],
        sync: Synchronize,
    ) -> Result<Vec<IdentityKey>> {
        if sync == Synchronize::None || self.identity.borrow().is_empty() {
            return Ok(Vec::new());
        }
        let skip_expired = sync == Synchronize::Evaluate;
        let mut sel = Select::new(
            mapper
                .pk
                .iter()
                .map(|&i| Expr::column(&mapper.table, i))
                .collect(),
        );
        sel.where_ = where_.to_vec();
        let c = self.compile(&Statement::Select(sel))?;
        let params = c.bind(&[], &|_| None)?;
        let conn = self.connection()?;
        let width = mapper.pk.len();
        let mut keys = Vec::new();
        conn.query(&c.sql, &params, |row| {
            let pk: Vec<Value> = (0..width).map(|i| row.value(i)).collect::<Result<_>>()?;
            keys.extend(IdentityKey::new(mapper.ident_id, &pk));
            Ok(())
        })?;
        if skip_expired {
            let map = self.identity.borrow();
            keys.retain(|k| {
                map.get(k).is_none_or(|inst| {
                    let st = inst.state();
                    (0..inst.mapper.attrs.len()).any(|i| st.loaded.contains(i))
                })
            });
        }
        Ok(keys)
    }

    fn run_statement(
        &self,
        stmt: &Statement,
        returning: Option<&OrmSelect>,
    ) -> Result<BulkOutcome> {
        let c = self.compile(stmt)?;
        let params = c.bind(&[], &|_| None)?;
        let conn = self.connection()?;
        match returning {
            None => Ok(BulkOutcome {
                rowcount: conn.execute(&c.sql, &params)?,
                rows: None,
            }),
            Some(r) => {
                let rows = self.run_select(&conn, &c.sql, &params, &r.columns)?;
                Ok(BulkOutcome {
                    rowcount: rows.len(),
                    rows: Some(rows),
                })
            }
        }
    }
}

/// What a bulk statement did: the rows it matched and, with RETURNING, the rows returned.
pub struct BulkOutcome {
    pub rowcount: usize,
    pub rows: Option<Rows>,
}

/// The columns of `table` the criteria compare (SQLAlchemy's evaluator reads them from the
/// object); false when the criteria hold anything else it could not evaluate.
fn criteria_columns(e: &Expr, table: &crate::schema::Table, out: &mut Vec<usize>) -> bool {
    match e {
        Expr::Column(c) => {
            if c.from.is_some() || c.table.id != table.id {
                return false;
            }
            out.push(c.index);
            true
        }
        Expr::Bind(..) | Expr::Null => true,
        Expr::Grouping(x) | Expr::Unary(_, x) => criteria_columns(x, table, out),
        Expr::Binary(l, _, r) => criteria_columns(l, table, out) && criteria_columns(r, table, out),
        Expr::List(_, xs) => xs.iter().all(|x| criteria_columns(x, table, out)),
        Expr::In { expr, items, .. } => {
            criteria_columns(expr, table, out)
                && items.iter().all(|x| criteria_columns(x, table, out))
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            criteria_columns(expr, table, out)
                && criteria_columns(low, table, out)
                && criteria_columns(high, table, out)
        }
        _ => false,
    }
}
