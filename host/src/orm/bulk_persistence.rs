//! Bulk persistence without the unit of work: SQLAlchemy 2.0's ORM bulk UPDATE by primary
//! key (`session:execute(orm.update(User), { { id = 1, name = "x" }, ... })`) and the
//! legacy `bulk_save_objects`, `bulk_insert_mappings` and `bulk_update_mappings`.
//!
//! Rows go to the database as executemany batches, one statement per run of consecutive
//! rows that name the same columns (their order kept). No events, no cascades, no
//! relationship handling, and objects are never attached to the session: that is the
//! point of these APIs. Each UPDATE row must match exactly one row (`StaleDataError`
//! otherwise, unless extra WHERE criteria may leave rows out). The statement form keeps
//! the identity map in step as SQLAlchemy's "evaluate" synchronization does: an object of
//! an updated key has its *loaded* attributes set to the new values (expired attributes
//! stay expired); the legacy methods leave the session's objects alone.

use crate::engine::Rows;
use std::rc::Rc;

use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::mapper::Mapper;
use super::session::SessionCore;
use super::unitofwork::stale_update as stale;
use crate::engine::Connection;
use crate::error::{Error, Result};
use crate::schema::{ColumnDefault, DefaultContext, Table};
use crate::sql::{compile, BinOp, Expr, Insert, Statement, Update};
use crate::value::Value;

/// One row of a bulk operation: (column index, value) pairs, in any order. A mapper's
/// column attributes and its table's columns share their indices.
pub type BulkRow = Vec<(usize, Value)>;

/// How a bulk UPDATE by primary key is issued.
#[derive(Clone, Debug, Default)]
pub struct UpdateByPk {
    /// Extra WHERE criteria ANDed with each row's primary key (`orm.update(M):where(...)`).
    pub where_: Vec<Expr>,
    /// SET expressions applied to every row for the columns a row does not name
    /// (`orm.update(M):values{...}`).
    pub values: Vec<(usize, Expr)>,
    /// Set the new values on the loaded attributes of the session's objects.
    pub synchronize: bool,
}

impl SessionCore {
    /// SQLAlchemy 2.0's ORM bulk UPDATE by primary key: each row holds the primary key and
    /// the columns to set. Autoflushes first. Returns the rows matched.
    pub fn update_by_primary_key(
        &self,
        mapper: &Rc<Mapper>,
        rows: &[BulkRow],
        how: &UpdateByPk,
    ) -> Result<usize> {
        self.autoflush_before_dml(mapper, &[])?;
        let _route = self.route_to(Some(mapper));
        let conn = self.connection()?;
        let matched = update_rows(&conn, mapper, rows, how)?;
        if how.synchronize {
            self.synchronize_updated(mapper, rows);
        }
        Ok(matched)
    }

    /// `session:bulk_update_mappings(Model, rows)`: as `update_by_primary_key` with no
    /// synchronization and no autoflush; a failure rolls the session's transaction back
    /// (`PendingRollbackError` until `rollback()`), as SQLAlchemy's does.
    pub fn bulk_update_mappings(&self, mapper: &Rc<Mapper>, rows: &[BulkRow]) -> Result<usize> {
        self.check_usable()?;
        super::concrete::check_writable(mapper)?;
        let _route = self.route_to(Some(mapper));
        let conn = self.connection()?;
        let done = update_rows(&conn, mapper, rows, &UpdateByPk::default());
        self.failing(&conn, done)
    }

    /// `session:bulk_insert_mappings(Model, rows)`: INSERTs of the given columns with the
    /// columns' Python-side defaults filled in. With `return_defaults`, returns each row's
    /// primary key as the database made it (`None` per row otherwise). A failure rolls the
    /// session's transaction back.
    pub fn bulk_insert_mappings(
        &self,
        mapper: &Rc<Mapper>,
        rows: Vec<BulkRow>,
        return_defaults: bool,
    ) -> Result<Vec<Option<Vec<Value>>>> {
        self.check_usable()?;
        super::concrete::check_writable(mapper)?;
        let _route = self.route_to(Some(mapper));
        let conn = self.connection()?;
        let done = with_defaults_all(mapper, rows)
            .and_then(|rows| insert_rows(&conn, mapper, &rows, return_defaults));
        self.failing(&conn, done)
    }

    /// `session:bulk_save_objects(objects)`: objects without an identity key are INSERTed
    /// (with `return_defaults`, they get their primary key and become detached objects
    /// with that identity; else they stay transient and untouched), objects with one are
    /// UPDATEd with their changed attributes (`update_changed_only`) or all loaded ones.
    /// The objects' states (dirty or not) are left as they are, and none joins the session.
    pub fn bulk_save_objects(
        &self,
        objects: &[Rc<Instance>],
        return_defaults: bool,
        update_changed_only: bool,
    ) -> Result<()> {
        self.check_usable()?;
        let _route = self.route_to(objects.first().map(|o| &*o.mapper));
        let conn = self.connection()?;
        let done = save_objects(self, objects, return_defaults, update_changed_only);
        self.failing(&conn, done)
    }

    /// A legacy bulk method's outcome: on error the transaction is rolled back as a failed
    /// flush's is.
    fn failing<T>(&self, conn: &Connection, done: Result<T>) -> Result<T> {
        if let Err(e) = &done {
            self.fail_transaction(Some(conn), e)?;
        }
        done
    }

    /// The identity map follows a bulk UPDATE by primary key: loaded attributes of the
    /// updated objects take the new values as their committed state.
    fn synchronize_updated(&self, mapper: &Rc<Mapper>, rows: &[BulkRow]) {
        let map = self.identity.borrow();
        for row in rows {
            let Some(key) =
                primary_key(mapper, row).and_then(|pk| IdentityKey::new(mapper.ident_id, &pk))
            else {
                continue;
            };
            let Some(inst) = map.get(&key) else { continue };
            let mut st = inst.state_mut();
            for (i, v) in row {
                if mapper.pk.contains(i) || !st.loaded.contains(*i) {
                    continue;
                }
                st.values[*i] = v.clone();
                st.committed.retain(|(a, _)| a != i);
            }
        }
    }
}

/// The primary key values of a row, in key order, when it names them all.
fn primary_key(mapper: &Mapper, row: &BulkRow) -> Option<Vec<Value>> {
    mapper
        .pk
        .iter()
        .map(|k| row.iter().find(|(i, _)| i == k).map(|(_, v)| v.clone()))
        .collect()
}

/// Runs of consecutive rows with the same key: (key, the rows' indices).
fn runs<K: PartialEq>(keys: impl Iterator<Item = K>) -> Vec<(K, Vec<usize>)> {
    let mut out: Vec<(K, Vec<usize>)> = Vec::new();
    for (n, k) in keys.enumerate() {
        match out.last_mut() {
            Some((last, idx)) if *last == k => idx.push(n),
            _ => out.push((k, vec![n])),
        }
    }
    out
}

/// UPDATE ... SET <row's columns> WHERE <pk> = ? [AND criteria], executemany per run of
/// rows setting the same columns. Returns the rows matched.
fn update_rows(
    conn: &Connection,
    mapper: &Rc<Mapper>,
    rows: &[BulkRow],
    how: &UpdateByPk,
) -> Result<usize> {
    let table = &mapper.table;
    let mut keyed = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(pk) = primary_key(mapper, row).filter(|pk| !pk.iter().any(Value::is_null)) else {
            let cols: Vec<String> = mapper
                .pk
                .iter()
                .map(|&i| format!("{}.{}", table.name, table.columns[i].name))
                .collect();
            return Err(Error::invalid(format!(
                "No primary key value supplied for column(s) {}; per-row ORM Bulk UPDATE by Primary Key requires that records contain primary key values ({})",
                cols.join(", "),
                mapper.class_name
            )));
        };
        let mut set: Vec<usize> = row
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| !mapper.pk.contains(i))
            .collect();
        set.sort_unstable();
        set.dedup();
        keyed.push((set, pk));
    }
    let mut matched = 0;
    for (set, idx) in runs(keyed.iter().map(|(set, _)| set.clone())) {
        // a row of only its key sets nothing: SQLAlchemy emits nothing for it
        if set.is_empty() && how.values.is_empty() {
            continue;
        }
        // the columns' onupdate defaults, as Core's UPDATE adds them: a value or a
        // function bound per row, a SQL expression rendered
        let mut onupdate: Vec<usize> = Vec::new();
        let mut up = Update::new(table);
        for (c, e) in &how.values {
            if !set.contains(c) {
                up.values.push((*c, e.clone()));
            }
        }
        for (i, col) in table.columns.iter().enumerate() {
            if set.contains(&i) || up.values.iter().any(|(c, _)| *c == i) {
                continue;
            }
            match &col.onupdate {
                Some(ColumnDefault::Sql(e)) => up.values.push((i, e.clone())),
                Some(_) => onupdate.push(i),
                None => {}
            }
        }
        let slotted: Vec<usize> = set.iter().chain(&onupdate).copied().collect();
        for (slot, &c) in slotted.iter().enumerate() {
            up.values.push((c, Expr::Slot(slot)));
        }
        up.values.sort_by_key(|(c, _)| *c);
        up.where_ = how.where_.clone();
        up.where_
            .extend(mapper.pk.iter().enumerate().map(|(n, &i)| {
                Expr::binary(
                    Expr::column(table, i),
                    BinOp::Eq,
                    Expr::Slot(slotted.len() + n),
                )
            }));
        let c = compile(&Statement::Update(up.clone()), conn.engine().dialect())?;
        let params: Vec<Vec<Value>> = idx
            .iter()
            .map(|&n| -> Result<Vec<Value>> {
                let row = &rows[n];
                let mut p: Vec<Value> = set
                    .iter()
                    .map(|c| {
                        row.iter()
                            .rev()
                            .find(|(i, _)| i == c)
                            .map(|(_, v)| v.clone())
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                for &c in &onupdate {
                    let params: Vec<(String, Value)> = set
                        .iter()
                        .zip(&p)
                        .map(|(&i, v)| (table.columns[i].name.clone(), v.clone()))
                        .collect();
                    p.push(match &table.columns[c].onupdate {
                        Some(ColumnDefault::Value(v)) => v.clone(),
                        Some(ColumnDefault::Callable(f)) => f.call(&DefaultContext {
                            table: &table.name,
                            column: &table.columns[c].name,
                            params: &params,
                        })?,
                        _ => Value::Null,
                    });
                }
                p.extend(keyed[n].1.iter().cloned());
                Ok(p)
            })
            .collect::<Result<_>>()?;
        let criteria = !how.where_.is_empty();
        conn.update_rows(&up, &c, &params, |expected, got| {
            matched += got;
            if got != expected && !criteria {
                return Err(stale(table, expected, got));
            }
            Ok(())
        })?;
    }
    Ok(matched)
}

/// A row with the Python-side defaults of the columns it does not name, in column order.
fn with_defaults(table: &Table, mut row: BulkRow) -> Result<BulkRow> {
    for (i, col) in table.columns.iter().enumerate() {
        if row.iter().any(|(c, _)| *c == i) {
            continue;
        }
        match &col.default {
            Some(ColumnDefault::Value(v)) => row.push((i, v.clone())),
            Some(ColumnDefault::Callable(f)) => {
                let params: Vec<(String, Value)> = row
                    .iter()
                    .map(|(c, v)| (table.columns[*c].name.clone(), v.clone()))
                    .collect();
                let v = f.call(&DefaultContext {
                    table: &table.name,
                    column: &col.name,
                    params: &params,
                })?;
                row.push((i, v));
            }
            _ => {}
        }
    }
    row.sort_by_key(|(c, _)| *c);
    Ok(row)
}

/// INSERTs of rows (defaults filled in, columns in order), executemany per run of rows
/// naming the same columns. With `return_defaults`, each row's primary key (given, or
/// generated by the database).
fn insert_rows(
    conn: &Connection,
    mapper: &Rc<Mapper>,
    rows: &[BulkRow],
    return_defaults: bool,
) -> Result<Vec<Option<Vec<Value>>>> {
    let table = &mapper.table;
    let mut keys: Vec<Option<Vec<Value>>> = vec![None; rows.len()];
    let shapes = rows
        .iter()
        .map(|r| r.iter().map(|(c, _)| *c).collect::<Vec<usize>>());
    for (cols, idx) in runs(shapes) {
        let mut ins = Insert::new(table);
        ins.values = cols
            .iter()
            .enumerate()
            .map(|(n, &c)| (c, Expr::Slot(n)))
            .collect();
        let c = compile(&Statement::Insert(ins.clone()), conn.engine().dialect())?;
        let values: Vec<Vec<Value>> = idx
            .iter()
            .map(|&n| rows[n].iter().map(|(_, v)| v.clone()).collect())
            .collect();
        let generated = mapper
            .autoincrement
            .filter(|a| return_defaults && !cols.contains(a));
        conn.insert_rows(&ins, &c, Rows::Vecs(&values), generated, |k, made| {
            if return_defaults {
                let row = &rows[idx[k]];
                keys[idx[k]] = Some(
                    mapper
                        .pk
                        .iter()
                        .map(|p| match (Some(*p) == generated, &made) {
                            (true, Some(v)) => v.clone(),
                            _ => row
                                .iter()
                                .find(|(c, _)| c == p)
                                .map(|(_, v)| v.clone())
                                .unwrap_or(Value::Null),
                        })
                        .collect(),
                );
            }
            Ok(())
        })?;
    }
    Ok(keys)
}

/// `bulk_save_objects`: INSERTs of the objects without a key (grouped by mapper in runs),
/// UPDATEs of those with one.
fn save_objects(
    session: &SessionCore,
    objects: &[Rc<Instance>],
    return_defaults: bool,
    update_changed_only: bool,
) -> Result<()> {
    // runs of consecutive objects of one mapper and one kind (insert or update)
    let kinds = objects
        .iter()
        .map(|o| (o.mapper.id, o.state().key.is_some()));
    for ((_, update), idx) in runs(kinds) {
        let mapper = objects[idx[0]].mapper.clone();
        let _route = session.route_to(Some(&mapper));
        let conn = &*session.connection()?;
        if update {
            let rows: Vec<BulkRow> = idx
                .iter()
                .filter_map(|&n| update_row(&objects[n], update_changed_only))
                .collect();
            update_rows(conn, &mapper, &rows, &UpdateByPk::default())?;
            continue;
        }
        let rows: Vec<BulkRow> = idx
            .iter()
            .map(|&n| {
                let st = objects[n].state();
                st.loaded
                    .iter()
                    .filter(|&i| i < mapper.attrs.len() && !st.values[i].is_null())
                    .map(|i| (i, st.values[i].clone()))
                    .collect()
            })
            .collect();
        let rows = with_defaults_all(&mapper, rows)?;
        let keys = insert_rows(conn, &mapper, &rows, return_defaults)?;
        if !return_defaults {
            continue;
        }
        // the objects get their key and become detached objects of that identity
        for ((&n, key), row) in idx.iter().zip(keys).zip(rows) {
            let Some(pk) = key else { continue };
            let inst = &objects[n];
            let mut st = inst.state_mut();
            for (i, v) in row {
                st.values[i] = v;
            }
            for (&p, v) in mapper.pk.iter().zip(&pk) {
                st.values[p] = v.clone();
            }
            st.loaded = super::attributes::AttrSet::all(mapper.attrs.len());
            st.committed.clear();
            st.key = IdentityKey::new(mapper.ident_id, &pk);
            st.status = Status::Detached;
        }
    }
    Ok(())
}

fn with_defaults_all(mapper: &Mapper, rows: Vec<BulkRow>) -> Result<Vec<BulkRow>> {
    let disc = mapper.discriminator();
    rows.into_iter()
        .map(|mut r| {
            // the class's discriminator, unless the row names it (as SQLAlchemy's bulk
            // insert of a class of a hierarchy)
            if let Some((on, v)) = disc {
                if !r.iter().any(|(c, _)| *c == on) {
                    r.push((on, v.clone()));
                }
            }
            with_defaults(&mapper.table, r)
        })
        .collect()
}

/// The UPDATE row of an object with a key: its key as loaded, and its changed attributes
/// (or all loaded ones); `None` when there is nothing to set.
fn update_row(inst: &Rc<Instance>, changed_only: bool) -> Option<BulkRow> {
    let mapper = &inst.mapper;
    let st = inst.state();
    let key = st.key.as_ref()?.values();
    let cols: Vec<usize> = if changed_only {
        st.committed
            .iter()
            .filter(|(i, old)| old.as_ref() != Some(&st.values[*i]))
            .map(|(i, _)| *i)
            .collect()
    } else {
        st.loaded
            .iter()
            .filter(|i| *i < mapper.attrs.len())
            .collect()
    };
    let mut row: BulkRow = cols
        .into_iter()
        .filter(|i| !mapper.pk.contains(i))
        .map(|i| (i, st.values[i].clone()))
        .collect();
    if row.is_empty() {
        return None;
    }
    row.extend(mapper.pk.iter().copied().zip(key));
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_group_consecutive_equal_keys_only() {
        let r = runs(["a", "a", "b", "a"].into_iter());
        assert_eq!(r, vec![("a", vec![0, 1]), ("b", vec![2]), ("a", vec![3])]);
    }
}
