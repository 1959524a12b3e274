//! Autogenerate from Lua (`migrate/autogenerate/`): `compare_metadata(engine_or_connection,
//! metadata)` returns the differences as Lua tables in the shapes of Alembic's
//! `compare_metadata`, each carrying its core `Diff` (the `diff` field) so that
//! `render_upgrade(diffs)` / `render_downgrade(diffs)` / `render(diffs)` write the Lua of
//! the entries kept (a program may drop or reorder entries first, as Alembic's users filter
//! the list). `register` adds these functions to `require("lualchemy.migrate")`.

use mlua::{Lua, Table as LuaTable, UserData, Value as LuaValue};

use super::engine::{connection_of, engine_of};
use super::error::{arg, IntoLuaResult, LuaResult};
use super::schema::{table_value, LuaMetaData, LuaTableObj, LuaType};
use crate::engine::reflection::Inspector;
use crate::migrate::autogenerate::{
    auto, compare_metadata, render_downgrade, render_upgrade, AutoEntry, ColumnChange, Diff,
    ForeignKeyInfo, UniqueInfo,
};
use crate::schema::{Column, Index};

/// One difference's core value, held by its Lua entry.
pub struct LuaDiff(pub Diff);
impl UserData for LuaDiff {}

fn names(lua: &Lua, v: &[String]) -> LuaResult<LuaTable> {
    lua.create_sequence_from(v.iter().map(String::as_str))
}

fn column_info(lua: &Lua, c: &Column) -> LuaResult<LuaTable> {
    let t = lua.create_table()?;
    t.raw_set("name", c.name.as_str())?;
    t.raw_set("type", LuaType(c.ty.clone()))?;
    t.raw_set("nullable", c.nullable)?;
    t.raw_set("primary_key", c.primary_key)?;
    t.raw_set("server_default", c.server_default.clone())?;
    Ok(t)
}

fn index_info(lua: &Lua, table: &str, ix: &Index) -> LuaResult<LuaTable> {
    let t = lua.create_table()?;
    t.raw_set("name", ix.name.as_str())?;
    t.raw_set("table", table)?;
    t.raw_set("columns", names(lua, &ix.columns)?)?;
    t.raw_set("unique", ix.unique)?;
    Ok(t)
}

fn unique_info(lua: &Lua, table: &str, u: &UniqueInfo) -> LuaResult<LuaTable> {
    let t = lua.create_table()?;
    t.raw_set("type", "unique")?;
    t.raw_set("name", u.name.clone())?;
    t.raw_set("table", table)?;
    t.raw_set("columns", names(lua, &u.columns)?)?;
    Ok(t)
}

fn fk_info(lua: &Lua, table: &str, fk: &ForeignKeyInfo) -> LuaResult<LuaTable> {
    let t = lua.create_table()?;
    t.raw_set("name", fk.name.clone())?;
    t.raw_set("table", table)?;
    t.raw_set("columns", names(lua, &fk.columns)?)?;
    t.raw_set("referred_table", fk.referred_table.as_str())?;
    t.raw_set("referred_columns", names(lua, &fk.referred_columns)?)?;
    t.raw_set("ondelete", fk.ondelete.clone())?;
    t.raw_set("onupdate", fk.onupdate.clone())?;
    Ok(t)
}

/// `{ kind, v2, v3, ... }` with `nil`s kept in place.
fn tuple(lua: &Lua, items: Vec<LuaValue>) -> LuaResult<LuaTable> {
    let t = lua.create_table()?;
    for (i, v) in items.into_iter().enumerate() {
        t.raw_set(i + 1, v)?;
    }
    Ok(t)
}

fn s(lua: &Lua, v: &str) -> LuaResult<LuaValue> {
    Ok(LuaValue::String(lua.create_string(v)?))
}

fn opt_default(lua: &Lua, v: &Option<String>) -> LuaResult<LuaValue> {
    match v {
        Some(d) => s(lua, d),
        None => Ok(LuaValue::Nil),
    }
}

/// Alembic's `modify_type` / `modify_nullable` / `modify_default` tuples of one column.
fn modify_entries(lua: &Lua, c: &ColumnChange) -> LuaResult<LuaTable> {
    let group = lua.create_table()?;
    let head = |kind: &str| -> LuaResult<Vec<LuaValue>> {
        Ok(vec![
            s(lua, kind)?,
            LuaValue::Nil,
            s(lua, &c.table)?,
            s(lua, &c.column)?,
        ])
    };
    let existing_type = || -> LuaResult<LuaValue> {
        Ok(LuaValue::UserData(
            lua.create_userdata(LuaType(c.existing_type.clone()))?,
        ))
    };
    let ty = |t: &crate::schema::SqlType| -> LuaResult<LuaValue> {
        Ok(LuaValue::UserData(lua.create_userdata(LuaType(t.clone()))?))
    };
    let mut n = 0;
    if let Some(new) = &c.type_ {
        let info = lua.create_table()?;
        info.raw_set("existing_nullable", c.existing_nullable)?;
        info.raw_set("existing_server_default", c.existing_server_default.clone())?;
        let mut v = head("modify_type")?;
        v.extend([LuaValue::Table(info), existing_type()?, ty(new)?]);
        n += 1;
        group.raw_set(n, tuple(lua, v)?)?;
    }
    if let Some(new) = c.nullable {
        let info = lua.create_table()?;
        info.raw_set("existing_type", existing_type()?)?;
        info.raw_set("existing_server_default", c.existing_server_default.clone())?;
        let mut v = head("modify_nullable")?;
        v.extend([
            LuaValue::Table(info),
            LuaValue::Boolean(c.existing_nullable),
            LuaValue::Boolean(new),
        ]);
        n += 1;
        group.raw_set(n, tuple(lua, v)?)?;
    }
    if let Some(new) = &c.server_default {
        let info = lua.create_table()?;
        info.raw_set("existing_type", existing_type()?)?;
        info.raw_set("existing_nullable", c.existing_nullable)?;
        let mut v = head("modify_default")?;
        v.extend([
            LuaValue::Table(info),
            opt_default(lua, &c.existing_server_default)?,
            opt_default(lua, new)?,
        ]);
        n += 1;
        group.raw_set(n, tuple(lua, v)?)?;
    }
    Ok(group)
}

/// A difference as its Lua entry.
fn entry(lua: &Lua, d: &Diff) -> LuaResult<LuaTable> {
    let t = match d {
        Diff::AddTable(table) => tuple(
            lua,
            vec![
                s(lua, "add_table")?,
                LuaValue::UserData(table_value(lua, table)?),
            ],
        )?,
        Diff::RemoveTable { table, rows } => {
            // the database's table belongs to no MetaData: a value of its own, not cached
            let t = tuple(
                lua,
                vec![
                    s(lua, "remove_table")?,
                    LuaValue::UserData(lua.create_userdata(LuaTableObj(table.clone()))?),
                ],
            )?;
            t.raw_set("rows", *rows)?;
            t
        }
        Diff::AddColumn { table, column } => tuple(
            lua,
            vec![
                s(lua, "add_column")?,
                LuaValue::Nil,
                s(lua, table)?,
                LuaValue::Table(column_info(lua, column)?),
            ],
        )?,
        Diff::RemoveColumn {
            table,
            column,
            rows,
        } => {
            let t = tuple(
                lua,
                vec![
                    s(lua, "remove_column")?,
                    LuaValue::Nil,
                    s(lua, table)?,
                    LuaValue::Table(column_info(lua, column)?),
                ],
            )?;
            t.raw_set("rows", *rows)?;
            t
        }
        Diff::RenameColumn {
            table,
            old,
            new,
            existing_type,
            existing_nullable,
        } => {
            let info = lua.create_table()?;
            info.raw_set("existing_type", LuaType(existing_type.clone()))?;
            info.raw_set("existing_nullable", *existing_nullable)?;
            tuple(
                lua,
                vec![
                    s(lua, "rename_column")?,
                    LuaValue::Nil,
                    s(lua, table)?,
                    s(lua, old)?,
                    s(lua, new)?,
                    LuaValue::Table(info),
                ],
            )?
        }
        Diff::ModifyColumn(c) => modify_entries(lua, c)?,
        Diff::AddIndex { table, index } | Diff::RemoveIndex { table, index } => tuple(
            lua,
            vec![
                s(lua, d.kind())?,
                LuaValue::Table(index_info(lua, table, index)?),
            ],
        )?,
        Diff::AddUnique { table, unique } | Diff::RemoveUnique { table, unique } => tuple(
            lua,
            vec![
                s(lua, d.kind())?,
                LuaValue::Table(unique_info(lua, table, unique)?),
            ],
        )?,
        Diff::AddForeignKey { table, fk } | Diff::RemoveForeignKey { table, fk } => tuple(
            lua,
            vec![s(lua, d.kind())?, LuaValue::Table(fk_info(lua, table, fk)?)],
        )?,
    };
    t.raw_set("diff", LuaDiff(d.clone()))?;
    Ok(t)
}

/// `compare_metadata(engine_or_connection, metadata)`.
fn compare(lua: &Lua, (bind, metadata): (LuaValue, LuaValue)) -> LuaResult<LuaTable> {
    let md = match &metadata {
        LuaValue::UserData(ud) if ud.is::<LuaMetaData>() => ud.borrow::<LuaMetaData>()?.0.clone(),
        other => {
            return Err(arg(format!(
                "compare_metadata(bind, metadata): expected a MetaData (orm.MetaData(), Base.metadata) as the second argument, got {}",
                other.type_name()
            )))
        }
    };
    let inspector = match connection_of(&bind) {
        Some(conn) => Inspector::on_connection(conn?),
        None => Inspector::new(engine_of(&bind).map_err(|_| {
            arg(format!(
                "compare_metadata(bind, metadata): expected an engine or a connection as the first argument, got {}",
                bind.type_name()
            ))
        })?),
    };
    let diffs = compare_metadata(&inspector, &md).lua()?;
    let out = lua.create_table()?;
    for (i, d) in diffs.iter().enumerate() {
        out.raw_set(i + 1, entry(lua, d)?)?;
    }
    Ok(out)
}

/// The core differences of a list `compare_metadata` returned (entries may have been
/// removed or reordered).
fn diffs_of(list: &LuaValue, what: &str) -> LuaResult<Vec<Diff>> {
    let LuaValue::Table(t) = list else {
        return Err(arg(format!(
            "{what}(diffs): expected the list compare_metadata returned, got {}",
            list.type_name()
        )));
    };
    let mut out = Vec::new();
    for (i, v) in t.sequence_values::<LuaValue>().enumerate() {
        let d = match &v? {
            LuaValue::Table(e) => match e.raw_get::<LuaValue>("diff")? {
                LuaValue::UserData(ud) if ud.is::<LuaDiff>() => {
                    Some(ud.borrow::<LuaDiff>()?.0.clone())
                }
                _ => None,
            },
            _ => None,
        };
        out.push(d.ok_or_else(|| {
            arg(format!(
                "{what}(diffs): entry {} is not a difference compare_metadata returned",
                i + 1
            ))
        })?);
    }
    Ok(out)
}

/// `{ indent = "    " }`: what each line starts with (four spaces by default).
fn indent_of(opts: Option<LuaTable>, what: &str) -> LuaResult<String> {
    match opts {
        None => Ok("    ".into()),
        Some(t) => {
            super::options::check_keys(&t, &["indent"], what, false)?;
            Ok(t.get::<Option<String>>("indent")?
                .unwrap_or_else(|| "    ".into()))
        }
    }
}

fn report_list(lua: &Lua, entries: &[AutoEntry]) -> LuaResult<LuaTable> {
    let out = lua.create_table()?;
    for (i, e) in entries.iter().enumerate() {
        let t = lua.create_table()?;
        t.raw_set("change", e.change.as_str())?;
        t.raw_set("table", e.table.as_str())?;
        t.raw_set("column", e.column.clone())?;
        t.raw_set("name", e.name.clone())?;
        t.raw_set("reason", e.reason.clone())?;
        out.raw_set(i + 1, t)?;
    }
    Ok(out)
}

/// `auto(metadata, engine)`: the safe changes applied, the rest reported.
fn auto_migrate(lua: &Lua, (metadata, engine): (LuaValue, LuaValue)) -> LuaResult<LuaTable> {
    let md = match &metadata {
        LuaValue::UserData(ud) if ud.is::<LuaMetaData>() => ud.borrow::<LuaMetaData>()?.0.clone(),
        other => {
            return Err(arg(format!(
                "auto(metadata, engine): expected a MetaData (orm.MetaData(), Base.metadata) as the first argument, got {}",
                other.type_name()
            )))
        }
    };
    let engine = engine_of(&engine).map_err(|_| {
        arg(format!(
            "auto(metadata, engine): expected an engine as the second argument, got {}",
            engine.type_name()
        ))
    })?;
    let report = auto(&engine, &md).lua()?;
    let t = lua.create_table()?;
    t.raw_set("applied", report_list(lua, &report.applied)?)?;
    t.raw_set("skipped", report_list(lua, &report.skipped)?)?;
    Ok(t)
}

/// Adds `compare_metadata`, `render_upgrade`, `render_downgrade`, `render` and `auto` to
/// `module`.
pub fn register(lua: &Lua, module: &LuaTable) -> LuaResult<()> {
    module.set("auto", lua.create_function(auto_migrate)?)?;
    module.set("compare_metadata", lua.create_function(compare)?)?;
    module.set(
        "render_upgrade",
        lua.create_function(|_, (diffs, opts): (LuaValue, Option<LuaTable>)| {
            let d = diffs_of(&diffs, "render_upgrade")?;
            Ok(render_upgrade(&d, &indent_of(opts, "render_upgrade")?))
        })?,
    )?;
    module.set(
        "render_downgrade",
        lua.create_function(|_, (diffs, opts): (LuaValue, Option<LuaTable>)| {
            let d = diffs_of(&diffs, "render_downgrade")?;
            Ok(render_downgrade(&d, &indent_of(opts, "render_downgrade")?))
        })?,
    )?;
    module.set(
        "render",
        lua.create_function(|_, (diffs, opts): (LuaValue, Option<LuaTable>)| {
            let d = diffs_of(&diffs, "render")?;
            let indent = indent_of(opts, "render")?;
            Ok((render_upgrade(&d, &indent), render_downgrade(&d, &indent)))
        })?,
    )?;
    Ok(())
}
