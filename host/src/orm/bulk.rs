//! ORM-enabled bulk UPDATE and DELETE (`session:execute(orm.update(User):where(...))`):
//! one statement for every matching row, with the objects already in the session kept in
//! step, as SQLAlchemy's `synchronize_session` does.
//!
//! `"auto"` (the default) and `"evaluate"` evaluate the WHERE criteria in memory against
//! each object of the identity map (`bulk_evaluate.rs`, SQLAlchemy's evaluator): the objects
//! whose loaded values satisfy them are the ones taken as matched, whatever their rows hold;
//! an object expired as a whole is left out, one with a column of the criteria expired is
//! matched (an UPDATE sets what it has loaded, a DELETE expires it). Criteria the evaluator
//! cannot read make `"evaluate"` fail before the statement runs and `"auto"` fetch instead.
//! `"fetch"` selects the primary keys of the rows the statement will match with the same
//! WHERE clause, in the same transaction, before it runs. Matched objects then take the new
//! values worked out in memory (what cannot be worked out expires and reloads on access),
//! or, for DELETE, leave the identity map as deleted objects (a rollback restores them);
//! `false` leaves the session alone.

use std::rc::Rc;

use super::bulk_evaluate::{criterion, truthy, unevaluable, Evaluated};
use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::mapper::Mapper;
use super::query::{OrmSelect, Rows};
use super::session::SessionCore;
use crate::error::{Error, Result};
use crate::sql::{Delete, Expr, Select, Statement, Update};
use crate::value::Value;

/// How objects in the session follow a bulk statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronize {
    /// Select the matching keys first and bring those objects in step.
    Fetch,
    /// Evaluate the criteria against the objects in memory; criteria that cannot be
    /// evaluated are an error.
    Evaluate,
    /// `Evaluate`, or `Fetch` when the criteria cannot be evaluated (SQLAlchemy's default).
    Auto,
    /// Leave the session's objects alone (`synchronize_session = false`).
    None,
}

impl SessionCore {
    /// The autoflush before an UPDATE or DELETE: an ORM-enabled one (of a mapped class, or
    /// of a plain Table with a mapped attribute in its WHERE) flushes, a Core one does not,
    /// as SQLAlchemy's session.
    pub(crate) fn autoflush_before_dml(&self, mapper: &Mapper, criteria: &[Expr]) -> Result<()> {
        if !mapper.table_only || criteria.iter().any(Expr::is_orm_enabled) {
            self.autoflush()?;
        }
        Ok(())
    }

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
        let sync = evaluation(mapper, "update", &where_, sync)?;
        // a single-table subclass: its identities filter the rows
        let criteria = where_;
        let mut where_ = criteria.clone();
        where_.extend(mapper.criterion(&|i| Expr::column(&mapper.table, i)));
        self.autoflush_before_dml(mapper, &criteria)?;
        let _route = self.route_to(Some(mapper));
        let attrs: Vec<usize> = values.iter().map(|(i, _)| *i).collect();
        // the keys a fetch selects before the statement; an evaluation reads the objects
        // after it, as SQLAlchemy (the statement has run when Python refuses a comparison)
        let keys = if sync == Synchronize::Evaluate {
            None
        } else {
            Some(self.matching_keys(mapper, &where_, sync)?)
        };
        let find = |keys: &Option<Vec<IdentityKey>>| -> Result<Vec<Rc<Instance>>> {
            Ok(match keys {
                None => self
                    .evaluate_matches(mapper, &criteria)?
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect(),
                Some(keys) => {
                    let map = self.identity.borrow();
                    keys.iter().filter_map(|k| map.get(k).cloned()).collect()
                }
            })
        };
        // with RETURNING, expired first, so that the rows returned fill the new values in
        let early = match returning {
            Some(_) => Some(find(&keys)?),
            None => None,
        };
        for inst in early.iter().flatten() {
            inst.expire(Some(&attrs));
        }
        let mut up = Update::new(&mapper.table);
        up.where_ = where_;
        if let Some(r) = returning {
            up.returning = r.select.columns.clone();
        }
        up.values = values.clone();
        let out = self.run_statement(&Statement::Update(up), returning)?;
        let matched = match early {
            Some(m) => m,
            None => find(&keys)?,
        };
        // the new values worked out in memory from the objects' values
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
        // a loaded attribute not changed since the flush takes the worked-out value (as the
        // row's, no change recorded); a changed one, or one whose value cannot be worked
        // out, expires; an unloaded one stays so
        for (inst, vals) in matched.iter().zip(computed) {
            let mut expire = Vec::new();
            {
                let mut st = inst.state_mut();
                // SQLAlchemy commits the synchronized attributes, which resets the object's
                // expired flag whatever it loaded
                st.set_expired_flag_reset(true);
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
        let sync = evaluation(mapper, "delete", &where_, sync)?;
        // a single-table subclass: its identities filter the rows
        let criteria = where_;
        let mut where_ = criteria.clone();
        where_.extend(mapper.criterion(&|i| Expr::column(&mapper.table, i)));
        self.autoflush_before_dml(mapper, &criteria)?;
        let _route = self.route_to(Some(mapper));
        // a fetch selects the keys before the statement, an evaluation reads the objects
        // after it
        let mut keys = if sync == Synchronize::Evaluate {
            Vec::new()
        } else {
            self.matching_keys(mapper, &where_, sync)?
        };
        let mut del = Delete::new(&mapper.table);
        del.where_ = where_;
        if let Some(r) = returning {
            del.returning = r.select.columns.clone();
        }
        let out = self.run_statement(&Statement::Delete(del), returning)?;
        // SQLAlchemy's evaluation of the criteria in memory: an object with a column of the
        // criteria expired is neither matched nor skipped but expired as a whole, whatever
        // its row
        let mut partial: Vec<Rc<Instance>> = Vec::new();
        if sync == Synchronize::Evaluate {
            for (inst, expired) in self.evaluate_matches(mapper, &criteria)? {
                if expired {
                    partial.push(inst);
                } else {
                    keys.extend(inst.state().key.clone());
                }
            }
        }
        // entities returned by the DELETE are gone from the database too
        if let Some(rows) = &out.rows {
            for item in &rows.items {
                if let super::query::Item::Instance(i) = item {
                    if Rc::ptr_eq(&i.mapper, mapper) && !partial.iter().any(|p| Rc::ptr_eq(p, i)) {
                        keys.extend(i.state().key.clone());
                    }
                }
            }
        }
        for inst in &partial {
            inst.expire_relationships();
            inst.expire(None);
            inst.state_mut().set_queued_modified(false);
            self.modified.borrow_mut().retain(|m| !Rc::ptr_eq(m, inst));
        }
        for k in &keys {
            let inst = self.identity.borrow_mut().remove(k);
            if let Some(inst) = inst {
                {
                    let mut st = inst.state_mut();
                    st.status = Status::Deleted;
                    st.set_changed_while_deleted(false);
                    st.set_was_deleted(true);
                    // no longer marked for the next flush (SQLAlchemy's
                    // `_remove_newly_deleted` takes it out of the session's deletions)
                    st.set_marked_deleted(false);
                }
                self.deleted.borrow_mut().retain(|d| !Rc::ptr_eq(d, &inst));
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
        Ok(keys)
    }

    /// The objects of the identity map (of `mapper` or inheriting from it, not expired as a
    /// whole) that `criteria` match when evaluated in memory, each with whether it matched
    /// only because a column the criteria read is expired (SQLAlchemy's `_EXPIRED_OBJECT`).
    fn evaluate_matches(
        &self,
        mapper: &Rc<Mapper>,
        criteria: &[Expr],
    ) -> Result<Vec<(Rc<Instance>, bool)>> {
        let candidates: Vec<Rc<Instance>> = self
            .identity
            .borrow()
            .values()
            .filter(|i| {
                let st = i.state();
                // expired as a whole (SQLAlchemy's `state.expired`): its key expired with the
                // rest and no load since; an attribute set after the expiry does not count
                let expired =
                    !st.expired_flag_reset() && i.mapper.pk.iter().any(|&k| !st.loaded.contains(k));
                // (a deleted one `take_key_again` put there too, as SQLAlchemy
                // evaluates every state of its identity map)
                i.mapper.isa(mapper) && !expired
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        for inst in candidates {
            let mut expired = false;
            let mut holds = true;
            for c in criteria {
                match criterion(c, &inst)? {
                    Evaluated::Expired => {
                        expired = true;
                        break;
                    }
                    Evaluated::Value(v) if !truthy(&v) => {
                        holds = false;
                        break;
                    }
                    Evaluated::Value(_) => {}
                }
            }
            if expired || holds {
                out.push((inst, expired));
            }
        }
        Ok(out)
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

/// The synchronization a bulk statement does: `Evaluate` when its criteria can be evaluated
/// in memory; otherwise `Auto` fetches and `Evaluate` is refused before anything runs, as
/// SQLAlchemy's "Could not evaluate current criteria in Python".
fn evaluation(
    mapper: &Mapper,
    verb: &str,
    criteria: &[Expr],
    sync: Synchronize,
) -> Result<Synchronize> {
    if !matches!(sync, Synchronize::Evaluate | Synchronize::Auto) {
        return Ok(sync);
    }
    match criteria.iter().find_map(|c| unevaluable(c, mapper)) {
        None => Ok(Synchronize::Evaluate),
        Some(_) if sync == Synchronize::Auto => Ok(Synchronize::Fetch),
        Some(why) => Err(Error::invalid(format!(
            "orm.{verb}({}): could not evaluate the criteria in Python: {why}; pass synchronize_session = \"fetch\" or false",
            mapper.class_name
        ))),
    }
}

/// What a bulk statement did: the rows it matched and, with RETURNING, the rows returned.
pub struct BulkOutcome {
    pub rowcount: usize,
    pub rows: Option<Rows>,
}
