//! The unit of work: turns the session's pending, modified and deleted objects into
//! batched INSERT, UPDATE and DELETE statements, in foreign-key order, in one transaction.
//!
//! Everything the flush changes on the objects (generated keys, defaults, state changes)
//! is applied only after every statement has succeeded, so a failed flush leaves the
//! objects exactly as they were.

use std::rc::Rc;

use super::attributes::AttrSet;
use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::session::SessionCore;
use crate::engine::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::metadata::sort_by_dependency;
use crate::schema::{ColumnDefault, DefaultContext, Table};
use crate::sql::{compile, BinOp, Compiled, Delete, Expr, Insert, Statement, Update};
use crate::value::Value;

pub(crate) fn flush(session: &SessionCore, conn: &Connection) -> Result<()> {
    let new: Vec<Rc<Instance>> = session.new.borrow().clone();
    let deleted: Vec<Rc<Instance>> = session.deleted.borrow().clone();
    let modified: Vec<Rc<Instance>> = session.modified.borrow().clone();

    let mut tables: Vec<Rc<Table>> = Vec::new();
    for inst in new.iter().chain(&deleted).chain(&modified) {
        if !tables.iter().any(|t| t.id == inst.mapper.table.id) {
            tables.push(inst.mapper.table.clone());
        }
    }
    let order = sort_by_dependency(&tables);

    let mut inserted: Vec<InsertOutcome> = Vec::with_capacity(new.len());
    let mut updated: Vec<UpdateOutcome> = Vec::new();
    for table in &order {
        let rows: Vec<&Rc<Instance>> = new
            .iter()
            .filter(|i| i.mapper.table.id == table.id)
            .collect();
        if !rows.is_empty() {
            insert_rows(conn, table, &rows, &mut inserted)?;
        }
        let rows: Vec<&Rc<Instance>> = modified
            .iter()
            .filter(|i| i.mapper.table.id == table.id)
            .collect();
        if !rows.is_empty() {
            update_rows(conn, table, &rows, &mut updated)?;
        }
    }
    for table in order.iter().rev() {
        let rows: Vec<&Rc<Instance>> = deleted
            .iter()
            .filter(|i| i.mapper.table.id == table.id && i.status() == Status::Persistent)
            .collect();
        if !rows.is_empty() {
            delete_rows(conn, table, &rows)?;
        }
    }

    // Every statement succeeded: apply the outcome to the objects and the session.
    let weak = session.weak();
    let mut frames = session.frames.borrow_mut();
    let frame = frames.last_mut().expect("a flush runs in a transaction");
    {
        let mut map = session.identity.borrow_mut();
        for out in inserted {
            let inst = out.inst;
            let mut st = inst.state_mut();
            for (i, v) in out.assigned {
                st.values[i] = v;
                st.loaded.insert(i);
            }
            if let Some((i, id)) = out.generated {
                st.values[i] = Value::Integer(id);
                st.loaded.insert(i);
                st.generated_key = true;
            }
            // Every column the INSERT sent is now known; what the database filled in is not.
            for i in 0..inst.mapper.attrs.len() {
                st.loaded.insert(i);
            }
            for i in out.expire {
                st.loaded.remove(i);
            }
            let pk: Vec<Value> = inst
                .mapper
                .pk
                .iter()
                .map(|&i| st.values[i].clone())
                .collect();
            let key = IdentityKey::new(inst.mapper.id, &pk).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidRequestError,
                    format!(
                        "Instance {} has a NULL identity key after flush",
                        inst.mapper.class_name
                    ),
                )
            })?;
            st.key = Some(key.clone());
            st.status = Status::Persistent;
            st.committed.clear();
            st.session = Some(weak.clone());
            drop(st);
            map.insert(key, inst.clone());
            frame.inserted.push(inst);
        }
        for inst in &deleted {
            let key = inst.state().key.clone();
            if let Some(k) = key {
                if map.get(&k).is_some_and(|o| Rc::ptr_eq(o, inst)) {
                    map.remove(&k);
                }
            }
            let mut st = inst.state_mut();
            st.status = Status::Deleted;
            st.marked_deleted = false;
            drop(st);
            frame.deleted.push(inst.clone());
        }
    }
    for out in &updated {
        frame.updated.push(out.inst.clone());
        if out.new_key.is_some() {
            if let Some(k) = out.inst.state().key.clone() {
                frame.rekeyed.push((out.inst.clone(), k));
            }
        }
    }
    drop(frames);
    for out in updated {
        let mut st = out.inst.state_mut();
        for (i, v) in out.assigned {
            st.values[i] = v;
        }
        for i in out.expire {
            st.loaded.remove(i);
        }
        if let Some(new_key) = out.new_key {
            let old = st.key.replace(new_key.clone());
            drop(st);
            let mut map = session.identity.borrow_mut();
            if let Some(k) = old {
                map.remove(&k);
            }
            map.insert(new_key, out.inst.clone());
        }
    }
    for inst in session.modified.borrow_mut().drain(..) {
        let mut st = inst.state_mut();
        st.committed.clear();
        st.queued_modified = false;
    }
    session.new.borrow_mut().clear();
    session.deleted.borrow_mut().clear();
    Ok(())
}

struct InsertOutcome {
    inst: Rc<Instance>,
    /// Defaults computed for the row, to set on the object.
    assigned: Vec<(usize, Value)>,
    /// (autoincrement attribute, the rowid the database gave).
    generated: Option<(usize, i64)>,
    /// Attributes the database filled in (server defaults, SQL defaults): reloaded on access.
    expire: Vec<usize>,
}

struct UpdateOutcome {
    inst: Rc<Instance>,
    assigned: Vec<(usize, Value)>,
    expire: Vec<usize>,
    new_key: Option<IdentityKey>,
}

/// One batch: rows that share a statement.
struct Batch {
    shape: (AttrSet, AttrSet),
    sql: Compiled,
    rows: Vec<Vec<Value>>,
    outcomes: Vec<InsertOutcome>,
}

fn call_default(
    f: &ColumnDefault,
    table: &Table,
    col: usize,
    params: &[(String, Value)],
) -> Result<Option<Value>> {
    Ok(match f {
        ColumnDefault::Value(v) => Some(v.clone()),
        ColumnDefault::Callable(f) => Some(f.call(&DefaultContext {
            table: &table.name,
            column: &table.columns[col].name,
            params,
        })?),
        ColumnDefault::Sql(_) => None,
    })
}

fn insert_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<InsertOutcome>,
) -> Result<()> {
    let dialect = conn.engine().dialect();
    let ncols = table.columns.len();
    // No column has a default: every row sends all of its columns but a generated key.
    let plain = table
        .columns
        .iter()
        .all(|c| c.default.is_none() && c.server_default.is_none());
    let mut batches: Vec<Batch> = Vec::new();
    for inst in rows {
        let mapper = &inst.mapper;
        let (included, sql_default, row, assigned, expire) = if plain {
            let st = inst.state();
            let mut included = AttrSet::all(ncols);
            if let Some(a) = mapper.autoincrement {
                if !st.loaded.contains(a) || st.values[a].is_null() {
                    included.remove(a);
                }
            }
            let row: Vec<Value> = included.iter().map(|i| st.values[i].clone()).collect();
            (included, AttrSet::default(), row, Vec::new(), Vec::new())
        } else {
            insert_values(inst, table)?
        };
        let generated = (!included.contains(mapper.autoincrement.unwrap_or(usize::MAX)))
            .then_some(mapper.autoincrement)
            .flatten();
        let shape = (included, sql_default);
        // a run of rows of the same shape is one batch: rows are inserted in the order
        // they were added, so generated keys follow that order
        let idx = match batches.last().filter(|b| b.shape == shape) {
            Some(_) => batches.len() - 1,
            None => {
                let sql = match batches.iter().find(|b| b.shape == shape) {
                    Some(b) => b.sql.clone(),
                    None => {
                        let mut ins = Insert::new(table);
                        let mut slot = 0;
                        for i in 0..ncols {
                            if shape.0.contains(i) {
                                ins.values.push((i, Expr::Slot(slot)));
                                slot += 1;
                            } else if shape.1.contains(i) {
                                if let Some(ColumnDefault::Sql(e)) = &table.columns[i].default {
                                    ins.values.push((i, e.clone()));
                                }
                            }
                        }
                        compile(&Statement::Insert(ins), dialect)?
                    }
                };
                batches.push(Batch {
                    shape,
                    sql,
                    rows: Vec::new(),
                    outcomes: Vec::new(),
                });
                batches.len() - 1
            }
        };
        let b = &mut batches[idx];
        b.rows.push(row);
        b.outcomes.push(InsertOutcome {
            inst: (*inst).clone(),
            assigned,
            generated: generated.map(|g| (g, 0)),
            expire,
        });
    }
    for mut b in batches {
        let outcomes = &mut b.outcomes;
        let rows = bind_rows(&b.sql, b.rows)?;
        conn.execute_many(&b.sql.sql, &rows, |i, rowid, _| {
            if let Some(g) = outcomes[i].generated.as_mut() {
                g.1 = rowid;
            }
            Ok(())
        })?;
        out.append(&mut b.outcomes);
    }
    Ok(())
}

/// The columns an INSERT of `inst` sends, with client-side defaults computed: (columns
/// bound, columns given by SQL defaults, the bound values, defaults to set on the object,
/// attributes the database fills in).
#[allow(clippy::type_complexity)]
fn insert_values(
    inst: &Rc<Instance>,
    table: &Table,
) -> Result<(
    AttrSet,
    AttrSet,
    Vec<Value>,
    Vec<(usize, Value)>,
    Vec<usize>,
)> {
    let ncols = table.columns.len();
    let mapper = &inst.mapper;
    let (mut values, loaded) = {
        let st = inst.state();
        (st.values.to_vec(), st.loaded.clone())
    };
    let mut included = AttrSet::default();
    let mut sql_default = AttrSet::default();
    let mut assigned = Vec::new();
    let mut expire = Vec::new();
    let mut has_callable = false;
    for (i, col) in table.columns.iter().enumerate() {
        if loaded.contains(i)
            && !(values[i].is_null()
                && (Some(i) == mapper.autoincrement
                    || col.default.is_some()
                    || col.server_default.is_some()))
        {
            included.insert(i);
            continue;
        }
        match &col.default {
            Some(ColumnDefault::Sql(_)) => {
                sql_default.insert(i);
                expire.push(i);
            }
            Some(ColumnDefault::Callable(_)) => {
                has_callable = true;
                included.insert(i);
            }
            Some(ColumnDefault::Value(v)) => {
                values[i] = v.clone();
                assigned.push((i, v.clone()));
                included.insert(i);
            }
            None if Some(i) == mapper.autoincrement => {}
            None if col.server_default.is_some() => expire.push(i),
            None => {
                included.insert(i);
            }
        }
    }
    if has_callable {
        // Context-sensitive defaults see the other values of the row.
        let params: Vec<(String, Value)> = included
            .iter()
            .filter(|&i| i < ncols)
            .map(|i| (table.columns[i].name.clone(), values[i].clone()))
            .collect();
        for (i, col) in table.columns.iter().enumerate() {
            if let (Some(f @ ColumnDefault::Callable(_)), false) =
                (&col.default, loaded.contains(i) && !values[i].is_null())
            {
                if let Some(v) = call_default(f, table, i, &params)? {
                    values[i] = v.clone();
                    assigned.push((i, v));
                }
            }
        }
    }
    let row: Vec<Value> = included
        .iter()
        .map(|i| std::mem::take(&mut values[i]))
        .collect();
    Ok((included, sql_default, row, assigned, expire))
}

fn update_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<UpdateOutcome>,
) -> Result<()> {
    let dialect = conn.engine().dialect();
    let mut batches: Vec<(AttrSet, AttrSet, Compiled, Vec<Vec<Value>>)> = Vec::new();
    let has_onupdate = table.columns.iter().any(|c| c.onupdate.is_some());
    for inst in rows {
        let mapper = &inst.mapper;
        let (mut set, mut row, mut values) = {
            let st = inst.state();
            if st.status != Status::Persistent || st.marked_deleted {
                continue;
            }
            let mut set = AttrSet::default();
            for (i, old) in &st.committed {
                if old.as_ref() != Some(&st.values[*i]) {
                    set.insert(*i);
                }
            }
            if set.is_empty() {
                continue;
            }
            // without onupdate defaults the row is known now: the changed values
            let row: Vec<Value> = if has_onupdate {
                Vec::new()
            } else {
                set.iter().map(|i| st.values[i].clone()).collect()
            };
            let values = if has_onupdate || mapper.pk.iter().any(|i| set.contains(*i)) {
                st.values.to_vec()
            } else {
                Vec::new()
            };
            (set, row, values)
        };
        let pk_old = inst
            .state()
            .key
            .as_ref()
            .expect("persistent instance has a key")
            .values();
        let mut sql_set = AttrSet::default();
        let mut assigned = Vec::new();
        let mut expire = Vec::new();
        if has_onupdate {
            let changed: Vec<usize> = set.iter().collect();
            for (i, col) in table.columns.iter().enumerate() {
                if set.contains(i) {
                    continue;
                }
                match &col.onupdate {
                    Some(ColumnDefault::Sql(_)) => {
                        sql_set.insert(i);
                        expire.push(i);
                    }
                    Some(f) => {
                        let params: Vec<(String, Value)> = changed
                            .iter()
                            .map(|&c| (table.columns[c].name.clone(), values[c].clone()))
                            .collect();
                        if let Some(v) = call_default(f, table, i, &params)? {
                            values[i] = v.clone();
                            assigned.push((i, v));
                            set.insert(i);
                        }
                    }
                    None => {}
                }
            }
            row = set.iter().map(|i| values[i].clone()).collect();
        }
        row.extend(pk_old);
        let pk_changed = mapper.pk.iter().any(|i| set.contains(*i));
        let new_key = if pk_changed {
            let pk: Vec<Value> = mapper.pk.iter().map(|&i| values[i].clone()).collect();
            IdentityKey::new(mapper.id, &pk)
        } else {
            None
        };
        let idx = match batches.iter().rposition(|b| b.0 == set && b.1 == sql_set) {
            Some(i) => i,
            None => {
                let mut up = Update::new(table);
                let mut slot = 0;
                for i in 0..table.columns.len() {
                    if set.contains(i) {
                        up.values.push((i, Expr::Slot(slot)));
                        slot += 1;
                    } else if sql_set.contains(i) {
                        if let Some(ColumnDefault::Sql(e)) = &table.columns[i].onupdate {
                            up.values.push((i, e.clone()));
                        }
                    }
                }
                up.where_ = mapper
                    .pk
                    .iter()
                    .enumerate()
                    .map(|(n, &i)| {
                        Expr::binary(Expr::column(table, i), BinOp::Eq, Expr::Slot(slot + n))
                    })
                    .collect();
                let c = compile(&Statement::Update(up), dialect)?;
                batches.push((set.clone(), sql_set.clone(), c, Vec::new()));
                batches.len() - 1
            }
        };
        batches[idx].3.push(row);
        out.push(UpdateOutcome {
            inst: (*inst).clone(),
            assigned,
            expire,
            new_key,
        });
    }
    for (_, _, c, rows) in batches {
        let rows = bind_rows(&c, rows)?;
        conn.execute_many(&c.sql, &rows, |_, _, changed| {
            if changed != 1 {
                return Err(Error::new(
                    ErrorKind::StaleDataError,
                    format!("UPDATE statement on table '{}' expected to update 1 row(s); {changed} were matched.", table.name),
                ));
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn delete_rows(conn: &Connection, table: &Rc<Table>, rows: &[&Rc<Instance>]) -> Result<()> {
    let mapper = &rows[0].mapper;
    let mut del = Delete::new(table);
    del.where_ = mapper.pk_condition(0);
    let c = compile(&Statement::Delete(del), conn.engine().dialect())?;
    let params: Vec<Vec<Value>> = rows
        .iter()
        .map(|i| {
            i.state()
                .key
                .as_ref()
                .expect("persistent instance has a key")
                .values()
        })
        .collect();
    conn.execute_many(&c.sql, &params, |_, _, changed| {
        if changed != 1 {
            return Err(Error::new(
                ErrorKind::StaleDataError,
                format!("DELETE statement on table '{}' expected to delete 1 row(s); Only {changed} were matched.", table.name),
            ));
        }
        Ok(())
    })
}

/// Each row's parameters in statement order: the row's slots, plus any values a SQL default
/// binds. A statement of slots only takes the rows as they are.
fn bind_rows(c: &Compiled, rows: Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>> {
    let slots_in_order = c
        .params
        .iter()
        .enumerate()
        .all(|(n, p)| *p == crate::sql::Param::Slot(n));
    if slots_in_order {
        return Ok(rows);
    }
    rows.iter().map(|r| c.bind(r, &|_| None)).collect()
}
