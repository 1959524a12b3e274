//! The session as a Lua value, `orm.Session`, `orm.sessionmaker`, and the identity sets of
//! `session.new / dirty / deleted`.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{
    AnyUserData, Lua, MetaMethod, UserData, UserDataFields, UserDataMethods, Value as LuaValue,
    Variadic,
};

use super::convert::lua_to_value;
use super::engine::engine_of;
use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::LuaText;
use super::instance::{expect_instance, instance_of, instances_of, push_instance};
use super::model::mapper_of;
use super::result::ResultSet;
use super::statement::{LuaInsert, LuaQuery, LuaSelect};
use crate::engine::Engine;
use crate::orm::query::Rows;
use crate::orm::session::SessionCore;
use crate::orm::session_binds::Binds;
use crate::orm::{Instance, Mapper, OrmSelect, Session, SessionConfig};
use crate::schema::ColumnDefault;
use crate::sql::{Expr, Insert, Statement};
use crate::value::Value;

pub struct LuaSession {
    /// Dropped by `Drop` below, inside `Finalizing`.
    pub core: std::mem::ManuallyDrop<Session>,
    pub info: mlua::Table,
}

impl Drop for LuaSession {
    fn drop(&mut self) {
        // the garbage collector took the session: its core rolls back what is open without
        // calling the script's echo function from inside the collector
        let _finalizing = super::engine::Finalizing::enter();
        unsafe { std::mem::ManuallyDrop::drop(&mut self.core) }
    }
}

/// Session objects by core pointer (weak values), so `inspect(obj).session` finds the
/// Lua value of an object's session.
struct SessionIndex(mlua::Table);

pub fn session_value(lua: &Lua, s: &Rc<SessionCore>) -> LuaResult<LuaValue> {
    match lua.app_data_ref::<SessionIndex>() {
        Some(idx) => idx.0.raw_get(LuaValue::LightUserData(mlua::LightUserData(
            Rc::as_ptr(s) as *mut _
        ))),
        None => Ok(LuaValue::Nil),
    }
}

pub fn session_of(ud: &AnyUserData) -> LuaResult<mlua::UserDataRef<LuaSession>> {
    ud.borrow::<LuaSession>()
}

fn new_session(lua: &Lua, bind: Option<Engine>, config: SessionConfig) -> LuaResult<AnyUserData> {
    let core = Session::new(bind, config);
    let ptr = Rc::as_ptr(&core.0) as *mut std::ffi::c_void;
    let ud = lua.create_userdata(LuaSession {
        core: std::mem::ManuallyDrop::new(core),
        info: lua.create_table()?,
    })?;
    super::fast_get::register(lua, &ud, ptr as *const crate::orm::session::SessionCore)?;
    if let Some(idx) = lua.app_data_ref::<SessionIndex>() {
        idx.0.raw_set(
            LuaValue::LightUserData(mlua::LightUserData(ptr)),
            ud.clone(),
        )?;
    }
    Ok(ud)
}

/// `session:get(Model, pk)` with a scalar or, for composite keys, a list.
pub fn get(
    lua: &Lua,
    session: &AnyUserData,
    mapper: &Rc<Mapper>,
    pk: LuaValue,
    options: &[crate::orm::strategy_options::LoaderOption],
) -> LuaResult<LuaValue> {
    super::relationship::ensure_configured(lua, [mapper])?;
    let values: Vec<LuaValue> = match &pk {
        // `{ a = 1, b = 2 }`: the key by attribute name, as SQLAlchemy's dict form
        LuaValue::Table(t) if t.raw_len() == 0 && !t.is_empty() => {
            for pair in t.pairs::<LuaValue, LuaValue>() {
                let (k, _) = pair?;
                let named_pk = match &k {
                    LuaValue::String(s) => {
                        let s = s.to_str()?;
                        mapper.pk.iter().any(|&i| mapper.attrs[i].key == *s)
                    }
                    _ => false,
                };
                if !named_pk {
                    return Err(arg(format!(
                        "session:get({}, {{...}}): {} is not a primary key attribute of {}",
                        mapper.class_name,
                        super::convert::lua_debug(&k),
                        mapper.class_name
                    )));
                }
            }
            mapper
                .pk
                .iter()
                .map(|&i| t.raw_get::<LuaValue>(mapper.attrs[i].key.as_str()))
                .collect::<LuaResult<_>>()?
        }
        LuaValue::Table(t) => t.sequence_values::<LuaValue>().collect::<LuaResult<_>>()?,
        LuaValue::Nil => {
            return Err(arg(format!(
                "session:get({}, nil): a primary key value is required",
                mapper.class_name
            )))
        }
        other => vec![other.clone()],
    };
    if mapper.pk.is_empty() {
        return Err(arg(format!(
            "session:get({}, ...): {} is an orm.AbstractConcreteBase without a primary key column of its own (declare it on the base to get by key through the union, or get a concrete class)",
            mapper.class_name, mapper.class_name
        )));
    }
    if values.len() != mapper.pk.len() {
        return Err(arg(format!(
            "session:get({}, ...): expected {} primary key value(s), got {}",
            mapper.class_name,
            mapper.pk.len(),
            values.len()
        )));
    }
    let mut key = Vec::with_capacity(values.len());
    for (v, &i) in values.iter().zip(&mapper.pk) {
        key.push(lua_to_value(lua, v, mapper.attrs[i].kind, &|| {
            mapper.attr_path(i)
        })?);
    }
    let s = session_of(session)?;
    let found = s.core.get_with(mapper, &key, options).lua()?;
    drop(s);
    match found {
        Some(inst) => push_instance(lua, &inst),
        None => Ok(LuaValue::Nil),
    }
}

/// `session:execute(orm.insert(Model), rows)`: one prepared statement for all rows with the
/// same keys, defaults filled in as the flush does.
fn bulk_insert(
    lua: &Lua,
    core: &SessionCore,
    ins: &LuaInsert,
    params: Option<LuaValue>,
    upsert: Option<&crate::sql::upsert::Upsert>,
) -> LuaResult<ResultSet> {
    let mapper = &ins.mapper;
    let table = &mapper.table;
    let params_given = matches!(&params, Some(LuaValue::Table(_)));
    // the rows: a list of tables, one table, or the statement's own `values`
    let (list, one) = match params {
        Some(LuaValue::Table(t)) if t.raw_len() > 0 => (Some(t), None),
        Some(LuaValue::Table(t)) => (None, Some(t)),
        Some(LuaValue::Nil) | None => (None, ins.values.clone()),
        Some(other) => {
            return Err(arg(format!(
                "orm.insert: parameters must be a table or a list of tables, got {}",
                other.type_name()
            )))
        }
    };
    let n = list
        .as_ref()
        .map(|l| l.raw_len())
        .unwrap_or(one.is_some() as usize);
    if n == 0 {
        return Err(arg(format!(
            "orm.insert({}): no rows to insert",
            mapper.class_name
        )));
    }
    let dict = |i: usize| -> LuaResult<mlua::Table> {
        match (&list, &one) {
            (Some(l), _) => l
                .raw_get::<mlua::Table>(i + 1)
                .map_err(|_| arg("orm.insert: parameters must be a list of tables")),
            (None, Some(t)) => Ok(t.clone()),
            (None, None) => unreachable!("n == 0 returned above"),
        }
    };
    // an INSERT of a mapped class autoflushes first; a plain Table's is a Core statement
    if !mapper.table_only {
        core.autoflush().lua()?;
    }
    // Runs of rows naming the same columns share a statement and go to the database in
    // chunks, so a large list is never converted all at once; rows keep their order.
    const CHUNK: usize = 1000;
    let mut total = 0;
    let mut returned: Option<Rows> = None;
    let returning = ins.returning.as_ref();
    let mut run: (Vec<usize>, Vec<Vec<Value>>) = (Vec::new(), Vec::new());
    // ORM bulk INSERT parameters (not the statement's own values) set the class's
    // discriminator when they leave it out, as SQLAlchemy's
    let with_identity = params_given;
    for i in 0..n {
        let (mut cols, mut values) = insert_row(lua, mapper, &dict(i)?)?;
        if with_identity {
            add_discriminator(mapper, &mut cols, &mut values);
        }
        if run.0 != cols || run.1.len() >= CHUNK {
            let done = std::mem::replace(&mut run, (cols, Vec::new()));
            total += insert_run(core, table, done, returning, upsert, &mut returned)?;
        }
        run.1.push(values);
    }
    total += insert_run(core, table, run, returning, upsert, &mut returned)?;
    Ok(ResultSet::from_outcome(returned, total))
}

/// One row of `orm.insert(Model)` parameters: the columns it names (by attribute key),
/// plus the defaults of the others, as the flush fills them in; in column order.
pub(crate) fn insert_row(
    lua: &Lua,
    mapper: &Rc<Mapper>,
    d: &mlua::Table,
) -> LuaResult<(Vec<usize>, Vec<Value>)> {
    let table = &mapper.table;
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
                let v = f
                    .call(&crate::schema::DefaultContext {
                        table: &table.name,
                        column: &col.name,
                        params: &params,
                    })
                    .lua()?;
                row.push((i, v));
            }
            _ => {}
        }
    }
    row.sort_by_key(|(c, _)| *c);
    let cols: Vec<usize> = row.iter().map(|(c, _)| *c).collect();
    let values: Vec<Value> = row.into_iter().map(|(_, v)| v).collect();
    Ok((cols, values))
}

/// Puts the class's discriminator value in an INSERT row (columns in order) that does not
/// name it.
pub(crate) fn add_discriminator(mapper: &Mapper, cols: &mut Vec<usize>, values: &mut Vec<Value>) {
    if let Some((on, v)) = mapper.discriminator() {
        if let Err(at) = cols.binary_search(&on) {
            cols.insert(at, on);
            values.insert(at, v.clone());
        }
    }
}

/// The result of an `orm.text` statement: its rows, or the rows it changed.
pub(crate) fn text_result(out: crate::engine::connection::TextOutcome) -> ResultSet {
    if out.names.is_empty() {
        ResultSet::with_rowcount(out.affected as i64)
    } else {
        ResultSet::new(crate::orm::query::Rows::of_values(&out.names, out.values))
    }
}

/// Executes one run of bulk-insert rows that name the same columns; with RETURNING, one
/// execution per row, its rows appended to `returned`.
fn insert_run(
    core: &SessionCore,
    table: &Rc<crate::schema::Table>,
    (cols, rows): (Vec<usize>, Vec<Vec<Value>>),
    returning: Option<&OrmSelect>,
    upsert: Option<&crate::sql::upsert::Upsert>,
    returned: &mut Option<Rows>,
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
    stmt.upsert = upsert.cloned();
    let Some(r) = returning else {
        return core.insert_sql_rows(&stmt, &rows).lua();
    };
    stmt.returning = r.select.columns.clone();
    let c = core.compile(&Statement::Insert(stmt)).lua()?;
    let conn = core.connection().lua()?;
    for row in &rows {
        let got = core.run_select(&conn, &c.sql, row, &r.columns).lua()?;
        match returned {
            Some(all) => all.items.extend(got.items),
            None => *returned = Some(got),
        }
    }
    Ok(rows.len())
}

fn execute(
    lua: &Lua,
    ud: &AnyUserData,
    stmt: &LuaValue,
    params: Option<LuaValue>,
) -> LuaResult<ResultSet> {
    if let LuaValue::UserData(st) = stmt {
        if let Ok(sel) = st.borrow::<LuaSelect>() {
            super::relationship::ensure_configured(lua, super::result::entities(&sel.q))?;
        }
    }
    let s = session_of(ud)?;
    let core = s.core.clone();
    drop(s);
    let LuaValue::UserData(st) = stmt else {
        return Err(arg(format!(
            "session:execute() expects a statement (orm.select, orm.insert, orm.text), got {}",
            stmt.type_name()
        )));
    };
    if let Ok(sel) = st.borrow::<LuaSelect>() {
        return Ok(ResultSet::new(core.execute_select(&sel.q).lua()?));
    }
    if let Ok(ins) = st.borrow::<LuaInsert>() {
        let _route = core.route_to(Some(&ins.mapper));
        return bulk_insert(lua, &core, &ins, params, None);
    }
    if let Ok(up) = st.borrow::<super::upsert::LuaDialectInsert>() {
        let _route = core.route_to(Some(&up.insert.mapper));
        return bulk_insert(lua, &core, &up.insert, params, Some(&up.upsert()));
    }
    if let Ok(text) = st.borrow::<LuaText>() {
        let conn = core.connection().lua()?;
        let (c, values) =
            super::convert::text_with_params(lua, &text.0, &params, conn.engine().dialect())?;
        let out = core.run_text(&c.sql, &values).lua()?;
        return Ok(text_result(out));
    }
    Err(arg(
        "session:execute() expects a statement (orm.select, orm.insert, orm.text)",
    ))
}

fn config_from(
    t: &mlua::Table,
    bind: &mut Option<Engine>,
    config: &mut SessionConfig,
    binds: &mut Option<Binds>,
) -> LuaResult<()> {
    for pair in t.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        match k.as_str() {
            // a connection bind is taken by orm.Session itself (`connection_bind`)
            "bind" if super::engine::connection_of(&v).is_some() => {}
            "bind" => *bind = Some(engine_of(&v)?),
            "join_transaction_mode" => {
                let LuaValue::String(name) = &v else {
                    return Err(arg(format!(
                        "orm.Session: join_transaction_mode must be {}, got {}",
                        crate::orm::session_bind::JoinMode::NAMES,
                        v.type_name()
                    )));
                };
                config.join_transaction_mode =
                    crate::orm::session_bind::JoinMode::parse(&name.to_str()?).lua()?;
            }
            "autoflush" => config.autoflush = v.as_boolean().unwrap_or(true),
            "expire_on_commit" => config.expire_on_commit = v.as_boolean().unwrap_or(true),
            "close_resets_only" => config.close_resets_only = v.as_boolean().unwrap_or(true),
            "binds" => *binds = Some(super::session_binds::parse_binds(&v)?),
            "autobegin" | "info" | "class_" => {}
            other => {
                return Err(super::options::unknown_option(
                    "orm.Session",
                    other,
                    &[
                        "bind",
                        "binds",
                        "join_transaction_mode",
                        "autoflush",
                        "expire_on_commit",
                        "close_resets_only",
                        "autobegin",
                        "info",
                        "class_",
                    ],
                ))
            }
        }
    }
    Ok(())
}

impl UserData for LuaSession {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        // the Lua-side methods (lua/prelude.lua) are the fallback of the methods table, looked
        // up by the VM itself
        f.add_meta_field_with(MetaMethod::Index, |lua| {
            super::extension_table(lua, "Session")
        });
        f.add_field_method_get("new", |_, this| Ok(IdentitySet(this.core.new_objects())));
        f.add_field_method_get("dirty", |_, this| {
            Ok(IdentitySet(this.core.dirty_objects()))
        });
        f.add_field_method_get("deleted", |_, this| {
            Ok(IdentitySet(this.core.deleted_objects()))
        });
        f.add_field_method_get("info", |_, this| Ok(this.info.clone()));
        f.add_field_method_get("bind", |lua, this| match this.core.bind() {
            Some(e) => Ok(LuaValue::UserData(
                lua.create_userdata(super::engine::LuaEngine(e))?,
            )),
            None => Ok(LuaValue::Nil),
        });
        f.add_field_method_get("autoflush", |_, this| {
            Ok(this.core.config.borrow().autoflush)
        });
        f.add_field_method_set("autoflush", |_, this, v: bool| {
            this.core.config.borrow_mut().autoflush = v;
            Ok(())
        });
        f.add_field_method_get("is_active", |_, this| Ok(this.core.check_usable().is_ok()));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("_add", |lua, this, obj: LuaValue| {
            this.core.add(&expect_instance(lua, &obj)?).lua()
        });
        m.add_method("_add_all", |lua, this, list: mlua::Table| {
            for inst in instances_of(lua, &list)? {
                this.core.add(&inst).lua()?;
            }
            Ok(())
        });
        m.add_method("_delete", |lua, this, obj: LuaValue| {
            this.core.delete(&expect_instance(lua, &obj)?).lua()
        });
        m.add_function(
            "_get",
            |lua, (ud, model, pk, opts): (AnyUserData, LuaValue, LuaValue, Option<mlua::Table>)| {
                let mapper = mapper_of(&model)?;
                // `session:get(M, pk, { options = { orm.joinedload(M.rel), ... } })`
                let Some(opts) = opts else {
                    return get(lua, &ud, &mapper, pk, &[]);
                };
                let mut q =
                    crate::orm::OrmSelect::new(vec![crate::orm::query::SelectItem::Entity(
                        mapper.clone(),
                    )]);
                super::options::check_keys(&opts, &["options"], "session:get()", false)?;
                if let Some(list) = opts.get::<Option<mlua::Table>>("options")? {
                    super::relationship::ensure_configured(lua, [&mapper])?;
                    let args: Vec<LuaValue> =
                        list.sequence_values().collect::<mlua::Result<_>>()?;
                    super::loader_options::add_options(&mut q, &args)?;
                }
                get(lua, &ud, &mapper, pk, &q.options)
            },
        );
        m.add_method("_flush", |_, this, ()| this.core.flush().lua());
        m.add_method("_commit", |_, this, ()| this.core.commit().lua());
        m.add_method("_rollback", |_, this, ()| this.core.rollback().lua());
        m.add_method("_close", |_, this, ()| {
            this.core.not_flushing("close()").lua()?;
            this.core.close();
            Ok(())
        });
        if super::compat::CLOSE {
            m.add_meta_method("__close", |_, this, _: LuaValue| {
                this.core.close();
                Ok(())
            });
        }
        m.add_method("_expunge", |lua, this, obj: LuaValue| {
            this.core.expunge(&expect_instance(lua, &obj)?).lua()
        });
        m.add_method("_expunge_all", |_, this, ()| {
            this.core.not_flushing("expunge_all()").lua()?;
            this.core.expunge_all();
            Ok(())
        });
        m.add_method("_merge", |lua, this, obj: LuaValue| {
            let inst = expect_instance(lua, &obj)?;
            let merged = this.core.merge(&inst).lua()?;
            push_instance(lua, &merged)
        });
        m.add_method("_refresh", |lua, this, obj: LuaValue| {
            this.core.refresh(&expect_instance(lua, &obj)?).lua()
        });
        m.add_method(
            "expire",
            |lua, this, (obj, names): (LuaValue, Option<mlua::Table>)| {
                let inst = expect_instance(lua, &obj)?;
                match names {
                    Some(t) => {
                        let names = t
                            .sequence_values::<String>()
                            .collect::<LuaResult<Vec<String>>>()?;
                        this.core.expire_named(&inst, &names).lua()
                    }
                    None => this.core.expire(&inst, None).lua(),
                }
            },
        );
        m.add_method("expire_all", |_, this, ()| {
            this.core.expire_all();
            Ok(())
        });
        m.add_method("is_modified", |lua, _this, obj: LuaValue| {
            let inst = expect_instance(lua, &obj)?;
            Ok(inst.is_modified())
        });
        m.add_method("in_transaction", |_, this, ()| {
            Ok(this.core.in_transaction())
        });
        m.add_method("in_nested_transaction", |_, this, ()| {
            Ok(this.core.in_nested_transaction())
        });
        m.add_function(
            "_execute",
            |lua,
             (ud, stmt, params, opts): (
                AnyUserData,
                LuaValue,
                Option<LuaValue>,
                Option<mlua::Table>,
            )| {
                if let LuaValue::UserData(st) = &stmt {
                    if let Ok(bulk) = st.borrow::<super::dml::LuaBulk>() {
                        let sync = super::dml::sync_from_opts(opts.as_ref())?;
                        if let Some(list) = super::bulk_persistence::parameter_list(&params) {
                            return super::bulk_persistence::execute_with_rows(
                                lua, &ud, &bulk, &list, sync,
                            );
                        }
                        let core = session_of(&ud)?.core.clone();
                        return bulk.execute(&core, sync);
                    }
                }
                execute(lua, &ud, &stmt, params)
            },
        );
        m.add_function(
            "_scalars",
            |lua, (ud, stmt, params): (AnyUserData, LuaValue, Option<LuaValue>)| {
                let r = execute(lua, &ud, &stmt, params)?;
                Ok(r.scalars())
            },
        );
        m.add_function(
            "_scalar",
            |lua, (ud, stmt, params): (AnyUserData, LuaValue, Option<LuaValue>)| {
                execute(lua, &ud, &stmt, params)?.scalar(lua)
            },
        );
        m.add_function(
            "query",
            |_, (ud, args): (AnyUserData, Variadic<LuaValue>)| {
                // the same items as orm.select: entities, aliases, columns, hybrids and
                // column properties (named after themselves), tables, subqueries
                let mut items = Vec::new();
                for a in args.iter() {
                    items.extend(super::statement::select_item(a).map_err(|_| {
                        arg(format!(
                            "session:query() expects mapped classes or column expressions, got {}",
                            super::convert::lua_debug(a)
                        ))
                    })?);
                }
                if items.is_empty() {
                    return Err(arg("session:query() needs at least one entity or column"));
                }
                let mut q = OrmSelect::new(items);
                q.subject = super::statement::subject_of(&args);
                Ok(LuaQuery {
                    session: Some(ud),
                    q,
                    appender: None,
                })
            },
        );
        m.add_method("_begin", |_, this, ()| {
            if this.core.in_transaction() {
                return Err(super::error::invalid(
                    "A transaction is already begun on this Session.",
                ));
            }
            this.core.connection().lua()?;
            Ok(this.core.transaction_serial())
        });
        m.add_method("_begin_nested", |_, this, ()| {
            let depth = this.core.begin_nested().lua()?;
            Ok((this.core.transaction_serial(), depth))
        });
        m.add_method(
            "_transaction_open",
            |_, this, (serial, depth): (u64, usize)| Ok(this.core.transaction_open(serial, depth)),
        );
        m.add_method("_release_nested", |_, this, ()| {
            this.core.release_nested().lua()
        });
        m.add_method("_rollback_nested", |_, this, ()| {
            this.core.rollback_nested().lua()
        });
        m.add_method("_enter_no_autoflush", |_, this, ()| {
            this.core.enter_no_autoflush();
            Ok(())
        });
        m.add_method("_exit_no_autoflush", |_, this, ()| {
            this.core.exit_no_autoflush();
            Ok(())
        });
        super::bulk_persistence::add_session_methods(m);
        super::session_binds::add_session_methods(m);
        // begin(fn), begin_nested(fn), run(fn), no_autoflush(fn) are Lua functions (see
        // lua/prelude.lua) so that an error raised inside fn reaches the caller unchanged.

        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<Session at {:p}>", Rc::as_ptr(&this.core.0)))
        });
    }
}

/// `session.new`, `.dirty`, `.deleted`: a snapshot set of objects.
pub struct IdentitySet(Vec<Rc<Instance>>);

impl UserData for IdentitySet {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.0.len()));
        m.add_method("contains", |lua, this, obj: LuaValue| {
            Ok(match instance_of(lua, &obj) {
                Some(i) => this.0.iter().any(|o| Rc::ptr_eq(o, &i)),
                None => false,
            })
        });
        m.add_method("iter", |lua, this, ()| {
            let items: Vec<LuaValue> = this
                .0
                .iter()
                .map(|i| push_instance(lua, i))
                .collect::<LuaResult<_>>()?;
            let pos = RefCell::new(0usize);
            lua.create_function(move |_, _: mlua::MultiValue| {
                let mut p = pos.borrow_mut();
                let v = items.get(*p).cloned();
                *p += 1;
                Ok(v)
            })
        });
        m.add_method("list", |lua, this, ()| {
            lua.create_sequence_from(
                this.0
                    .iter()
                    .map(|i| push_instance(lua, i))
                    .collect::<LuaResult<Vec<_>>>()?,
            )
        });
    }
}

/// `orm.sessionmaker{...}`: a configured factory of sessions.
pub struct SessionMaker {
    bind: RefCell<Option<Engine>>,
    binds: RefCell<Option<Binds>>,
    config: RefCell<SessionConfig>,
    /// Session event listeners every session it makes starts with.
    listeners: crate::orm::events::SessionListeners,
}

impl SessionMaker {
    pub fn with_listeners<T>(
        &self,
        f: impl FnOnce(&crate::orm::events::SessionListeners) -> T,
    ) -> T {
        f(&self.listeners)
    }
}

impl UserData for SessionMaker {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Call, |lua, this, opts: Option<mlua::Table>| {
            let mut bind = this.bind.borrow().clone();
            let mut config = this.config.borrow().clone();
            let mut binds = this.binds.borrow().clone();
            if let Some(t) = opts {
                config_from(&t, &mut bind, &mut config, &mut binds)?;
            }
            let ud = new_session(lua, bind, config)?;
            if let Some(b) = binds {
                ud.borrow::<LuaSession>()?.core.set_binds(b);
            }
            ud.borrow::<LuaSession>()?
                .core
                .listeners
                .extend_from(&this.listeners);
            Ok(ud)
        });
        m.add_method("configure", |_, this, opts: mlua::Table| {
            let mut bind = this.bind.borrow().clone();
            let mut config = this.config.borrow().clone();
            let mut binds = this.binds.borrow().clone();
            config_from(&opts, &mut bind, &mut config, &mut binds)?;
            *this.binds.borrow_mut() = binds;
            *this.bind.borrow_mut() = bind;
            *this.config.borrow_mut() = config;
            Ok(())
        });
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (_ud, key): (AnyUserData, LuaValue)| super::extension(lua, "SessionMaker", key),
        );
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    let idx = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__mode", "v")?;
    idx.set_metatable(Some(mt))?;
    lua.set_app_data(SessionIndex(idx));
    orm.set(
        "Session",
        lua.create_function(
            |lua, (bind, opts): (Option<LuaValue>, Option<mlua::Table>)| {
                let mut engine = None;
                let mut config = SessionConfig::default();
                let mut binds = None;
                // orm.Session(connection) / { bind = connection }: joined to its transaction
                let bound = [
                    bind.clone(),
                    opts.as_ref().map(|t| t.raw_get("bind")).transpose()?,
                ]
                .into_iter()
                .flatten()
                .chain(match &bind {
                    Some(LuaValue::Table(t)) => Some(t.raw_get("bind")?),
                    _ => None,
                })
                .find_map(|v| super::engine::connection_of(&v))
                .transpose()?;
                match bind {
                    Some(LuaValue::Table(t)) => {
                        config_from(&t, &mut engine, &mut config, &mut binds)?
                    }
                    Some(LuaValue::Nil) | None => {}
                    Some(v) if bound.is_some() => drop(v),
                    Some(v) => engine = Some(engine_of(&v)?),
                }
                if let Some(t) = opts {
                    config_from(&t, &mut engine, &mut config, &mut binds)?;
                }
                let ud = new_session(lua, engine, config)?;
                if let Some(b) = binds {
                    ud.borrow::<LuaSession>()?.core.set_binds(b);
                }
                if let Some(conn) = bound {
                    ud.borrow::<LuaSession>()?.core.bind_connection(&conn);
                }
                Ok(ud)
            },
        )?,
    )?;
    orm.set(
        "sessionmaker",
        lua.create_function(|_, opts: Option<mlua::Table>| {
            let mut bind = None;
            let mut config = SessionConfig::default();
            let mut binds = None;
            if let Some(t) = opts {
                if super::engine::connection_of(&t.raw_get("bind")?).is_some() {
                    return Err(arg(
                        "sessionmaker{ bind = connection } is not supported: bind each session with orm.Session(connection, { join_transaction_mode = ... })",
                    ));
                }
                config_from(&t, &mut bind, &mut config, &mut binds)?;
            }
            Ok(SessionMaker {
                bind: RefCell::new(bind),
                binds: RefCell::new(binds),
                config: RefCell::new(config),
                listeners: Default::default(),
            })
        })?,
    )?;
    Ok(())
}
