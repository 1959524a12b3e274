//! `orm.inspect(engine)`: the Inspector as a Lua value, each method returning plain Lua
//! tables in SQLAlchemy's shapes (a name the database does not give is absent, Lua's
//! `nil`); `metadata:reflect(engine)` and `orm.Table(name, metadata, { autoload_with })`
//! build tables from it.

use std::rc::Rc;

use mlua::{Lua, Table as LuaTable, UserData, UserDataMethods, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::schema::{table_value, LuaType};
use crate::engine::reflection::{reflect_table, Inspector, ReflectedIndex};
use crate::engine::Engine;
use crate::schema::{MetaData, Table};

pub struct LuaInspector(pub Rc<Inspector>);

fn names(lua: &Lua, v: &[String]) -> LuaResult<LuaTable> {
    lua.create_sequence_from(v.iter().map(String::as_str))
}

fn index_list(lua: &Lua, v: Vec<ReflectedIndex>, with_unique: bool) -> LuaResult<LuaTable> {
    let out = lua.create_table()?;
    for (i, ix) in v.into_iter().enumerate() {
        let t = lua.create_table()?;
        t.raw_set("name", ix.name)?;
        t.raw_set("column_names", names(lua, &ix.columns)?)?;
        if with_unique {
            t.raw_set("unique", ix.unique)?;
        }
        out.raw_set(i + 1, t)?;
    }
    Ok(out)
}

impl UserData for LuaInspector {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("get_table_names", |lua, this, ()| {
            names(lua, &this.0.table_names().lua()?)
        });
        m.add_method("has_table", |_, this, name: String| {
            this.0.has_table(&name).lua()
        });
        m.add_method("get_columns", |lua, this, table: String| {
            let out = lua.create_table()?;
            for (i, c) in this.0.columns(&table).lua()?.into_iter().enumerate() {
                let t = lua.create_table()?;
                t.raw_set("name", c.name)?;
                t.raw_set("type", LuaType(c.ty))?;
                t.raw_set("nullable", c.nullable)?;
                t.raw_set("default", c.default)?;
                t.raw_set("primary_key", c.primary_key)?;
                t.raw_set("autoincrement", c.autoincrement)?;
                out.raw_set(i + 1, t)?;
            }
            Ok(out)
        });
        m.add_method("get_pk_constraint", |lua, this, table: String| {
            let pk = this.0.pk_constraint(&table).lua()?;
            let t = lua.create_table()?;
            t.raw_set("constrained_columns", names(lua, &pk.columns)?)?;
            t.raw_set("name", pk.name)?;
            Ok(t)
        });
        m.add_method("get_foreign_keys", |lua, this, table: String| {
            let out = lua.create_table()?;
            for (i, fk) in this.0.foreign_keys(&table).lua()?.into_iter().enumerate() {
                let t = lua.create_table()?;
                t.raw_set("name", fk.name)?;
                t.raw_set("constrained_columns", names(lua, &fk.columns)?)?;
                t.raw_set("referred_table", fk.referred_table)?;
                t.raw_set("referred_columns", names(lua, &fk.referred_columns)?)?;
                let options = lua.create_table()?;
                options.raw_set("ondelete", fk.ondelete)?;
                options.raw_set("onupdate", fk.onupdate)?;
                t.raw_set("options", options)?;
                out.raw_set(i + 1, t)?;
            }
            Ok(out)
        });
        m.add_method("get_indexes", |lua, this, table: String| {
            index_list(lua, this.0.indexes(&table).lua()?, true)
        });
        m.add_method("get_unique_constraints", |lua, this, table: String| {
            index_list(lua, this.0.unique_constraints(&table).lua()?, false)
        });
        m.add_method("get_check_constraints", |lua, this, table: String| {
            let out = lua.create_table()?;
            for (i, ck) in this
                .0
                .check_constraints(&table)
                .lua()?
                .into_iter()
                .enumerate()
            {
                let t = lua.create_table()?;
                t.raw_set("name", ck.name)?;
                t.raw_set("sqltext", ck.sqltext)?;
                out.raw_set(i + 1, t)?;
            }
            Ok(out)
        });
    }
}

/// `orm.inspect(engine)`.
pub fn inspector_value(lua: &Lua, engine: Engine) -> LuaResult<LuaValue> {
    Ok(LuaValue::UserData(lua.create_userdata(LuaInspector(
        Rc::new(Inspector::new(engine)),
    ))?))
}

/// Reflects `name` into `metadata` (the table already there is returned as it is, as
/// SQLAlchemy's MetaData keeps one Table per name), and the tables its foreign keys refer
/// to, as SQLAlchemy's `resolve_fks` does.
pub fn reflect_into(engine: &Engine, metadata: &MetaData, name: &str) -> LuaResult<Rc<Table>> {
    if let Some(t) = metadata.get(name) {
        return Ok(t);
    }
    let inspector = Inspector::new(engine.clone());
    let table = Rc::new(reflect_table(&inspector, name).lua()?);
    metadata.add(table.clone()).lua()?;
    for referred in table.referenced_tables() {
        reflect_into(engine, metadata, &referred)?;
    }
    Ok(table)
}

/// `metadata:reflect(engine [, { only = { ... } }])`: every table of the database, or the
/// ones named, in the metadata.
pub fn reflect_metadata(
    lua: &Lua,
    metadata: &MetaData,
    engine: &Engine,
    options: Option<LuaTable>,
) -> LuaResult<()> {
    let inspector = Inspector::new(engine.clone());
    let available = inspector.table_names().lua()?;
    let only: Option<Vec<String>> = match &options {
        Some(t) => {
            super::options::check_keys(t, &["only"], "MetaData:reflect", false)?;
            t.get::<Option<Vec<String>>>("only")?
        }
        None => None,
    };
    let wanted = match only {
        Some(only) => {
            let missing: Vec<&str> = only
                .iter()
                .filter(|n| !available.contains(n))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(super::error::kind_err(
                    crate::error::ErrorKind::InvalidRequestError,
                    format!(
                        "Could not reflect: requested table(s) not available in {}: ({})",
                        engine.url(),
                        missing.join(", ")
                    ),
                ));
            }
            only
        }
        None => available,
    };
    for name in &wanted {
        let t = reflect_into(engine, metadata, name)?;
        table_value(lua, &t)?;
    }
    Ok(())
}

/// Checks the options table of `orm.Table(name, metadata, { autoload_with = engine })`.
pub fn autoload_engine(t: &LuaTable, table: &str) -> LuaResult<Option<Engine>> {
    match t.get::<LuaValue>("autoload_with")? {
        LuaValue::Nil => Ok(None),
        v => super::engine::engine_of(&v).map(Some).map_err(|_| {
            arg(format!(
                "orm.Table('{table}'): autoload_with must be an engine"
            ))
        }),
    }
}
