//! `orm.sqlite.insert(Model)`, `orm.postgresql.insert(Model)` and `orm.mysql.insert(Model)`:
//! INSERTs with a conflict clause (`:on_conflict_do_nothing{}`, `:on_conflict_do_update{}`,
//! `:on_duplicate_key_update{}`), executed by `session:execute` and `conn:execute`.

use std::rc::Rc;

use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{clause_arg, operand, LuaExpr};
use super::model::LuaModel;
use super::statement::LuaInsert;
use crate::orm::Mapper;
use crate::sql::upsert::{ConflictTarget, OnConflict, Upsert, UpsertFlavor};
use crate::sql::{compile, Expr, Insert, Statement};

#[derive(Clone)]
pub struct LuaDialectInsert {
    pub insert: LuaInsert,
    pub flavor: UpsertFlavor,
    pub clause: Option<OnConflict>,
}

/// `stmt.excluded` / `stmt.inserted`: the proposed row's columns, by attribute name.
#[derive(Clone)]
pub struct LuaExcluded {
    mapper: Rc<Mapper>,
    what: &'static str,
}

impl UserData for LuaExcluded {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: String| {
            let i = this.mapper.attr_index(&key).ok_or_else(|| {
                arg(format!(
                    "stmt.{}: {} has no column '{key}'",
                    this.what, this.mapper.class_name
                ))
            })?;
            lua.create_userdata(LuaExpr::new(Expr::Excluded(this.mapper.table.clone(), i)))
        });
    }
}

impl LuaDialectInsert {
    fn what(&self) -> String {
        format!(
            "orm.{}.insert({})",
            self.flavor.module(),
            self.insert.mapper.class_name
        )
    }

    pub fn upsert(&self) -> Upsert {
        Upsert {
            flavor: self.flavor,
            clause: self.clause.clone(),
        }
    }

    /// The column index of a key: an attribute name or a column attribute of the model.
    fn column_of(&self, k: &LuaValue, method: &str) -> LuaResult<usize> {
        let m = &self.insert.mapper;
        let key = match k {
            LuaValue::String(s) => s.to_str()?.to_string(),
            LuaValue::UserData(u) if u.is::<LuaExpr>() => {
                let e = u.borrow::<LuaExpr>()?;
                match (&e.attr, &e.expr) {
                    (Some(a), _) if Rc::ptr_eq(&a.mapper.table, &m.table) => return Ok(a.index),
                    (_, Expr::Column(c)) if c.table.id == m.table.id => return Ok(c.index),
                    _ => {
                        return Err(arg(format!(
                            "{}:{method}: a column must be one of {}",
                            self.what(),
                            m.class_name
                        )))
                    }
                }
            }
            other => {
                return Err(arg(format!(
                    "{}:{method}: expected a column name or attribute, got {}",
                    self.what(),
                    other.type_name()
                )))
            }
        };
        m.attr_index(&key)
            .or_else(|| m.table.column_index(&key))
            .ok_or_else(|| {
                arg(format!(
                    "{}:{method}: {} has no column '{key}'",
                    self.what(),
                    m.class_name
                ))
            })
    }

    /// `{ col = value, [Model.col] = value }`, in the table's column order.
    fn set_list(&self, lua: &Lua, t: &mlua::Table, method: &str) -> LuaResult<Vec<(usize, Expr)>> {
        let m = &self.insert.mapper;
        let mut out: Vec<(usize, Expr)> = Vec::new();
        for pair in t.pairs::<LuaValue, LuaValue>() {
            let (k, v) = pair?;
            let i = self.column_of(&k, method)?;
            out.retain(|(c, _)| *c != i);
            out.push((i, operand(lua, &v, &m.table.columns[i].ty)?));
        }
        if out.is_empty() {
            return Err(arg(format!("{}:{method}: no columns to set", self.what())));
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }

    fn target(&self, t: &mlua::Table, method: &str) -> LuaResult<ConflictTarget> {
        let mut target = ConflictTarget::default();
        let elements: LuaValue = t.get("index_elements")?;
        match &elements {
            LuaValue::Nil => {}
            LuaValue::Table(list) => {
                for i in 1..=list.raw_len() {
                    target
                        .columns
                        .push(self.column_of(&list.raw_get(i)?, method)?);
                }
            }
            other => {
                return Err(arg(format!(
                    "{}:{method}: index_elements must be a list of columns, got {}",
                    self.what(),
                    other.type_name()
                )))
            }
        }
        let w: LuaValue = t.get("index_where")?;
        if !w.is_nil() {
            target.index_where = Some(clause_arg(&w, &format!(":{method} index_where"))?);
        }
        let c: Option<String> = t.get("constraint")?;
        if let Some(c) = c {
            if self.flavor != UpsertFlavor::Postgresql {
                return Err(arg(format!(
                    "{}:{method}: 'constraint' is PostgreSQL's; use index_elements",
                    self.what()
                )));
            }
            target.constraint = Some(c);
        }
        if target.constraint.is_some() && !target.columns.is_empty() {
            return Err(arg(format!(
                "{}:{method}: give 'constraint' or 'index_elements', not both",
                self.what()
            )));
        }
        Ok(target)
    }

    fn check_keys(&self, t: &mlua::Table, method: &str, valid: &[&str]) -> LuaResult<()> {
        for pair in t.pairs::<LuaValue, LuaValue>() {
            let (k, _) = pair?;
            let ok = matches!(&k, LuaValue::String(s) if valid.contains(&&*s.to_str()?));
            if !ok {
                let name = match &k {
                    LuaValue::String(s) => s.to_str()?.to_string(),
                    other => other.type_name().to_string(),
                };
                return Err(super::options::unknown_option(
                    &format!("{}:{method}", self.what()),
                    &name,
                    valid,
                ));
            }
        }
        Ok(())
    }

    fn only_for(&self, flavors: &[UpsertFlavor], method: &str) -> LuaResult<()> {
        if flavors.contains(&self.flavor) {
            return Ok(());
        }
        Err(arg(format!(
            "{}: no :{method}() here; it belongs to orm.{}.insert()",
            self.what(),
            flavors
                .iter()
                .map(|f| f.module())
                .collect::<Vec<_>>()
                .join("/orm.")
        )))
    }

    /// The statement of one row naming `cols` (slots in order), for `tostring` and
    /// `conn:execute`.
    pub fn statement(&self, cols: &[usize]) -> Insert {
        let mut ins = Insert::new(&self.insert.mapper.table);
        ins.values = cols
            .iter()
            .enumerate()
            .map(|(n, &c)| (c, Expr::Slot(n)))
            .collect();
        if let Some(r) = &self.insert.returning {
            ins.returning = r.select.columns.clone();
        }
        ins.upsert = Some(self.upsert());
        ins
    }
}

const CONFLICT: [UpsertFlavor; 2] = [UpsertFlavor::Sqlite, UpsertFlavor::Postgresql];

impl UserData for LuaDialectInsert {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        // SQLAlchemy names it `excluded` on SQLite / PostgreSQL and `inserted` on MySQL;
        // both names work on every flavor and render as the executing database spells it
        for name in ["excluded", "inserted"] {
            f.add_field_method_get(name, move |_, this| {
                Ok(LuaExcluded {
                    mapper: this.insert.mapper.clone(),
                    what: name,
                })
            });
        }
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("values", |_, this, t: mlua::Table| {
            let mut next = this.clone();
            next.insert.values = Some(t);
            Ok(next)
        });
        m.add_method("returning", |_, this, args: Variadic<LuaValue>| {
            let mut next = this.clone();
            next.insert.returning = Some(super::dml::returning_arg(&args, &this.what())?);
            Ok(next)
        });
        m.add_method(
            "on_conflict_do_nothing",
            |_, this, t: Option<mlua::Table>| {
                let method = "on_conflict_do_nothing";
                this.only_for(&CONFLICT, method)?;
                let target = match &t {
                    Some(t) => {
                        this.check_keys(
                            t,
                            method,
                            &["index_elements", "index_where", "constraint"],
                        )?;
                        this.target(t, method)?
                    }
                    None => ConflictTarget::default(),
                };
                let mut next = this.clone();
                next.clause = Some(OnConflict::DoNothing(target));
                Ok(next)
            },
        );
        m.add_method("on_conflict_do_update", |lua, this, t: mlua::Table| {
            let method = "on_conflict_do_update";
            this.only_for(&CONFLICT, method)?;
            this.check_keys(
                &t,
                method,
                &[
                    "index_elements",
                    "index_where",
                    "constraint",
                    "set_",
                    "where",
                ],
            )?;
            let target = this.target(&t, method)?;
            if target.is_empty() {
                return Err(arg(format!(
                    "{}:{method}: needs index_elements (or constraint) naming the unique columns",
                    this.what()
                )));
            }
            let set: mlua::Table = t.get::<Option<mlua::Table>>("set_")?.ok_or_else(|| {
                arg(format!(
                    "{}:{method}: needs set_ = {{ column = value, ... }}",
                    this.what()
                ))
            })?;
            let set = this.set_list(lua, &set, method)?;
            let w: LuaValue = t.get("where")?;
            let where_ = if w.is_nil() {
                None
            } else {
                Some(clause_arg(&w, &format!(":{method} where"))?)
            };
            let mut next = this.clone();
            next.clause = Some(OnConflict::DoUpdate {
                target,
                set,
                where_,
            });
            Ok(next)
        });
        m.add_method("on_duplicate_key_update", |lua, this, t: mlua::Table| {
            let method = "on_duplicate_key_update";
            this.only_for(&[UpsertFlavor::Mysql], method)?;
            let set = this.set_list(lua, &t, method)?;
            let mut next = this.clone();
            next.clause = Some(OnConflict::DuplicateKeyUpdate(set));
            Ok(next)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let cols: Vec<usize> = (0..this.insert.mapper.table.columns.len()).collect();
            let d: Box<dyn crate::sql::Dialect> = match this.flavor {
                UpsertFlavor::Sqlite => Box::new(crate::sql::dialect::SqliteDialect),
                UpsertFlavor::Postgresql => Box::new(crate::sql::dialect::PostgresDialect),
                UpsertFlavor::Mysql => {
                    Box::new(crate::sql::dialect::MysqlDialect { mariadb: false })
                }
            };
            Ok(compile(&Statement::Insert(this.statement(&cols)), &*d)
                .lua()?
                .sql)
        });
    }
}

/// `conn:execute(stmt [, rows])`: one execution per row; the rows changed.
pub fn execute_on(
    lua: &Lua,
    this: &LuaDialectInsert,
    params: Option<LuaValue>,
    run: &dyn Fn(&Insert, &[crate::value::Value]) -> LuaResult<usize>,
) -> LuaResult<usize> {
    let rows: Vec<mlua::Table> = match params {
        Some(LuaValue::Table(t)) if t.raw_len() > 0 => (1..=t.raw_len())
            .map(|i| t.raw_get::<mlua::Table>(i))
            .collect::<mlua::Result<_>>()
            .map_err(|_| {
                arg(format!(
                    "{}: parameters must be a list of tables",
                    this.what()
                ))
            })?,
        Some(LuaValue::Table(t)) => vec![t],
        Some(LuaValue::Nil) | None => this.insert.values.clone().into_iter().collect(),
        Some(other) => {
            return Err(arg(format!(
                "{}: parameters must be a table or a list of tables, got {}",
                this.what(),
                other.type_name()
            )))
        }
    };
    if rows.is_empty() {
        return Err(arg(format!(
            "{}: no rows to insert; pass them or call :values{{...}}",
            this.what()
        )));
    }
    let mut total = 0;
    for d in &rows {
        let (cols, values) = super::session::insert_row(lua, &this.insert.mapper, d)?;
        total += run(&this.statement(&cols), &values)?;
    }
    Ok(total)
}

fn new_insert(m: &LuaValue, flavor: UpsertFlavor) -> LuaResult<LuaDialectInsert> {
    let mapper = match m {
        LuaValue::UserData(ud) if ud.is::<LuaModel>() => ud.borrow::<LuaModel>()?.mapper.clone(),
        other => {
            return Err(arg(format!(
                "orm.{}.insert() expects a mapped class, got {}",
                flavor.module(),
                other.type_name()
            )))
        }
    };
    Ok(LuaDialectInsert {
        insert: LuaInsert {
            mapper,
            values: None,
            returning: None,
        },
        flavor,
        clause: None,
    })
}

/// `orm.sqlite`, `orm.postgresql`, `orm.mysql`: each with its `insert`.
pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    for flavor in [
        UpsertFlavor::Sqlite,
        UpsertFlavor::Postgresql,
        UpsertFlavor::Mysql,
    ] {
        let module = lua.create_table()?;
        module.set(
            "insert",
            lua.create_function(move |_, m: LuaValue| new_insert(&m, flavor))?,
        )?;
        orm.set(flavor.module(), module)?;
    }
    Ok(())
}
