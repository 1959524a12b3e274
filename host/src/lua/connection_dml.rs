//! Core DML through a connection (`conn:execute(orm.insert(table), rows)`,
//! `conn:execute(orm.update(table):where(...):values{...})`, `orm.delete`): the statement
//! compiled for the connection's dialect and run in its transaction, with no session and
//! no objects to keep in step. The Result carries the rows matched (or inserted), or the
//! RETURNING rows of an UPDATE / DELETE.

use mlua::{AnyUserData, Lua, Value as LuaValue};

use super::convert::lua_to_value;
use super::dml::LuaBulk;
use super::error::{arg, IntoLuaResult, LuaResult};
use super::result::ResultSet;
use super::statement::LuaInsert;
use crate::engine::Connection;
use crate::schema::ColumnDefault;
use crate::sql::{compile, Expr, Insert, Statement};
use crate::value::Value;

/// Runs `stmt` when it is Core DML; `None` when it is something else.
pub fn execute(
    lua: &Lua,
    conn: &Connection,
    stmt: &AnyUserData,
    params: &Option<LuaValue>,
) -> LuaResult<Option<ResultSet>> {
    if let Ok(b) = stmt.borrow::<LuaBulk>() {
        let c = compile(&b.statement(), conn.engine().dialect()).lua()?;
        let values = c.bind(&[], &|_| None).lua()?;
        let out = conn.run_text(&c.sql, &values).lua()?;
        return Ok(Some(super::session::text_result(out)));
    }
    if let Ok(ins) = stmt.borrow::<LuaInsert>() {
        return insert(lua, conn, &ins, params).map(Some);
    }
    Ok(None)
}

fn insert(
    lua: &Lua,
    conn: &Connection,
    ins: &LuaInsert,
    params: &Option<LuaValue>,
) -> LuaResult<ResultSet> {
    let mapper = &ins.mapper;
    let table = &mapper.table;
    if ins.returning.is_some() {
        return Err(arg(format!(
            "conn:execute(orm.insert({}):returning(...)): RETURNING runs through a session",
            mapper.class_name
        )));
    }
    let dicts: Vec<mlua::Table> = match params {
        Some(LuaValue::Table(t)) if t.raw_len() > 0 => t
            .sequence_values::<mlua::Table>()
            .collect::<LuaResult<_>>()
            .map_err(|_| {
                arg("conn:execute(orm.insert(...), rows): rows must be a list of tables")
            })?,
        Some(LuaValue::Table(t)) => vec![t.clone()],
        None | Some(LuaValue::Nil) => ins.values.clone().into_iter().collect(),
        Some(other) => {
            return Err(arg(format!(
                "orm.insert: parameters must be a table or a list of tables, got {}",
                other.type_name()
            )))
        }
    };
    if dicts.is_empty() {
        return Err(arg(format!(
            "orm.insert({}): no rows to insert",
            mapper.class_name
        )));
    }
    // runs of rows naming the same columns share one prepared statement
    let mut total = 0usize;
    let mut run: (Vec<usize>, Vec<Vec<Value>>) = (Vec::new(), Vec::new());
    for d in dicts {
        let mut row: Vec<(usize, Value)> = Vec::new();
        for pair in d.pairs::<String, LuaValue>() {
            let (k, v) = pair?;
            let i = mapper.attr_index(&k).ok_or_else(|| {
                arg(format!(
                    "orm.insert({}): unknown column '{k}'",
                    mapper.class_name
                ))
            })?;
            row.push((
                i,
                lua_to_value(lua, &v, mapper.attrs[i].kind, &|| mapper.attr_path(i))?,
            ));
        }
        for (i, col) in table.columns.iter().enumerate() {
            if let (Some(ColumnDefault::Value(v)), false) =
                (&col.default, row.iter().any(|(c, _)| *c == i))
            {
                row.push((i, v.clone()));
            }
        }
        row.sort_by_key(|(c, _)| *c);
        let cols: Vec<usize> = row.iter().map(|(c, _)| *c).collect();
        if run.0 != cols {
            let done = std::mem::replace(&mut run, (cols, Vec::new()));
            total += insert_run(conn, table, done)?;
        }
        run.1.push(row.into_iter().map(|(_, v)| v).collect());
    }
    total += insert_run(conn, table, run)?;
    Ok(ResultSet::with_rowcount(total as i64))
}

fn insert_run(
    conn: &Connection,
    table: &std::rc::Rc<crate::schema::Table>,
    (cols, rows): (Vec<usize>, Vec<Vec<Value>>),
) -> LuaResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut stmt = Insert::new(table);
    stmt.values = cols
        .iter()
        .enumerate()
        .map(|(n, &c)| (c, Expr::Slot(n)))
        .collect();
    let c = compile(&Statement::Insert(stmt), conn.engine().dialect()).lua()?;
    let bound = c.bind_rows(&rows).lua()?;
    let mut n = 0;
    conn.execute_many(&c.sql, &bound, |_, _, changed| {
        n += changed;
        Ok(())
    })
    .lua()?;
    Ok(n)
}
