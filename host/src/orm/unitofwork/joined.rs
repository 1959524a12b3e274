//! The unit of work's writes of a joined-table inheritance subclass's rows: an object is one
//! row in each of its tables, inserted base first (a subclass table's key copied from the
//! base's generated key), updated in the tables whose columns changed, deleted subclass
//! first, as SQLAlchemy's persistence does table by table.

use crate::engine::Rows;
use std::rc::Rc;

use super::{call_default, load_expired_key, InsertOutcome, UpdateOutcome};
use crate::engine::Connection;
use crate::error::Result;
use crate::orm::attributes::AttrSet;
use crate::orm::identity::IdentityKey;
use crate::orm::instance::Instance;
use crate::schema::joined::Joined;
use crate::schema::{ColumnDefault, Table};
use crate::sql::{compile, BinOp, Delete, Expr, Insert, Statement, Update};
use crate::value::Value;

/// The `WHERE` of table `t`'s row (table `k` of the join) by key: `t.pk = ?` from slot
/// `first` on, and the key values for it from the object's identity key (in the mapper's
/// primary key order).
fn key_condition(
    j: &Joined,
    k: usize,
    pk: &[usize],
    first: usize,
    key: &[Value],
) -> (Vec<Expr>, Vec<Value>) {
    let t = &j.tables[k];
    let mut cond = Vec::new();
    let mut params = Vec::new();
    for (n, &c) in t.primary_key().iter().enumerate() {
        cond.push(Expr::binary(
            Expr::column(t, c),
            BinOp::Eq,
            Expr::Slot(first + n),
        ));
        let a = j.source[k][c];
        let v = pk
            .iter()
            .position(|&p| p == a)
            .and_then(|p| key.get(p).cloned())
            .unwrap_or(Value::Null);
        params.push(v);
    }
    (cond, params)
}

fn joined_of(table: &Table) -> &Joined {
    table
        .joined
        .as_deref()
        .expect("a joined-table subclass's table")
}

/// One object's INSERT in progress: its values (generated keys and defaults filled in as
/// its tables are written) and what the flush applies to it afterwards.
struct Pending {
    values: Vec<Value>,
    loaded: AttrSet,
    out: InsertOutcome,
}

/// INSERTs the objects' rows table by table, the base table's first (in the objects'
/// order), each subclass table's row taking the key the base row was given.
pub(super) fn insert_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<InsertOutcome>,
) -> Result<()> {
    let j = joined_of(table);
    let dialect = conn.engine().dialect();
    let mut pending: Vec<Pending> = rows
        .iter()
        .map(|inst| {
            let st = inst.state();
            Pending {
                values: st.values.to_vec(),
                loaded: st.loaded.clone(),
                out: InsertOutcome {
                    inst: (*inst).clone(),
                    assigned: Vec::new(),
                    generated: None,
                    expire: Vec::new(),
                },
            }
        })
        .collect();
    for (k, t) in j.tables.iter().enumerate() {
        for p in &mut pending {
            let mapper = &p.out.inst.mapper;
            let mut ins = Insert::new(t);
            let mut row: Vec<Value> = Vec::new();
            let mut gen_col = None;
            for (c, col) in t.columns.iter().enumerate() {
                let a = j.source[k][c];
                let own = j.origin[a].0 == k;
                let given = p.loaded.contains(a)
                    && !(p.values[a].is_null()
                        && (Some(a) == mapper.autoincrement
                            || col.default.is_some()
                            || col.server_default.is_some()));
                if !own || given {
                    ins.values.push((c, Expr::Slot(row.len())));
                    row.push(p.values[a].clone());
                    continue;
                }
                match &col.default {
                    Some(ColumnDefault::Sql(e)) => {
                        ins.values.push((c, e.clone()));
                        p.out.expire.push(a);
                    }
                    Some(f) => {
                        let params: Vec<(String, Value)> = ins
                            .values
                            .iter()
                            .filter_map(|(ci, e)| match e {
                                Expr::Slot(s) => {
                                    Some((t.columns[*ci].name.clone(), row[*s].clone()))
                                }
                                _ => None,
                            })
                            .collect();
                        let v = call_default(f, t, c, &params)?.unwrap_or(Value::Null);
                        p.values[a] = v.clone();
                        p.out.assigned.push((a, v.clone()));
                        ins.values.push((c, Expr::Slot(row.len())));
                        row.push(v);
                    }
                    None if Some(a) == mapper.autoincrement => gen_col = Some(c),
                    None if col.server_default.is_some() => p.out.expire.push(a),
                    None => {
                        ins.values.push((c, Expr::Slot(row.len())));
                        row.push(p.values[a].clone());
                    }
                }
            }
            let stmt = Statement::Insert(ins);
            let sql = compile(&stmt, dialect)?;
            let Statement::Insert(ins) = stmt else {
                unreachable!("built as an INSERT")
            };
            let mut key = None;
            conn.insert_rows(&ins, &sql, Rows::Vecs(&[row]), gen_col, |_, v| {
                key = v;
                Ok(())
            })?;
            if let (Some(c), Some(Value::Integer(id))) = (gen_col, key) {
                let a = j.source[k][c];
                p.values[a] = Value::Integer(id);
                p.out.generated = Some((a, id));
            }
        }
    }
    out.extend(pending.into_iter().map(|p| p.out));
    Ok(())
}

/// UPDATEs the tables of an object whose columns changed (with their `onupdate` defaults),
/// base first.
pub(super) fn update_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
    out: &mut Vec<UpdateOutcome>,
) -> Result<()> {
    let j = joined_of(table);
    let dialect = conn.engine().dialect();
    for inst in rows {
        let mapper = &inst.mapper;
        load_expired_key(inst)?;
        let (set, mut values, key) = {
            let st = inst.state();
            let Some(set) = st.update_set() else {
                continue;
            };
            let key = st
                .key
                .as_ref()
                .expect("persistent instance has a key")
                .values();
            (set, st.values.to_vec(), key)
        };
        let mut assigned = Vec::new();
        let mut expire = Vec::new();
        for (k, t) in j.tables.iter().enumerate() {
            if !(0..t.columns.len()).any(|c| set.contains(j.source[k][c])) {
                continue;
            }
            let mut up = Update::new(t);
            let mut row = Vec::new();
            for (c, col) in t.columns.iter().enumerate() {
                let a = j.source[k][c];
                if set.contains(a) {
                    up.values.push((c, Expr::Slot(row.len())));
                    row.push(values[a].clone());
                    continue;
                }
                match &col.onupdate {
                    Some(ColumnDefault::Sql(e)) => {
                        up.values.push((c, e.clone()));
                        expire.push(a);
                    }
                    Some(f) => {
                        if let Some(v) = call_default(f, t, c, &[])? {
                            values[a] = v.clone();
                            assigned.push((a, v.clone()));
                            up.values.push((c, Expr::Slot(row.len())));
                            row.push(v);
                        }
                    }
                    None => {}
                }
            }
            let (cond, params) = key_condition(j, k, &mapper.pk, row.len(), &key);
            up.where_ = cond;
            row.extend(params);
            let sql = compile(&Statement::Update(up.clone()), dialect)?;
            conn.update_rows(&up, &sql, &[row], |expected, matched| {
                if matched != expected {
                    return Err(super::stale_update(t, expected, matched));
                }
                Ok(())
            })?;
        }
        let new_key = if mapper.pk.iter().any(|i| set.contains(*i)) {
            let pk: Vec<Value> = mapper.pk.iter().map(|&i| values[i].clone()).collect();
            IdentityKey::new(mapper.ident_id, &pk)
        } else {
            None
        };
        out.push(UpdateOutcome {
            inst: (*inst).clone(),
            assigned,
            expire,
            new_key,
        });
    }
    Ok(())
}

/// DELETEs the objects' rows, the subclass tables' first.
pub(super) fn delete_rows(
    conn: &Connection,
    table: &Rc<Table>,
    rows: &[&Rc<Instance>],
) -> Result<()> {
    let j = joined_of(table);
    let mapper = &rows[0].mapper;
    let keys: Vec<Vec<Value>> = rows
        .iter()
        .map(|i| {
            i.state()
                .key
                .as_ref()
                .expect("persistent instance has a key")
                .values()
        })
        .collect();
    for k in (0..j.tables.len()).rev() {
        let t = &j.tables[k];
        let mut del = Delete::new(t);
        let mut params = Vec::with_capacity(keys.len());
        for key in &keys {
            let (cond, p) = key_condition(j, k, &mapper.pk, 0, key);
            del.where_ = cond;
            params.push(p);
        }
        let c = compile(&Statement::Delete(del), conn.engine().dialect())?;
        conn.execute_many(&c.sql, &params, |_, _, changed| {
            if changed != 1 {
                return Err(super::stale_delete(t, 1, changed));
            }
            Ok(())
        })?;
    }
    Ok(())
}
