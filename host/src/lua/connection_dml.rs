//! Core DML through a connection (`conn:execute(orm.insert(table), rows)`,
//! `conn:execute(orm.update(table):where(...):values{...})`, `orm.delete`): the statement
//! compiled for the connection's dialect and run in its transaction, with no session and
//! no objects to keep in step. The Result carries the rows matched (or inserted), or the
//! RETURNING rows of an UPDATE / DELETE.

use mlua::{AnyUserData, Lua, Value as LuaValue};

use super::dml::LuaBulk;
use super::error::{arg, IntoLuaResult, LuaResult};
use super::result::ResultSet;
use super::statement::LuaInsert;
use crate::engine::Connection;
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
    // runs of rows naming the same columns share one prepared statement; defaults are
    // filled in as a session's bulk INSERT fills them
    let returning = ins.returning.as_ref().map(|r| r.select.columns.clone());
    let mut total = 0usize;
    let mut returned: Option<(Vec<String>, Vec<Value>)> = None;
    let mut run: (Vec<usize>, Vec<Vec<Value>>) = (Vec::new(), Vec::new());
    for d in dicts {
        let (cols, values) = super::session::insert_row(lua, mapper, &d)?;
        if run.0 != cols {
            let done = std::mem::replace(&mut run, (cols, Vec::new()));
            total += insert_run(conn, table, done, returning.as_deref(), &mut returned)?;
        }
        run.1.push(values);
    }
    total += insert_run(conn, table, run, returning.as_deref(), &mut returned)?;
    Ok(match returned {
        Some((names, values)) => ResultSet::new(crate::orm::query::Rows::of_values(&names, values)),
        None => ResultSet::with_rowcount(total as i64),
    })
}

/// One run of rows naming the same columns: executemany, or with RETURNING one execution
/// per row, its rows appended to `returned`.
fn insert_run(
    conn: &Connection,
    table: &std::rc::Rc<crate::schema::Table>,
    (cols, rows): (Vec<usize>, Vec<Vec<Value>>),
    returning: Option<&[Expr]>,
    returned: &mut Option<(Vec<String>, Vec<Value>)>,
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
    if let Some(r) = returning {
        stmt.returning = r.to_vec();
    }
    let c = compile(&Statement::Insert(stmt), conn.engine().dialect()).lua()?;
    if returning.is_some() {
        for row in &rows {
            let bound = c.bind(row, &|_| None).lua()?;
            let out = conn.run_text(&c.sql, &bound).lua()?;
            let acc = returned.get_or_insert_with(|| (out.names.clone(), Vec::new()));
            acc.1.extend(out.values);
        }
        return Ok(rows.len());
    }
    let bound = c.bind_rows(&rows).lua()?;
    let mut n = 0;
    conn.execute_many(&c.sql, &bound, |_, _, changed| {
        n += changed;
        Ok(())
    })
    .lua()?;
    Ok(n)
}
