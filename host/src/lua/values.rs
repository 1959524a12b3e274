//! `orm.values(orm.Column("a", orm.Integer), ..., { name = "v" }):data{ {1, "x"}, ... }`:
//! a FROM item of literal rows (SQLAlchemy's `values(column(...), name=...).data([...])`),
//! read through `.c` like a subquery.

use mlua::{Lua, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{name_or_anon, operand, LuaSubquery};
use super::schema::LuaColumnSpec;
use crate::schema::{Column, SqlType};
use crate::sql::Derived;

/// `orm.values(...)` before its rows are given.
#[derive(Clone)]
pub struct LuaValues {
    name: String,
    columns: Vec<Column>,
}

impl UserData for LuaValues {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("data", |lua, this, rows: LuaValue| {
            let LuaValue::Table(rows) = rows else {
                return Err(arg(format!(
                    "values({}):data() expects a list of rows, got {}",
                    this.name,
                    rows.type_name()
                )));
            };
            let mut out = Vec::with_capacity(rows.raw_len());
            for r in 1..=rows.raw_len() {
                let row: LuaValue = rows.raw_get(r)?;
                let LuaValue::Table(row) = row else {
                    return Err(arg(format!(
                        "values({}):data(): row {r} must be a list of values, got {}",
                        this.name,
                        row.type_name()
                    )));
                };
                if row.raw_len() != this.columns.len() {
                    return Err(arg(format!(
                        "values({}):data(): row {r} has {} values for {} columns",
                        this.name,
                        row.raw_len(),
                        this.columns.len()
                    )));
                }
                let values = this
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| operand(lua, &row.raw_get::<LuaValue>(i + 1)?, &c.ty))
                    .collect::<LuaResult<Vec<_>>>()?;
                out.push(values);
            }
            Ok(LuaSubquery {
                derived: Derived::values(&this.name, this.columns.clone(), out).lua()?,
            })
        });
    }
}

/// `orm.values(col, ... [, { name = "v" }])`.
pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "values",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            let mut columns = Vec::new();
            let mut name = None;
            for (n, a) in args.iter().enumerate() {
                match a {
                    LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => {
                        let spec = ud.borrow::<LuaColumnSpec>()?;
                        let cname = spec.0.name.clone().ok_or_else(|| {
                            arg(format!(
                                "orm.values(): column {} needs a name: orm.Column(\"name\", type)",
                                n + 1
                            ))
                        })?;
                        columns.push(Column::new(&cname, spec.0.ty.clone().unwrap_or(SqlType::Null)));
                    }
                    LuaValue::Table(t) if n + 1 == args.len() => {
                        name = t.get::<Option<String>>("name")?;
                    }
                    other => {
                        return Err(arg(format!(
                            "orm.values(): argument {} must be orm.Column(\"name\", type) (or the options table last), got {}",
                            n + 1,
                            other.type_name()
                        )))
                    }
                }
            }
            if columns.is_empty() {
                return Err(arg("orm.values() needs at least one orm.Column(\"name\", type)"));
            }
            Ok(LuaValues {
                name: name_or_anon(name, "orm.values()")?,
                columns,
            })
        })?,
    )?;
    Ok(())
}
