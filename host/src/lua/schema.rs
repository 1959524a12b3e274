//! Schema objects as Lua values: types, `orm.Column` / `orm.Mapped` specs, foreign keys,
//! constraints, `orm.Table`, `orm.MetaData` and `orm.CreateTable`.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataFields, UserDataMethods,
    Value as LuaValue, Variadic,
};

use super::convert::lua_to_value;
use super::engine::engine_of;
use super::error::{arg, from_lua, IntoLuaResult, LuaResult};
use super::expr::{LuaExpr, LuaText};
use crate::schema::{
    Column, ColumnDefault, Constraint, DefaultContext, DefaultFn, ForeignKey, Index, MetaData,
    SqlType, Table,
};
use crate::sql::{ddl, Expr};
use crate::value::Value;

/// A column type; callable to give it parameters: `orm.String(50)`, `orm.Numeric(10, 2)`.
#[derive(Clone)]
pub struct LuaType(pub SqlType);

impl UserData for LuaType {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
        // `orm.String():with_variant(orm.String(255), "mysql", "mariadb")`
        m.add_method(
            "with_variant",
            |_, this, (other, dialects): (LuaValue, Variadic<String>)| {
                let LuaValue::UserData(u) = &other else {
                    return Err(arg(format!(
                        "{}:with_variant(type, dialect, ...): expected a type, got {}",
                        this.0,
                        other.type_name()
                    )));
                };
                let other = u.borrow::<LuaType>()?.0.clone();
                if dialects.is_empty() {
                    return Err(arg(format!(
                        "{}:with_variant({other}): name at least one dialect",
                        this.0
                    )));
                }
                Ok(LuaType(this.0.with_variant(other, &dialects)))
            },
        );
        // the type's DDL on an engine's dialect (the generic name without one)
        m.add_method("compile", |_, this, engine: Option<LuaValue>| {
            Ok(match engine.filter(|e| !e.is_nil()) {
                Some(e) => engine_of(&e)?.dialect().type_ddl(&this.0),
                None => this.0.to_string(),
            })
        });
        m.add_meta_method(MetaMethod::Call, |_, this, args: Variadic<LuaValue>| {
            let int = |i: usize| -> LuaResult<Option<u32>> {
                match args.get(i) {
                    None | Some(LuaValue::Nil) => Ok(None),
                    Some(LuaValue::Integer(n)) if *n > 0 => Ok(Some(*n as u32)),
                    Some(other) => Err(arg(format!(
                        "{}: expected a positive integer length, got {}",
                        this.0,
                        super::convert::lua_debug(other)
                    ))),
                }
            };
            Ok(LuaType(match &this.0 {
                SqlType::String(_) => SqlType::String(int(0)?),
                SqlType::Numeric(..) => SqlType::Numeric(int(0)?, int(1)?),
                SqlType::Enum(_) => {
                    let mut items = Vec::new();
                    for a in args.iter() {
                        match a {
                            LuaValue::String(s) => items.push(s.to_str()?.to_string()),
                            LuaValue::Table(t) => {
                                for v in t.sequence_values::<String>() {
                                    items.push(v?);
                                }
                            }
                            other => {
                                return Err(arg(format!(
                                    "orm.Enum: values must be strings, got {}",
                                    other.type_name()
                                )))
                            }
                        }
                    }
                    if items.is_empty() {
                        return Err(arg("orm.Enum needs at least one value"));
                    }
                    SqlType::Enum(Rc::from(items))
                }
                other => other.clone(),
            }))
        });
    }
}

static CREATION_COUNTER: AtomicU64 = AtomicU64::new(1);

/// The next number of the creation counter that `orm.Column(...)` and `orm.relationship(...)`
/// share, as SQLAlchemy's `_creation_order`: a Lua table does not keep the order in which a
/// model spec declares its attributes, so a model puts its columns and its relationships in
/// the order of these numbers (declaration order).
pub fn next_creation_order() -> u64 {
    CREATION_COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// `orm.Column(...)` / `orm.Mapped(...)` before it belongs to a table.
#[derive(Clone, Default)]
pub struct ColumnSpec {
    pub name: Option<String>,
    pub ty: Option<SqlType>,
    /// `orm.Mapped("str?")`: the annotation, resolved through the type_annotation_map.
    pub annotation: Option<String>,
    pub fks: Vec<ForeignKey>,
    pub primary_key: bool,
    pub nullable: Option<bool>,
    pub unique: bool,
    pub index: bool,
    pub autoincrement: Option<bool>,
    pub default: Option<LuaValue>,
    pub server_default: Option<String>,
    pub onupdate: Option<LuaValue>,
    pub key: Option<String>,
    pub order: u64,
}

#[derive(Clone)]
pub struct LuaColumnSpec(pub ColumnSpec);
impl UserData for LuaColumnSpec {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        // usable in expressions before its model exists (a column_property's)
        super::computed::add_column_spec_methods(m);
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "Column({:?}, {})",
                this.0.name.clone().unwrap_or_default(),
                this.0
                    .ty
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "?".into())
            ))
        });
    }
}

#[derive(Clone)]
pub struct LuaForeignKey(pub ForeignKey);
impl UserData for LuaForeignKey {}

#[derive(Clone)]
pub enum TableArg {
    Constraint(Constraint),
    Index(Index),
}
#[derive(Clone)]
pub struct LuaTableArg(pub TableArg);
impl UserData for LuaTableArg {}

pub(crate) fn server_default_sql(v: &LuaValue) -> LuaResult<String> {
    match v {
        LuaValue::String(s) => Ok(format!("'{}'", s.to_str()?.replace('\'', "''"))),
        LuaValue::Integer(i) => Ok(format!("'{i}'")),
        LuaValue::Number(n) => Ok(format!("'{n}'")),
        LuaValue::Boolean(b) => Ok(format!("'{}'", *b as i32)),
        LuaValue::UserData(ud) if ud.is::<LuaText>() => Ok(ud.borrow::<LuaText>()?.0.to_string()),
        LuaValue::UserData(ud) if ud.is::<LuaExpr>() => {
            let e = ud.borrow::<LuaExpr>()?.expr.clone();
            let c = crate::sql::compile(
                &crate::sql::Statement::Select(crate::sql::Select::new(vec![e])),
                crate::sql::dialect::default_dialect(),
            )
            .lua()?;
            if !c.params.is_empty() {
                return Err(arg(
                    "server_default: a SQL expression may not take bound values; use orm.text()",
                ));
            }
            Ok(format!("({})", c.sql.trim_start_matches("SELECT ")))
        }
        other => Err(arg(format!(
            "server_default: expected a string, orm.text() or a SQL function, got {}",
            other.type_name()
        ))),
    }
}

/// The options `orm.Column` / `orm.Mapped` take.
const COLUMN_OPTIONS: &[&str] = &[
    "primary_key",
    "nullable",
    "unique",
    "index",
    "autoincrement",
    "default",
    "onupdate",
    "server_default",
    "name",
    "key",
    "comment",
    "doc",
    "info",
];

/// The keys of a table's trailing options (`orm.Table(..., { comment = ... })`,
/// `__table_args__`): only descriptions; no dialect option is supported.
pub const TABLE_OPTIONS: &[&str] = &["comment", "info"];

fn apply_options(spec: &mut ColumnSpec, t: &mlua::Table) -> LuaResult<()> {
    for pair in t.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        let flag = || -> LuaResult<bool> {
            match &v {
                LuaValue::Boolean(b) => Ok(*b),
                other => Err(arg(format!(
                    "Column option '{k}' expects a boolean, got {}",
                    other.type_name()
                ))),
            }
        };
        match k.as_str() {
            "primary_key" => spec.primary_key = flag()?,
            "nullable" => spec.nullable = Some(flag()?),
            "unique" => spec.unique = flag()?,
            "index" => spec.index = flag()?,
            "autoincrement" => spec.autoincrement = Some(flag()?),
            "default" => spec.default = Some(v),
            "onupdate" => spec.onupdate = Some(v),
            "server_default" => spec.server_default = Some(server_default_sql(&v)?),
            "name" => {
                spec.name = Some(
                    String::from_utf8_lossy(&mlua::LuaString::from_lua_value(&v)?.as_bytes())
                        .into_owned(),
                )
            }
            "key" => {
                spec.key = Some(
                    String::from_utf8_lossy(&mlua::LuaString::from_lua_value(&v)?.as_bytes())
                        .into_owned(),
                )
            }
            "comment" | "doc" | "info" => {}
            other => {
                return Err(super::options::unknown_option(
                    "orm.Column",
                    other,
                    COLUMN_OPTIONS,
                ))
            }
        }
    }
    Ok(())
}

trait FromLuaValue: Sized {
    fn from_lua_value(v: &LuaValue) -> LuaResult<Self>;
}
impl FromLuaValue for mlua::LuaString {
    fn from_lua_value(v: &LuaValue) -> LuaResult<Self> {
        match v {
            LuaValue::String(s) => Ok(s.clone()),
            other => Err(arg(format!("expected a string, got {}", other.type_name()))),
        }
    }
}

/// Reads `orm.Column`'s positional arguments: name, type, foreign keys, options table.
fn column_spec(args: &[LuaValue], mapped: Option<String>) -> LuaResult<ColumnSpec> {
    let mut spec = ColumnSpec {
        order: next_creation_order(),
        annotation: mapped,
        ..Default::default()
    };
    for (i, a) in args.iter().enumerate() {
        match a {
            LuaValue::String(s) if i == 0 && spec.annotation.is_none() => {
                spec.name = Some(s.to_str()?.to_string())
            }
            LuaValue::UserData(ud) if ud.is::<LuaType>() => {
                spec.ty = Some(ud.borrow::<LuaType>()?.0.clone())
            }
            LuaValue::UserData(ud) if ud.is::<LuaForeignKey>() => {
                spec.fks.push(ud.borrow::<LuaForeignKey>()?.0.clone())
            }
            LuaValue::Table(t) => apply_options(&mut spec, t)?,
            LuaValue::Nil => {}
            other => {
                return Err(arg(format!(
                    "orm.Column: unexpected argument {} of type {}",
                    i + 1,
                    other.type_name()
                )))
            }
        }
    }
    Ok(spec)
}

/// A default computed by a Lua function at flush: `default = function(ctx) ... end`.
struct LuaDefault {
    func: mlua::Function,
    lua: mlua::WeakLua,
    kind: crate::schema::ValueKind,
    what: String,
}

impl DefaultFn for LuaDefault {
    fn call(&self, ctx: &DefaultContext<'_>) -> crate::error::Result<Value> {
        let lua = self
            .lua
            .try_upgrade()
            .ok_or_else(|| crate::error::Error::invalid("the Lua state is gone"))?;
        let context = || -> LuaResult<mlua::Table> {
            let params = lua.create_table()?;
            for (k, v) in ctx.params {
                params.raw_set(
                    k.as_str(),
                    super::convert::value_to_lua(&lua, v, crate::schema::ValueKind::Any)?,
                )?;
            }
            let c = lua.create_table()?;
            c.raw_set("current_parameters", params.clone())?;
            c.raw_set(
                "get_current_parameters",
                lua.create_function(move |_, _: LuaValue| Ok(params.clone()))?,
            )?;
            Ok(c)
        };
        let c = context().map_err(from_lua)?;
        // called as a listener is: what it raises reaches the caller unchanged
        let v = super::events::call(
            &lua,
            &self.func,
            MultiValue::from_vec(vec![LuaValue::Table(c)]),
        )?
        .pop_front()
        .unwrap_or(LuaValue::Nil);
        lua_to_value(&lua, &v, self.kind, &|| self.what.clone()).map_err(from_lua)
    }
}

fn default_of(lua: &Lua, v: &LuaValue, ty: &SqlType, what: &str) -> LuaResult<ColumnDefault> {
    Ok(match v {
        LuaValue::Function(f) => {
            super::events::raise_values_from_now_on(lua)?;
            ColumnDefault::Callable(Rc::new(LuaDefault {
                func: f.clone(),
                lua: lua.weak(),
                kind: ty.kind(),
                what: what.to_string(),
            }))
        }
        LuaValue::UserData(ud) if ud.is::<LuaExpr>() => {
            ColumnDefault::Sql(ud.borrow::<LuaExpr>()?.expr.clone())
        }
        LuaValue::UserData(ud) if ud.is::<LuaText>() => {
            ColumnDefault::Sql(Expr::Text(ud.borrow::<LuaText>()?.0.clone()))
        }
        other => ColumnDefault::Value(lua_to_value(lua, other, ty.kind(), &|| what.to_string())?),
    })
}

impl ColumnSpec {
    /// The column, with its type resolved (annotation map, or the referenced column's type).
    pub fn build(
        &self,
        lua: &Lua,
        key: &str,
        type_map: &HashMap<String, SqlType>,
        metadata: &MetaData,
        owner: &str,
    ) -> LuaResult<Column> {
        let name = self.name.clone().unwrap_or_else(|| key.to_string());
        let what = format!("{owner}.{key}");
        let mut nullable = self.nullable;
        let ty = match (&self.ty, &self.annotation) {
            (Some(t), _) => t.clone(),
            (None, Some(ann)) => {
                let (base, optional) = match ann.strip_suffix('?') {
                    Some(b) => (b.trim(), true),
                    None => (ann.trim(), false),
                };
                if nullable.is_none() {
                    nullable = Some(optional);
                }
                type_map
                    .get(base)
                    .cloned()
                    .or_else(|| SqlType::from_annotation(base))
                    .ok_or_else(|| arg(format!("{what}: could not locate SQLAlchemy Core type for annotation '{base}' (add it to type_annotation_map)")))?
            }
            (None, None) => match self.fks.first() {
                Some(fk) => {
                    let (t, c) = fk.target_parts();
                    metadata
                        .get(t)
                        .and_then(|t| t.column(c).map(|c| c.ty.clone()))
                        .unwrap_or(SqlType::Integer)
                }
                None => return Err(arg(format!("{what}: orm.Column needs a type"))),
            },
        };
        let mut col = Column::new(&name, ty.clone());
        col.key = self.key.clone().unwrap_or_else(|| key.to_string());
        col.primary_key = self.primary_key;
        col.nullable = if self.primary_key {
            false
        } else {
            nullable.unwrap_or(true)
        };
        col.unique = self.unique;
        col.index = self.index;
        col.autoincrement = self.autoincrement;
        col.server_default = self.server_default.clone();
        col.foreign_keys = self.fks.clone();
        col.order = self.order;
        if let Some(d) = &self.default {
            col.default = Some(default_of(lua, d, &ty, &what)?);
        }
        if let Some(d) = &self.onupdate {
            col.onupdate = Some(default_of(lua, d, &ty, &what)?);
        }
        Ok(col)
    }
}

pub fn table_arg(v: &LuaValue, owner: &str) -> LuaResult<Option<TableArg>> {
    match v {
        LuaValue::UserData(ud) if ud.is::<LuaTableArg>() => {
            Ok(Some(ud.borrow::<LuaTableArg>()?.0.clone()))
        }
        // a trailing dict of table options
        LuaValue::Table(t) => {
            super::options::check_keys(t, TABLE_OPTIONS, owner, false)?;
            Ok(None)
        }
        other => Err(arg(format!(
            "{owner}: __table_args__ holds constraints and indexes, got {}",
            other.type_name()
        ))),
    }
}

/// A Table as a Lua value.
#[derive(Clone)]
pub struct LuaTableObj(pub Rc<Table>);

fn column_expr(lua: &Lua, t: &Rc<Table>, i: usize) -> LuaResult<AnyUserData> {
    lua.create_userdata(LuaExpr::new(Expr::core_column(t, i)))
}

impl UserData for LuaTableObj {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("name", |_, this| Ok(this.0.name.clone()));
        f.add_field_method_get("c", |lua, this| {
            let t = lua.create_table()?;
            for (i, c) in this.0.columns.iter().enumerate() {
                t.raw_set(c.name.as_str(), column_expr(lua, &this.0, i)?)?;
            }
            Ok(t)
        });
        f.add_field_method_get("columns", |lua, this| {
            let t = lua.create_table()?;
            for (i, c) in this.0.columns.iter().enumerate() {
                let info = lua.create_table()?;
                info.raw_set("name", c.name.as_str())?;
                info.raw_set("key", c.key.as_str())?;
                info.raw_set("type", LuaType(c.ty.clone()))?;
                info.raw_set("primary_key", c.primary_key)?;
                info.raw_set("nullable", c.nullable)?;
                info.raw_set("expr", column_expr(lua, &this.0, i)?)?;
                t.raw_set(i + 1, info)?;
            }
            Ok(t)
        });
        f.add_field_method_get("primary_key", |lua, this| {
            lua.create_sequence_from(
                this.0
                    .primary_key()
                    .iter()
                    .map(|&i| this.0.columns[i].name.clone()),
            )
        });
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
    }
}

pub struct LuaMetaData(pub Rc<MetaData>);

/// Schema objects keep one Lua value each (`User.__table__ == User.__table__`, as in
/// SQLAlchemy): a cache keyed by the Rust object's address.
struct SchemaValues(mlua::Table);

fn cached<T: 'static>(
    lua: &Lua,
    rc: &Rc<T>,
    make: impl FnOnce() -> LuaResult<AnyUserData>,
) -> LuaResult<AnyUserData> {
    if lua.app_data_ref::<SchemaValues>().is_none() {
        lua.set_app_data(SchemaValues(lua.create_table()?));
    }
    let cache = lua
        .app_data_ref::<SchemaValues>()
        .expect("set above")
        .0
        .clone();
    let key = mlua::LightUserData(Rc::as_ptr(rc) as *mut std::ffi::c_void);
    if let Some(ud) = cache.raw_get::<Option<AnyUserData>>(key)? {
        return Ok(ud);
    }
    let ud = make()?;
    cache.raw_set(key, ud.clone())?;
    Ok(ud)
}

/// The one Lua value of a table.
pub fn table_value(lua: &Lua, t: &Rc<Table>) -> LuaResult<AnyUserData> {
    cached(lua, t, || lua.create_userdata(LuaTableObj(t.clone())))
}

/// The one Lua value of a MetaData.
pub fn metadata_value(lua: &Lua, md: &Rc<MetaData>) -> LuaResult<AnyUserData> {
    cached(lua, md, || lua.create_userdata(LuaMetaData(md.clone())))
}

fn each_table_ddl(
    engine: &crate::engine::Engine,
    tables: &[Rc<Table>],
    create: bool,
) -> crate::error::Result<()> {
    let conn = engine.connect()?;
    let owner = conn.begin()?;
    let d = engine.dialect();
    // tables that reference each other (a cycle, which the dependency order cannot break):
    // where CREATE TABLE checks foreign keys, a key to a table created later comes by
    // ALTER TABLE once both exist (SQLAlchemy's use_alter), and goes first on drop
    let creation_index = |name: &str| {
        let i = tables.iter().position(|t| t.name == name)?;
        Some(if create { i } else { tables.len() - 1 - i })
    };
    let deferred = |t: &Table| -> Vec<String> {
        if !d.checks_foreign_keys_at_create() {
            return Vec::new();
        }
        let me = creation_index(&t.name);
        t.referenced_tables()
            .into_iter()
            .filter(|r| *r != t.name && creation_index(r) > me)
            .collect()
    };
    let run = || -> crate::error::Result<()> {
        let mut created = Vec::new();
        if !create {
            for t in tables {
                if !deferred(t).is_empty() && conn.has_table(&t.name)? {
                    for target in deferred(t) {
                        for sql in ddl::drop_foreign_keys(t, d, &target) {
                            conn.execute(&sql, &[])?;
                        }
                    }
                }
            }
        }
        for t in tables {
            let exists = conn.has_table(&t.name)?;
            if create && !exists {
                let later = deferred(t);
                let later: Vec<&str> = later.iter().map(String::as_str).collect();
                let sql = ddl::create_table_deferring(t, d, &later);
                conn.execute(&sql, &[])?;
                for ix in ddl::create_indexes(t, d) {
                    conn.execute(&ix, &[])?;
                }
                created.push(t);
            } else if !create && exists {
                conn.execute(&ddl::drop_table(t, d), &[])?;
            }
        }
        for t in created {
            for target in deferred(t) {
                for sql in ddl::add_foreign_keys(t, d, &target) {
                    conn.execute(&sql, &[])?;
                }
            }
        }
        Ok(())
    };
    let result = run();
    if owner == crate::engine::connection::TxOwnership::Owner {
        match &result {
            Ok(()) => conn.commit()?,
            Err(_) => conn.rollback()?,
        }
    }
    result
}

impl UserData for LuaMetaData {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("tables", |lua, this| {
            let t = lua.create_table()?;
            for table in this.0.tables() {
                t.raw_set(table.name.clone(), table_value(lua, &table)?)?;
            }
            Ok(t)
        });
        f.add_field_method_get("sorted_tables", |lua, this| {
            lua.create_sequence_from(this.0.sorted_tables().into_iter().map(LuaTableObj))
        });
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("create_all", |_, this, engine: LuaValue| {
            let e = engine_of(&engine)?;
            each_table_ddl(&e, &this.0.sorted_tables(), true).lua()
        });
        m.add_method(
            "reflect",
            |lua, this, (engine, options): (LuaValue, Option<mlua::Table>)| {
                let e = engine_of(&engine)?;
                super::inspector::reflect_metadata(lua, &this.0, &e, options)
            },
        );
        m.add_method("drop_all", |_, this, engine: LuaValue| {
            let e = engine_of(&engine)?;
            let mut tables = this.0.sorted_tables();
            tables.reverse();
            each_table_ddl(&e, &tables, false).lua()
        });
    }
}

pub struct LuaCreateTable(pub Rc<Table>);
impl UserData for LuaCreateTable {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("compile", |_, this, engine: Option<LuaValue>| {
            let mut out = match engine.filter(|e| !e.is_nil()) {
                Some(e) => ddl::create_table(&this.0, engine_of(&e)?.dialect()),
                None => ddl::create_table(&this.0, crate::sql::dialect::default_dialect()),
            };
            out.push_str("\n\n");
            Ok(out)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(ddl::create_table(
                &this.0,
                crate::sql::dialect::default_dialect(),
            ))
        });
    }
}

fn string_list(v: &LuaValue, what: &str) -> LuaResult<Vec<String>> {
    match v {
        LuaValue::String(s) => Ok(vec![s.to_str()?.to_string()]),
        LuaValue::Table(t) => t.sequence_values::<String>().collect(),
        other => Err(arg(format!(
            "{what}: expected column names, got {}",
            other.type_name()
        ))),
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    for (name, ty) in [
        ("Integer", SqlType::Integer),
        ("BigInteger", SqlType::BigInteger),
        ("SmallInteger", SqlType::SmallInteger),
        ("String", SqlType::String(None)),
        ("Text", SqlType::Text),
        ("Float", SqlType::Float),
        ("Numeric", SqlType::Numeric(None, None)),
        ("Boolean", SqlType::Boolean),
        ("Date", SqlType::Date),
        ("DateTime", SqlType::DateTime),
        ("Time", SqlType::Time),
        ("LargeBinary", SqlType::LargeBinary),
        ("JSON", SqlType::Json),
        ("Enum", SqlType::Enum(Rc::from(Vec::<String>::new()))),
    ] {
        orm.set(name, LuaType(ty))?;
    }
    orm.set(
        "Column",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            Ok(LuaColumnSpec(column_spec(&args, None)?))
        })?,
    )?;
    orm.set(
        "Mapped",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            let ann = match args.first() {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                _ => return Err(arg("orm.Mapped expects an annotation string first: orm.Mapped(\"str\"), orm.Mapped(\"int?\")")),
            };
            Ok(LuaColumnSpec(column_spec(&args[1..], Some(ann))?))
        })?,
    )?;
    orm.set(
        "ForeignKey",
        lua.create_function(|_, (target, opts): (String, Option<mlua::Table>)| {
            if let Some(o) = &opts {
                super::options::check_keys(
                    o,
                    &["name", "ondelete", "onupdate"],
                    &format!("orm.ForeignKey('{target}')"),
                    false,
                )?;
            }
            if !target.contains('.') {
                return Err(arg(format!(
                    "orm.ForeignKey('{target}'): expected 'table.column'"
                )));
            }
            let get = |k: &str| -> LuaResult<Option<String>> {
                Ok(match &opts {
                    Some(t) => t.get(k)?,
                    None => None,
                })
            };
            Ok(LuaForeignKey(ForeignKey {
                target,
                name: get("name")?,
                ondelete: get("ondelete")?,
                onupdate: get("onupdate")?,
            }))
        })?,
    )?;
    orm.set(
        "UniqueConstraint",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            let (cols, name) = names_and_name(&args, "UniqueConstraint")?;
            Ok(LuaTableArg(TableArg::Constraint(Constraint::Unique {
                name,
                columns: cols,
            })))
        })?,
    )?;
    orm.set(
        "PrimaryKeyConstraint",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            let (cols, name) = names_and_name(&args, "PrimaryKeyConstraint")?;
            Ok(LuaTableArg(TableArg::Constraint(Constraint::PrimaryKey {
                name,
                columns: cols,
            })))
        })?,
    )?;
    orm.set(
        "CheckConstraint",
        lua.create_function(|_, (sql, opts): (String, Option<mlua::Table>)| {
            let name = match opts {
                Some(t) => {
                    super::options::check_keys(&t, &["name"], "orm.CheckConstraint", false)?;
                    t.get("name")?
                }
                None => None,
            };
            Ok(LuaTableArg(TableArg::Constraint(Constraint::Check {
                name,
                sql,
            })))
        })?,
    )?;
    orm.set(
        "ForeignKeyConstraint",
        lua.create_function(
            |_, (cols, refs, opts): (LuaValue, LuaValue, Option<mlua::Table>)| {
                let columns = string_list(&cols, "ForeignKeyConstraint")?;
                let refs = string_list(&refs, "ForeignKeyConstraint")?;
                let mut target_table = String::new();
                let mut target_columns = Vec::new();
                for r in refs {
                    let (t, c) = r.rsplit_once('.').ok_or_else(|| {
                        arg(format!("ForeignKeyConstraint: '{r}' is not 'table.column'"))
                    })?;
                    target_table = t.to_string();
                    target_columns.push(c.to_string());
                }
                if let Some(o) = &opts {
                    super::options::check_keys(
                        o,
                        &["name", "ondelete", "onupdate"],
                        "orm.ForeignKeyConstraint",
                        false,
                    )?;
                }
                let get = |k: &str| -> LuaResult<Option<String>> {
                    Ok(match &opts {
                        Some(t) => t.get(k)?,
                        None => None,
                    })
                };
                Ok(LuaTableArg(TableArg::Constraint(Constraint::ForeignKey {
                    name: get("name")?,
                    columns,
                    target_table,
                    target_columns,
                    ondelete: get("ondelete")?,
                    onupdate: get("onupdate")?,
                })))
            },
        )?,
    )?;
    orm.set(
        "Index",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            let name = match args.first() {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                _ => {
                    return Err(arg(
                        "orm.Index expects a name first: orm.Index(\"ix_name\", \"col\", ...)",
                    ))
                }
            };
            let mut cols = Vec::new();
            let mut unique = false;
            for a in &args[1..] {
                match a {
                    LuaValue::String(s) => cols.push(s.to_str()?.to_string()),
                    LuaValue::UserData(ud) if ud.is::<LuaExpr>() => {
                        if let Expr::Column(c) = &ud.borrow::<LuaExpr>()?.expr {
                            cols.push(c.name().to_string());
                        }
                    }
                    LuaValue::Table(t) => {
                        super::options::check_keys(
                            t,
                            &["unique"],
                            &format!("orm.Index('{name}')"),
                            false,
                        )?;
                        unique = t.get::<Option<bool>>("unique")?.unwrap_or(false)
                    }
                    other => {
                        return Err(arg(format!(
                            "orm.Index('{name}'): unexpected {}",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(LuaTableArg(TableArg::Index(Index {
                name,
                columns: cols,
                unique,
            })))
        })?,
    )?;
    orm.set(
        "MetaData",
        lua.create_function(|lua, ()| metadata_value(lua, &MetaData::new()))?,
    )?;
    orm.set(
        "Table",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            let name = match args.first() {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                _ => {
                    return Err(arg(
                        "orm.Table expects a name first: orm.Table(name, metadata, columns...)",
                    ))
                }
            };
            let md = match args.get(1) {
                Some(LuaValue::UserData(ud)) if ud.is::<LuaMetaData>() => {
                    ud.borrow::<LuaMetaData>()?.0.clone()
                }
                _ => {
                    return Err(arg(format!(
                        "orm.Table('{name}'): the second argument must be a MetaData"
                    )))
                }
            };
            // `{ autoload_with = engine }`: the table as the database has it
            for a in &args[2..] {
                if let LuaValue::Table(t) = a {
                    if let Some(engine) = super::inspector::autoload_engine(t, &name)? {
                        let table = super::inspector::reflect_into(&engine, &md, &name)?;
                        return table_value(lua, &table);
                    }
                }
            }
            let mut columns = Vec::new();
            let mut constraints = Vec::new();
            let mut indexes = Vec::new();
            for a in &args[2..] {
                match a {
                    LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => {
                        let spec = ud.borrow::<LuaColumnSpec>()?.0.clone();
                        let cname = spec.name.clone().ok_or_else(|| {
                            arg(format!("orm.Table('{name}'): each Column needs a name"))
                        })?;
                        columns.push(spec.build(lua, &cname, &HashMap::new(), &md, &name)?);
                    }
                    other => match table_arg(other, &format!("orm.Table('{name}')"))? {
                        Some(TableArg::Constraint(c)) => constraints.push(c),
                        Some(TableArg::Index(i)) => indexes.push(i),
                        None => {}
                    },
                }
            }
            let table = Rc::new(Table::new(&name, columns, constraints, indexes).lua()?);
            md.add(table.clone()).lua()?;
            table_value(lua, &table)
        })?,
    )?;
    orm.set(
        "CreateTable",
        lua.create_function(|_, t: LuaValue| match &t {
            LuaValue::UserData(ud) if ud.is::<LuaTableObj>() => {
                Ok(LuaCreateTable(ud.borrow::<LuaTableObj>()?.0.clone()))
            }
            other => Err(arg(format!(
                "orm.CreateTable expects a Table (Model.__table__), got {}",
                other.type_name()
            ))),
        })?,
    )?;
    Ok(())
}

fn names_and_name(args: &[LuaValue], what: &str) -> LuaResult<(Vec<String>, Option<String>)> {
    let mut cols = Vec::new();
    let mut name = None;
    for a in args {
        match a {
            LuaValue::String(s) => cols.push(s.to_str()?.to_string()),
            LuaValue::Table(t) => {
                super::options::check_keys(t, &["name"], &format!("orm.{what}"), false)?;
                name = t.get("name")?
            }
            other => {
                return Err(arg(format!(
                    "{what}: expected column names, got {}",
                    other.type_name()
                )))
            }
        }
    }
    if cols.is_empty() {
        return Err(arg(format!("{what} needs at least one column")));
    }
    Ok((cols, name))
}
