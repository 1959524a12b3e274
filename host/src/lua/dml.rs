//! `orm.update(Model)` and `orm.delete(Model)`: ORM-enabled bulk statements, executed by
//! `session:execute` (see `orm/bulk.rs` for how the session's objects are kept in step).

use std::rc::Rc;

use mlua::{AnyUserData, Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{clause_arg, operand};
use super::result::ResultSet;
use crate::orm::bulk::Synchronize;
use crate::orm::session::SessionCore;
use crate::orm::{Mapper, OrmSelect};
use crate::sql::{Delete, Expr, Statement, Update};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BulkKind {
    Update,
    Delete,
}

#[derive(Clone)]
pub struct LuaBulk {
    pub kind: BulkKind,
    pub mapper: Rc<Mapper>,
    pub values: Vec<(usize, Expr)>,
    pub where_: Vec<Expr>,
    pub sync: Option<Synchronize>,
    /// `:returning(...)`: the columns and entities the statement returns.
    pub returning: Option<OrmSelect>,
}

/// `synchronize_session` as SQLAlchemy spells it: "auto", "evaluate", "fetch" or false.
pub fn synchronize_option(v: &LuaValue) -> LuaResult<Option<Synchronize>> {
    match v {
        LuaValue::Nil => Ok(None),
        LuaValue::Boolean(false) => Ok(Some(Synchronize::None)),
        LuaValue::String(s) => match &*s.to_str()? {
            "auto" => Ok(Some(Synchronize::Auto)),
            "evaluate" => Ok(Some(Synchronize::Evaluate)),
            "fetch" => Ok(Some(Synchronize::Fetch)),
            other => Err(arg(format!(
                "synchronize_session must be \"auto\", \"evaluate\", \"fetch\" or false, got \"{other}\""
            ))),
        },
        other => Err(arg(format!(
            "synchronize_session must be \"auto\", \"evaluate\", \"fetch\" or false, got {}",
            other.type_name()
        ))),
    }
}

/// `synchronize_session` from an options table (`session:execute(stmt, nil, opts)`,
/// `query:update(values, opts)`).
pub fn sync_from_opts(opts: Option<&mlua::Table>) -> LuaResult<Option<Synchronize>> {
    match opts {
        Some(o) => synchronize_option(&o.get("synchronize_session")?),
        None => Ok(None),
    }
}

impl BulkKind {
    fn name(self) -> &'static str {
        match self {
            BulkKind::Update => "update",
            BulkKind::Delete => "delete",
        }
    }
}

impl LuaBulk {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn returning_columns(&self) -> Vec<Expr> {
        self.returning
            .as_ref()
            .map(|r| r.select.columns.clone())
            .unwrap_or_default()
    }

    pub(crate) fn statement(&self) -> Statement {
        match self.kind {
            BulkKind::Update => {
                let mut u = Update::new(&self.mapper.table);
                u.values = self.values.clone();
                u.where_ = self.where_.clone();
                u.returning = self.returning_columns();
                Statement::Update(u)
            }
            BulkKind::Delete => {
                let mut d = Delete::new(&self.mapper.table);
                d.where_ = self.where_.clone();
                d.returning = self.returning_columns();
                Statement::Delete(d)
            }
        }
    }

    /// Runs the statement in `session`; `sync` from the call overrides the statement's own.
    pub fn execute(
        &self,
        session: &SessionCore,
        sync: Option<Synchronize>,
    ) -> LuaResult<ResultSet> {
        let sync = sync.or(self.sync).unwrap_or(Synchronize::Auto);
        let out = match self.kind {
            BulkKind::Update => {
                if self.values.is_empty() {
                    return Err(arg(format!(
                        "orm.update({}): no values to set; call :values{{...}}",
                        self.mapper.class_name
                    )));
                }
                session.bulk_update(
                    &self.mapper,
                    self.values.clone(),
                    self.where_.clone(),
                    sync,
                    self.returning.as_ref(),
                )
            }
            BulkKind::Delete => session.bulk_delete(
                &self.mapper,
                self.where_.clone(),
                sync,
                self.returning.as_ref(),
            ),
        }
        .lua()?;
        Ok(ResultSet::from_outcome(out.rows, out.rowcount))
    }

    /// `{ name = value }`: values for `values{}` and `filter_by{}`, by attribute name.
    pub fn by_name(&self, lua: &Lua, t: &mlua::Table, what: &str) -> LuaResult<Vec<(usize, Expr)>> {
        let m = &self.mapper;
        let mut out = Vec::new();
        for pair in t.pairs::<LuaValue, LuaValue>() {
            let (k, v) = pair?;
            let key = match &k {
                LuaValue::String(s) => s.to_str()?.to_string(),
                // `{ [User.name] = v }`, as SQLAlchemy's `{User.name: v}`
                LuaValue::UserData(u) if u.is::<super::expr::LuaExpr>() => {
                    let e = u.borrow::<super::expr::LuaExpr>()?;
                    match &e.attr {
                        Some(a) if Rc::ptr_eq(&a.mapper, m) => a.mapper.attrs[a.index].key.clone(),
                        _ => {
                            return Err(arg(format!(
                                "orm.{}({}):{what}: a key must be a column of {}",
                                self.name(),
                                m.class_name,
                                m.class_name
                            )))
                        }
                    }
                }
                other => {
                    return Err(arg(format!(
                        "orm.{}({}):{what}: keys must be attribute names, got {}",
                        self.name(),
                        m.class_name,
                        other.type_name()
                    )))
                }
            };
            let i = m.attr_index(&key).ok_or_else(|| {
                arg(format!(
                    "orm.{}({}):{what}: {} has no attribute '{key}'",
                    self.name(),
                    m.class_name,
                    m.class_name
                ))
            })?;
            out.push((i, operand(lua, &v, &m.table.columns[i].ty)?));
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }
}

impl UserData for LuaBulk {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        for name in ["where", "filter"] {
            m.add_method(name, move |_, this, args: Variadic<LuaValue>| {
                let mut next = this.clone();
                for a in args.iter() {
                    next.where_.push(clause_arg(a, &format!(":{name}()"))?);
                }
                Ok(next)
            });
        }
        m.add_method("filter_by", |lua, this, t: mlua::Table| {
            let mut next = this.clone();
            for (i, e) in this.by_name(lua, &t, "filter_by")? {
                let col = Expr::column(&this.mapper.table, i);
                next.where_.push(match e {
                    Expr::Null => Expr::binary(col, crate::sql::BinOp::Is, Expr::Null),
                    e => Expr::binary(col, crate::sql::BinOp::Eq, e),
                });
            }
            Ok(next)
        });
        m.add_method("values", |lua, this, t: mlua::Table| {
            if this.kind == BulkKind::Delete {
                return Err(arg("orm.delete() takes no values"));
            }
            let mut next = this.clone();
            for (i, e) in this.by_name(lua, &t, "values")? {
                next.values.retain(|(c, _)| *c != i);
                next.values.push((i, e));
            }
            next.values.sort_by_key(|(i, _)| *i);
            Ok(next)
        });
        m.add_method("returning", |_, this, args: Variadic<LuaValue>| {
            let mut next = this.clone();
            next.returning = Some(returning_arg(&args, &format!("orm.{}()", this.name()))?);
            Ok(next)
        });
        m.add_method("execution_options", |_, this, t: mlua::Table| {
            let mut next = this.clone();
            if let Some(s) = synchronize_option(&t.get("synchronize_session")?)? {
                next.sync = Some(s);
            }
            Ok(next)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let c = crate::sql::compile(&this.statement(), crate::sql::dialect::default_dialect())
                .lua()?;
            Ok(c.sql)
        });
    }
}

fn new_bulk(lua: &Lua, m: &AnyUserData, kind: BulkKind, name: &str) -> LuaResult<LuaBulk> {
    Ok(LuaBulk {
        kind,
        mapper: super::model::dml_mapper(lua, m, name)?,
        values: Vec::new(),
        where_: Vec::new(),
        sync: None,
        returning: None,
    })
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "update",
        lua.create_function(|lua, m: AnyUserData| new_bulk(lua, &m, BulkKind::Update, "update"))?,
    )?;
    orm.set(
        "delete",
        lua.create_function(|lua, m: AnyUserData| new_bulk(lua, &m, BulkKind::Delete, "delete"))?,
    )?;
    Ok(())
}

/// The argument list of `:returning(...)`: entities and column expressions, as `orm.select`
/// takes them.
pub fn returning_arg(args: &[LuaValue], what: &str) -> LuaResult<OrmSelect> {
    if args.is_empty() {
        return Err(arg(format!(
            "{what}:returning() needs at least one entity or column"
        )));
    }
    Ok(super::statement::new_select(args)?.q)
}

/// The legacy `query:update(values [, opts])` / `query:delete([opts])`: the same bulk
/// statement over the query's entity and WHERE clause; returns the rows matched.
pub fn from_query(q: &OrmSelect, kind: BulkKind) -> LuaResult<LuaBulk> {
    let name = kind.name();
    let mapper = q
        .first_entity()
        .ok_or_else(|| arg(format!("query:{name}() needs a query of a mapped class")))?;
    let s = &q.select;
    for (used, what) in [
        (!s.joins.is_empty(), "join()"),
        (!s.from.is_empty(), "select_from()"),
        (s.limit.is_some(), "limit()"),
        (s.offset.is_some(), "offset()"),
        (!s.order_by.is_empty(), "order_by()"),
        (!s.group_by.is_empty() || !s.having.is_empty(), "group_by()"),
        (s.distinct, "distinct()"),
        (!s.compound.is_empty(), "union()"),
    ] {
        if used {
            return Err(arg(format!(
                "Can't call query:{name}() on a query of {} when {what} has been called",
                mapper.class_name
            )));
        }
    }
    Ok(LuaBulk {
        kind,
        mapper: mapper.clone(),
        values: Vec::new(),
        where_: s.where_.clone(),
        sync: None,
        returning: None,
    })
}
