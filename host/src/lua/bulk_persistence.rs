//! The Lua side of `orm/bulk_persistence.rs`: ORM bulk UPDATE by primary key through
//! `session:execute(orm.update(Model), rows)`, and the legacy session methods
//! `bulk_save_objects`, `bulk_insert_mappings`, `bulk_update_mappings`.

use std::rc::Rc;

use mlua::{AnyUserData, Lua, UserDataMethods, Value as LuaValue};

use super::convert::{lua_to_value, value_to_lua};
use super::dml::{BulkKind, LuaBulk};
use super::error::{arg, invalid, IntoLuaResult, LuaResult};
use super::instance::instances_of;
use super::model::mapper_of;
use super::result::ResultSet;
use super::session::{session_of, LuaSession};
use crate::orm::bulk::Synchronize;
use crate::orm::bulk_persistence::{BulkRow, UpdateByPk};
use crate::orm::Mapper;
use crate::value::Value;

/// A list of parameter tables (`{ { id = 1, name = "x" }, ... }`), or `None` when `params`
/// is not one (a single table of named parameters, or nothing).
pub fn parameter_list(params: &Option<LuaValue>) -> Option<mlua::Table> {
    match params {
        Some(LuaValue::Table(t)) if t.raw_len() > 0 => Some(t.clone()),
        _ => None,
    }
}

/// The rows of a list of tables keyed by column attribute names. `orm.null()` is NULL; with
/// `omit_nulls` (an INSERT without `render_nulls`) a NULL leaves the column out, so its
/// default applies.
fn rows_of(
    lua: &Lua,
    mapper: &Rc<Mapper>,
    list: &mlua::Table,
    what: &str,
    omit_nulls: bool,
) -> LuaResult<Vec<BulkRow>> {
    let mut rows = Vec::with_capacity(list.raw_len());
    for (n, item) in list.sequence_values::<LuaValue>().enumerate() {
        let LuaValue::Table(t) = item? else {
            return Err(arg(format!(
                "{what}: row {} must be a table of {} attribute values",
                n + 1,
                mapper.class_name
            )));
        };
        let mut row = BulkRow::new();
        for pair in t.pairs::<LuaValue, LuaValue>() {
            let (k, v) = pair?;
            let i = match &k {
                LuaValue::String(s) => mapper.attr_index(&s.to_str()?),
                _ => None,
            }
            .ok_or_else(|| {
                arg(format!(
                    "{what}: {} is not a column attribute of {} (row {})",
                    super::convert::lua_debug(&k),
                    mapper.class_name,
                    n + 1
                ))
            })?;
            let value = lua_to_value(lua, &v, mapper.attrs[i].kind, &|| mapper.attr_path(i))?;
            if omit_nulls && value.is_null() {
                continue;
            }
            row.push((i, value));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `session:execute(orm.update(Model), rows)` / `session:execute(orm.delete(Model), rows)`
/// with a list of parameter sets: SQLAlchemy 2.0's ORM bulk UPDATE by primary key (bulk
/// DELETE by primary key is refused, as SQLAlchemy refuses it).
pub fn execute_with_rows(
    lua: &Lua,
    session: &AnyUserData,
    bulk: &LuaBulk,
    list: &mlua::Table,
    sync: Option<Synchronize>,
) -> LuaResult<ResultSet> {
    let name = &bulk.mapper.class_name;
    if bulk.kind == BulkKind::Delete {
        return Err(invalid(format!(
            "orm.delete({name}) with a list of parameter sets: bulk ORM DELETE by primary key is not supported; use orm.delete({name}):where({name}.id:in_({{...}})) or conn:execute()"
        )));
    }
    if bulk.returning.is_some() {
        return Err(invalid(format!(
            "orm.update({name}):returning() is not supported with a list of parameter sets (ORM bulk UPDATE by primary key)"
        )));
    }
    let synchronize = match sync.or(bulk.sync) {
        Some(Synchronize::Fetch) => {
            return Err(invalid(
                "The 'fetch' synchronization strategy is not available for 'bulk' ORM updates (i.e. multiple parameter sets)",
            ))
        }
        Some(Synchronize::None) => false,
        Some(Synchronize::Evaluate | Synchronize::Auto) | None => true,
    };
    if synchronize && !bulk.where_.is_empty() {
        return Err(invalid(format!(
            "orm.update({name}):where(...) with a list of parameter sets: bulk synchronize of persistent objects is not supported with additional WHERE criteria; pass synchronize_session = false"
        )));
    }
    let rows = rows_of(
        lua,
        &bulk.mapper,
        list,
        &format!("session:execute(orm.update({name}), rows)"),
        false,
    )?;
    let how = UpdateByPk {
        where_: bulk.where_.clone(),
        values: bulk.values.clone(),
        synchronize,
    };
    let core = session_of(session)?.core.clone();
    let matched = core
        .update_by_primary_key(&bulk.mapper, &rows, &how)
        .lua()?;
    Ok(ResultSet::with_rowcount(matched as i64))
}

fn flag(opts: &Option<mlua::Table>, key: &str, default: bool) -> LuaResult<bool> {
    match opts {
        Some(t) => match t.raw_get::<LuaValue>(key)? {
            LuaValue::Nil => Ok(default),
            LuaValue::Boolean(b) => Ok(b),
            other => Err(arg(format!(
                "{key} must be a boolean, got {}",
                other.type_name()
            ))),
        },
        None => Ok(default),
    }
}

/// The legacy bulk methods of the session.
pub fn add_session_methods<M: UserDataMethods<LuaSession>>(m: &mut M) {
    m.add_method(
        "bulk_save_objects",
        |lua, this, (objects, opts): (mlua::Table, Option<mlua::Table>)| {
            if let Some(t) = &opts {
                super::options::check_keys(
                    t,
                    &["return_defaults", "update_changed_only", "preserve_order"],
                    "session:bulk_save_objects()",
                    false,
                )?;
            }
            let objects = instances_of(lua, &objects)?;
            this.core
                .bulk_save_objects(
                    &objects,
                    flag(&opts, "return_defaults", false)?,
                    flag(&opts, "update_changed_only", true)?,
                )
                .lua()
        },
    );
    m.add_method(
        "bulk_insert_mappings",
        |lua, this, (model, list, opts): (LuaValue, mlua::Table, Option<mlua::Table>)| {
            if let Some(t) = &opts {
                super::options::check_keys(
                    t,
                    &["return_defaults", "render_nulls"],
                    "session:bulk_insert_mappings()",
                    false,
                )?;
            }
            let mapper = mapper_of(&model)?;
            let return_defaults = flag(&opts, "return_defaults", false)?;
            let what = format!("session:bulk_insert_mappings({}, ...)", mapper.class_name);
            let omit_nulls = !flag(&opts, "render_nulls", false)?;
            let rows = rows_of(lua, &mapper, &list, &what, omit_nulls)?;
            let keys = this
                .core
                .bulk_insert_mappings(&mapper, rows, return_defaults)
                .lua()?;
            // with return_defaults, each mapping gets its primary key, as SQLAlchemy's
            for (n, key) in keys.into_iter().enumerate() {
                let Some(key) = key else { continue };
                let d: mlua::Table = list.raw_get(n + 1)?;
                for (&p, v) in mapper.pk.iter().zip(&key) {
                    if !matches!(v, Value::Null) {
                        d.raw_set(
                            mapper.attrs[p].key.as_str(),
                            value_to_lua(lua, v, mapper.attrs[p].kind)?,
                        )?;
                    }
                }
            }
            Ok(())
        },
    );
    m.add_method(
        "bulk_update_mappings",
        |lua, this, (model, list): (LuaValue, mlua::Table)| {
            let mapper = mapper_of(&model)?;
            let what = format!("session:bulk_update_mappings({}, ...)", mapper.class_name);
            let rows = rows_of(lua, &mapper, &list, &what, false)?;
            this.core.bulk_update_mappings(&mapper, &rows).lua()?;
            Ok(())
        },
    );
}
