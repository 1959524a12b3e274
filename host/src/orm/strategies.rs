//! Loader strategies for relationships: the lazy `"select"` load of one instance's related
//! objects (one SELECT, compiled once per relationship and dialect, by the identity map
//! first for a many-to-one), and what `"raise"` and `"noload"` do instead.

use std::rc::Rc;

use super::collections::{Collection, RelState, ScalarRef};
use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::query::{Item, OrmSelect, ResultColumn, SelectItem};
use super::relationships::{Direction, Lazy, Relationship};
use super::session::SessionCore;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::{compile, BinOp, Compiled, Expr, FromItem, Join, Statement};
use crate::value::Value;

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

impl SessionCore {
    /// Loads relationship `rel` of `inst` (lazy `"select"`), or says why it cannot be.
    pub fn load_relationship(&self, inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        let empty = || {
            if rel.uselist {
                RelState::Collection(Collection::default())
            } else {
                RelState::Scalar(ScalarRef::default())
            }
        };
        match rel.lazy {
            Lazy::NoLoad => {
                inst.with_rel(rel.index, |s| *s = empty());
                return Ok(());
            }
            Lazy::Raise => {
                return Err(Error::new(
                    ErrorKind::InvalidRequestError,
                    format!("'{}' is not available due to lazy='raise'", rel.path()),
                ))
            }
            _ => {}
        }
        // the values of the parent's joining columns
        let cols: &[usize] = &rel.local;
        for &c in cols {
            SessionCore::ensure_loaded(inst, c)?;
        }
        let values: Vec<Value> = {
            let st = inst.state();
            cols.iter().map(|&c| st.values[c].clone()).collect()
        };
        if values.iter().any(Value::is_null) {
            inst.with_rel(rel.index, |s| *s = empty());
            return Ok(());
        }
        let target = rel.target();
        // a many-to-one to the target's primary key: the identity map first
        if rel.direction == Direction::ManyToOne && rel.remote == target.pk {
            if let Some(k) = IdentityKey::new(target.id, &values) {
                if let Some(found) = self.find(&k) {
                    let gone = {
                        let st = found.state();
                        st.marked_deleted || st.status == Status::Deleted
                    };
                    if !gone {
                        inst.with_rel(rel.index, |s| {
                            *s = RelState::Scalar(ScalarRef {
                                value: Some(found.clone()),
                                changed: false,
                            })
                        });
                        return Ok(());
                    }
                }
            }
        }
        self.autoflush()?;
        let conn = self.connection()?;
        let (c, columns) = self.lazy_sql(rel, conn.engine().dialect())?;
        let params = c.bind(&values, &|_| None)?;
        let rows = self.run_select(&conn, &c.sql, &params, &columns)?;
        let found: Vec<Rc<Instance>> = rows
            .items
            .into_iter()
            .filter_map(|i| match i {
                Item::Instance(i) => Some(i),
                _ => None,
            })
            .collect();
        inst.with_rel(rel.index, |s| {
            *s = if rel.uselist {
                RelState::Collection(Collection {
                    items: found,
                    ..Default::default()
                })
            } else {
                RelState::Scalar(ScalarRef {
                    value: found.into_iter().next(),
                    changed: false,
                })
            }
        });
        Ok(())
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

    /// Loads a relationship on access: through the session of a persistent object; a
    /// transient or pending object has nothing to load; a detached one cannot.
    pub fn load_on_access(inst: &Rc<Instance>, rel: &Rc<Relationship>) -> Result<()> {
        match inst.status() {
            Status::Transient | Status::Pending => {
                inst.with_rel(rel.index, |s| {
                    if matches!(s, RelState::Unloaded) {
                        *s = if rel.uselist {
                            RelState::Collection(Collection::default())
                        } else {
                            RelState::Scalar(ScalarRef::default())
                        }
                    }
                });
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
