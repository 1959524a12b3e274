//! Statements as Lua values: `orm.select(...)` with its generative methods, `orm.insert`,
//! and the legacy `session:query(...)`.

use std::rc::Rc;

use mlua::{AnyUserData, Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{clause_arg, name_or_anon, operand, LuaAliased, LuaExpr, LuaSubquery};
use super::model::LuaModel;
use super::schema::LuaTableObj;
use crate::orm::collections::Events;
use crate::orm::query::SelectItem;
use crate::orm::relationships::Relationship;
use crate::orm::{Instance, Mapper, OrmSelect};
use crate::sql::{compile, Derived, Expr, FromItem, Join, Select, Statement};

#[derive(Clone)]
pub struct LuaSelect {
    pub q: OrmSelect,
}

/// `orm.insert(Model)`: executed with a list of parameter dicts as one prepared statement.
#[derive(Clone)]
pub struct LuaInsert {
    pub mapper: Rc<Mapper>,
    pub values: Option<mlua::Table>,
    /// `:returning(...)`: the rows each INSERT returns.
    pub returning: Option<OrmSelect>,
}

pub(crate) fn select_item(v: &LuaValue) -> LuaResult<Vec<SelectItem>> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(m) = ud.borrow::<LuaModel>() {
            return Ok(vec![SelectItem::Entity(m.mapper.clone())]);
        }
        if let Ok(e) = ud.borrow::<LuaExpr>() {
            return Ok(vec![SelectItem::Expr(e.selected())]);
        }
        if let Ok(t) = ud.borrow::<LuaTableObj>() {
            return Ok((0..t.0.columns.len())
                .map(|i| SelectItem::Expr(Expr::core_column(&t.0, i)))
                .collect());
        }
        if let Ok(w) = ud.borrow::<super::inheritance::LuaWithPolymorphic>() {
            return Ok(vec![SelectItem::Polymorphic(
                w.mapper.clone(),
                w.subs.clone(),
            )]);
        }
        if let Ok(a) = ud.borrow::<LuaAliased>() {
            return Ok(vec![SelectItem::Aliased(
                a.mapper.clone(),
                a.derived.clone(),
            )]);
        }
        if let Ok(sq) = ud.borrow::<LuaSubquery>() {
            let d = &sq.derived;
            return Ok((0..d.table.columns.len())
                .map(|i| SelectItem::Expr(d.column(i)))
                .collect());
        }
        if let Ok(t) = ud.borrow::<super::expr::LuaText>() {
            return Ok(vec![SelectItem::Expr(Expr::Text(t.0.clone()))]);
        }
        if ud.is::<super::convert::Null>() {
            return Ok(vec![SelectItem::Expr(Expr::Null)]);
        }
    }
    if v.is_nil() {
        return Err(arg(
            "orm.select() got nil: an unknown attribute of a model (a misspelt name?) or an undefined variable",
        ));
    }
    if super::composite::columns_of(v)?.is_some() {
        return Err(arg(
            "orm.select() of a composite is not supported: select the entity, or the composite's columns (table.unpack(Model.attr.columns))",
        ));
    }
    Err(arg(format!(
        "orm.select() expects mapped classes, columns or SQL expressions, got {}",
        v.type_name()
    )))
}

pub fn new_select(args: &[LuaValue]) -> LuaResult<LuaSelect> {
    if args.is_empty() {
        return Err(arg("orm.select() needs at least one entity or column"));
    }
    let mut items = Vec::new();
    for a in args {
        items.extend(select_item(a)?);
    }
    let mut q = OrmSelect::new(items);
    q.subject = subject_of(args);
    // columns of a single-table subclass selected without it: its identities filter too
    let mut seen: Vec<u32> = Vec::new();
    for a in args {
        let LuaValue::UserData(ud) = a else { continue };
        let Ok(e) = ud.borrow::<LuaExpr>() else {
            continue;
        };
        let Some(at) = &e.attr else { continue };
        let m = &at.mapper;
        if m.inherit.is_none() || seen.contains(&m.id) {
            continue;
        }
        seen.push(m.id);
        if m.reads_union() {
            q.read_through_union(m);
            continue;
        }
        let selected = q.columns.iter().any(|c| {
            matches!(c, crate::orm::ResultColumn::Entity { mapper, alias: None, .. } if mapper.id == m.id)
        });
        if !selected {
            if let Some(c) = m.criterion(&|i| Expr::column(&m.table, i)) {
                q.select.where_.push(c);
            }
        }
    }
    Ok(LuaSelect { q })
}

/// The model of the first column attribute among select arguments (`User.name`).
pub fn subject_of(args: &[LuaValue]) -> Option<std::rc::Rc<crate::orm::Mapper>> {
    args.iter().find_map(|a| match a {
        LuaValue::UserData(ud) => ud
            .borrow::<super::expr::LuaExpr>()
            .ok()
            .and_then(|e| e.attr.as_ref().map(|a| a.mapper.clone())),
        _ => None,
    })
}

/// A non-negative integer for LIMIT / OFFSET.
pub fn count_arg(v: &LuaValue, what: &str) -> LuaResult<i64> {
    match v {
        LuaValue::Integer(i) if *i >= 0 => Ok(*i),
        LuaValue::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Ok(*n as i64),
        other => Err(arg(format!(
            ":{what}() expects a non-negative integer, got {}",
            super::convert::lua_debug(other)
        ))),
    }
}

/// An ORDER BY / GROUP BY argument: an expression, or the name of a column of the
/// statement's first entity (never spliced as SQL).
fn order_arg(q: &OrmSelect, v: &LuaValue, what: &str) -> LuaResult<Expr> {
    if let LuaValue::String(s) = v {
        let name = s.to_str()?.to_string();
        let (key, term) = super::expr::order_by_name(&name);
        // a label of the statement's columns, then an attribute of its first entity
        for c in &q.select.columns {
            if let Expr::Label(l, _) = c {
                if **l == *key {
                    // the label itself: ORDER BY renders its name, GROUP BY its expression
                    return Ok(term(c.clone()));
                }
            }
        }
        let m = q.first_entity().ok_or_else(|| {
            arg(format!(
                ":{what}('{name}'): no label or entity attribute of the statement is named '{key}'"
            ))
        })?;
        let i = m.attr_index(key).ok_or_else(|| {
            arg(format!(
                ":{what}('{name}'): {} has no attribute '{key}'",
                m.class_name
            ))
        })?;
        return Ok(term(Expr::column(&m.table, i)));
    }
    clause_arg(v, &format!(":{what}()"))
}

/// The FROM item `filter_by` applies to, as SQLAlchemy picks it: the target of the last
/// join, else the first entity, else the table of the first column.
fn filter_by_target(q: &OrmSelect) -> Option<FromItem> {
    if let Some(j) = q.select.joins.last() {
        return Some(j.target.clone());
    }
    if let Some(m) = q.first_entity() {
        // an aliased entity reads from its alias
        for c in &q.select.columns {
            if let Expr::Column(c) = c {
                if c.table.id == m.table.id {
                    return Some(FromItem::Table(m.table.clone()));
                }
                if let Some(d) = &c.from {
                    if matches!(&d.kind, crate::sql::select::DerivedKind::Alias(t) if t.id == m.table.id)
                    {
                        return Some(FromItem::Derived(d.clone()));
                    }
                }
            }
        }
        return Some(FromItem::Table(m.table.clone()));
    }
    q.select.froms().into_iter().next()
}

/// `filter_by{ name = "ed" }`: equality on the columns (by attribute key) of the last
/// joined entity or the statement's first entity.
pub fn filter_by(lua: &Lua, q: &OrmSelect, t: &mlua::Table) -> LuaResult<Vec<Expr>> {
    let target = filter_by_target(q)
        .ok_or_else(|| arg(":filter_by() needs an entity or a table in the statement"))?;
    let table = target.table().clone();
    let mut pairs: Vec<(String, LuaValue)> = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = match &k {
            LuaValue::String(s) => s.to_str()?.to_string(),
            other => {
                return Err(arg(format!(
                    ":filter_by() keys must be attribute names, got {}",
                    other.type_name()
                )))
            }
        };
        pairs.push((key, v));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (key, v) in pairs {
        if table.column_index_by_key(&key).is_none() {
            // a hybrid, synonym or column property of the entity
            if let Some(e) = super::computed::filter_by_expr(lua, &target, &key)? {
                let r = operand(lua, &v, &e.sql_type())?;
                out.push(Expr::compare(e, crate::sql::BinOp::Eq, r));
                continue;
            }
            // a composite: its comparison, column by column
            if let Some(e) = super::composite::filter_by(lua, &target, &key, &v)? {
                out.push(e);
                continue;
            }
        }
        let i = table.column_index_by_key(&key).ok_or_else(|| {
            // name the model when the target is an entity's table
            let base = target.describe();
            let entity = q.columns.iter().find_map(|c| match c {
                crate::orm::ResultColumn::Entity { mapper, .. } if base == mapper.table.name => {
                    Some(mapper.class_name.clone())
                }
                _ => None,
            });
            arg(format!(
                ":filter_by(): {} has no attribute '{key}'",
                entity.unwrap_or(base)
            ))
        })?;
        let col = match &target {
            FromItem::Table(t) => Expr::column(t, i),
            FromItem::Derived(d) => d.column(i),
        };
        let r = operand(lua, &v, &table.columns[i].ty)?;
        out.push(Expr::compare(col, crate::sql::BinOp::Eq, r));
    }
    Ok(out)
}

/// The identity criterion of a single-table subclass joined as `target` (a class or an
/// alias of one), on its table or alias.
fn join_criterion(target: &LuaValue) -> LuaResult<Option<Expr>> {
    if let LuaValue::UserData(ud) = target {
        if let Ok(m) = ud.borrow::<LuaModel>() {
            let m = &m.mapper;
            return Ok(m.criterion(&|i| Expr::column(&m.table, i)));
        }
        if let Ok(a) = ud.borrow::<LuaAliased>() {
            return Ok(a.mapper.criterion(&|i| a.derived.column(i)));
        }
    }
    Ok(None)
}

/// Whether a FROM item or join target names a mapped class (the class, an alias of it or
/// one of its relationships), which makes the statement ORM-enabled.
fn names_entity(v: &LuaValue) -> bool {
    matches!(v, LuaValue::UserData(ud)
        if ud.is::<LuaModel>() || ud.is::<LuaAliased>() || ud.is::<super::relationship::LuaRelAttr>())
}

fn from_target(v: &LuaValue) -> LuaResult<FromItem> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(m) = ud.borrow::<LuaModel>() {
            return Ok(FromItem::Table(m.mapper.table.clone()));
        }
        if let Ok(t) = ud.borrow::<LuaTableObj>() {
            return Ok(FromItem::Table(t.0.clone()));
        }
        if let Ok(a) = ud.borrow::<LuaAliased>() {
            return Ok(FromItem::Derived(a.derived.clone()));
        }
        if let Ok(sq) = ud.borrow::<LuaSubquery>() {
            return Ok(FromItem::Derived(sq.derived.clone()));
        }
    }
    Err(arg(format!(
        "expected a mapped class, an aliased class, a table, a subquery or a CTE, got {}",
        v.type_name()
    )))
}

/// `with_for_update{ read, nowait, skip_locked, of }`; `of` is a class, alias, table or
/// column (its table), or a list of them.
fn for_update_of(opts: Option<mlua::Table>) -> LuaResult<crate::sql::locking::ForUpdate> {
    let mut fu = crate::sql::locking::ForUpdate::default();
    let Some(t) = opts else {
        return Ok(fu);
    };
    let one = |v: &LuaValue| -> LuaResult<FromItem> {
        if let LuaValue::UserData(ud) = v {
            if let Ok(e) = ud.borrow::<LuaExpr>() {
                if let Expr::Column(c) = &e.expr {
                    return Ok(match &c.from {
                        Some(d) => FromItem::Derived(d.clone()),
                        None => FromItem::Table(c.table.clone()),
                    });
                }
            }
        }
        from_target(v).map_err(|e| arg(format!("with_for_update{{ of = ... }}: {e}")))
    };
    for pair in t.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        let flag = || -> LuaResult<bool> {
            match &v {
                LuaValue::Boolean(b) => Ok(*b),
                LuaValue::Nil => Ok(false),
                other => Err(arg(format!(
                    "with_for_update{{ {k} = ... }} expects a boolean, got {}",
                    other.type_name()
                ))),
            }
        };
        match k.as_str() {
            "read" => fu.read = flag()?,
            "nowait" => fu.nowait = flag()?,
            "skip_locked" => fu.skip_locked = flag()?,
            "key_share" => return Err(arg(
                "with_for_update{ key_share = ... } is not supported (PostgreSQL's FOR KEY SHARE)",
            )),
            "of" => match &v {
                LuaValue::Table(list) => {
                    for i in 1..=list.raw_len() {
                        fu.of.push(one(&list.raw_get(i)?)?);
                    }
                }
                v => fu.of.push(one(v)?),
            },
            other => {
                return Err(super::options::unknown_option(
                    "with_for_update",
                    other,
                    &["read", "nowait", "skip_locked", "of"],
                ))
            }
        }
    }
    if fu.nowait && fu.skip_locked {
        return Err(arg(
            "with_for_update{}: nowait and skip_locked cannot be combined",
        ));
    }
    Ok(fu)
}

/// Whether `d` is `orm.aliased(m)` of a class read through its concrete union: the union,
/// `m`'s columns first (so column `i` is attribute `i`), then the discriminator among the
/// others.
fn is_union_alias(d: &crate::sql::Derived, m: &Mapper) -> bool {
    m.reads_union()
        && d.table
            .column_index(crate::orm::concrete::DISCRIMINATOR)
            .is_some()
        && d.table.columns.len() > m.table.columns.len()
        && m.table
            .columns
            .iter()
            .zip(&d.table.columns)
            .all(|(a, b)| a.key == b.name)
}

/// The SELECT of a statement argument (`union(other)`).
pub(crate) fn select_of(v: &LuaValue, what: &str) -> LuaResult<Select> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(s) = ud.borrow::<LuaSelect>() {
            return Ok(s.q.select.clone());
        }
        if let Ok(q) = ud.borrow::<LuaQuery>() {
            return Ok(q.q.select.clone());
        }
    }
    Err(arg(format!(
        "{what} expects a select, got {}",
        v.type_name()
    )))
}

/// A SELECT made a FROM item: order and paging stay inside it.
fn derived_of(select: &Select, name: Option<String>, cte: bool) -> LuaResult<LuaSubquery> {
    let what = if cte { ":cte()" } else { ":subquery()" };
    let name = name_or_anon(name, what)?;
    Ok(LuaSubquery {
        derived: Derived::subquery(select.clone(), &name, cte).lua()?,
    })
}

/// Adds the methods shared by `orm.select` statements and legacy queries: each returns a
/// new statement (SQLAlchemy's generative style).
macro_rules! generative_methods {
    ($m:ident, $T:ty, $q:ident) => {
        fn with<F: FnOnce(&mut OrmSelect) -> LuaResult<()>>(this: &$T, f: F) -> LuaResult<$T> {
            let mut next = this.clone();
            f(&mut next.$q)?;
            Ok(next)
        }
        /// A method that shapes one SELECT, refused on a UNION (SQLAlchemy's
        /// CompoundSelect has none of them).
        fn with_member<F: FnOnce(&mut OrmSelect) -> LuaResult<()>>(
            this: &$T,
            what: &str,
            f: F,
        ) -> LuaResult<$T> {
            if !this.$q.select.compound.is_empty() {
                return Err(arg(format!(
                    ":{what}() cannot apply to a UNION; call it on each select, or select from the union made a subquery"
                )));
            }
            with(this, f)
        }
        for name in ["where", "filter"] {
            $m.add_method(name, move |_, this, args: Variadic<LuaValue>| {
                with_member(this, name, |q| {
                    for a in args.iter() {
                        q.select.where_.push(clause_arg(a, &format!(":{name}()"))?);
                    }
                    Ok(())
                })
            });
        }
        $m.add_method("filter_by", |lua, this, t: mlua::Table| {
            with_member(this, "filter_by", |q| {
                let conds = filter_by(lua, q, &t)?;
                q.select.where_.extend(conds);
                Ok(())
            })
        });
        $m.add_method("order_by", |_, this, args: Variadic<LuaValue>| {
            with(this, |q| {
                // `:order_by(nil)` cancels the ordering (SQLAlchemy's `order_by(None)`)
                if let [LuaValue::Nil] = args.as_slice() {
                    q.select.order_by.clear();
                    return Ok(());
                }
                for a in args.iter() {
                    // a composite: its columns, in order (as SQLAlchemy)
                    if let Some(cols) = super::composite::columns_of(a)? {
                        q.select.order_by.extend(cols);
                        continue;
                    }
                    let e = order_arg(q, a, "order_by")?;
                    q.select.order_by.push(e);
                }
                Ok(())
            })
        });
        $m.add_method("group_by", |_, this, args: Variadic<LuaValue>| {
            with_member(this, "group_by", |q| {
                for a in args.iter() {
                    // a composite: its columns, in order (as SQLAlchemy)
                    if let Some(cols) = super::composite::columns_of(a)? {
                        q.select.group_by.extend(cols);
                        continue;
                    }
                    let e = order_arg(q, a, "group_by")?;
                    q.select.group_by.push(e);
                }
                Ok(())
            })
        });
        $m.add_method("having", |_, this, args: Variadic<LuaValue>| {
            with_member(this, "having", |q| {
                for a in args.iter() {
                    q.select.having.push(clause_arg(a, ":having()")?);
                }
                Ok(())
            })
        });
        $m.add_method("limit", |_, this, n: LuaValue| {
            let n = count_arg(&n, "limit")?;
            with(this, |q| {
                q.select.limit = Some(n);
                Ok(())
            })
        });
        $m.add_method("offset", |_, this, n: LuaValue| {
            let n = count_arg(&n, "offset")?;
            with(this, |q| {
                q.select.offset = Some(n);
                Ok(())
            })
        });
        $m.add_method("distinct", |_, this, ()| {
            with_member(this, "distinct", |q| {
                q.select.distinct = true;
                Ok(())
            })
        });
        // `:correlate_except(Address)`: nested in another statement (a column_property's
        // scalar subquery), the SELECT keeps these in its FROM and correlates the rest
        $m.add_method("correlate_except", |_, this, args: Variadic<LuaValue>| {
            with_member(this, "correlate_except", |q| {
                let mut ids = Vec::new();
                for a in args.iter() {
                    ids.push(from_target(a)?.table_id());
                }
                q.select.correlate_except = Some(ids);
                Ok(())
            })
        });
        $m.add_method("select_from", |_, this, args: Variadic<LuaValue>| {
            with_member(this, "select_from", |q| {
                for a in args.iter() {
                    q.select.from.push(from_target(a)?);
                    q.select.names_entity |= names_entity(a);
                    // `select(func.count()):select_from(User)` is about User (binds)
                    if q.subject.is_none() {
                        if let LuaValue::UserData(ud) = a {
                            if let Ok(m) = ud.borrow::<super::model::LuaModel>() {
                                q.subject = Some(m.mapper.clone());
                            }
                        }
                    }
                    if let LuaValue::UserData(ud) = a {
                        if let Ok(m) = ud.borrow::<super::model::LuaModel>() {
                            let m = m.mapper.clone();
                            q.read_through_union(&m);
                        }
                    }
                }
                Ok(())
            })
        });
        for (name, outer) in [("join", false), ("outerjoin", true)] {
            $m.add_method(
                name,
                move |_, this, (target, on): (LuaValue, Option<LuaValue>)| {
                    // along a relationship: `:join(User.posts)`, `:join(alias, User.posts)`
                    // (on an alias: `:join(A.posts)`, `:join(Node.parent:of_type(P))`)
                    let along = |v: &LuaValue| match v {
                        LuaValue::UserData(ud) => ud
                            .borrow::<super::relationship::LuaRelAttr>()
                            .ok()
                            .map(|r| r.0.clone()),
                        _ => None,
                    };
                    // a target read through its concrete union (the relationship's, or a
                    // model joined by itself): the statement reads its table as the union
                    let union_of: Option<Rc<crate::orm::Mapper>> = match along(&target) {
                        Some(attr) if attr.of_type.is_some() => None,
                        Some(attr) => Some(attr.rel.target()),
                        None => match &target {
                            LuaValue::UserData(ud) => ud
                                .borrow::<super::model::LuaModel>()
                                .ok()
                                .map(|m| m.mapper.clone()),
                            _ => None,
                        },
                    };
                    let entity = names_entity(&target) || on.as_ref().is_some_and(names_entity);
                    let joins = if let Some(attr) = along(&target) {
                        attr.joins(outer)
                    } else if let Some(attr) = on.as_ref().and_then(along) {
                        let rel = attr.rel.clone();
                        let to = from_target(&target)?;
                        if to.table_id() != rel.target().table.id
                            && !matches!(&to, FromItem::Derived(d) if matches!(&d.kind, crate::sql::DerivedKind::Alias(t) if t.id == rel.target().table.id))
                            && !matches!(&to, FromItem::Derived(d) if is_union_alias(d, &rel.target()))
                        {
                            return Err(arg(format!(
                                ":{name}(): '{}' is not {} (the target of {})",
                                to.describe(),
                                rel.target().class_name,
                                attr.path()
                            )));
                        }
                        attr.joins_to(&to, outer)
                    } else {
                        let to = from_target(&target)?;
                        let on = match on {
                            Some(v) => clause_arg(&v, &format!(":{name}()"))?,
                            None => this.$q.select.infer_join_onclause(&to)
                                .map_err(|e| arg(format!(":{name}(): {}", e.message)))?,
                        };
                        // a subclass of a single-table hierarchy: its identities in the ON
                        let on = crate::orm::relationships::and_extra(on, join_criterion(&target)?);
                        vec![Join { target: to, on, outer }]
                    };
                    with_member(this, name, |q| {
                        q.select.joins.extend(joins);
                        q.select.names_entity |= entity;
                        if let Some(m) = &union_of {
                            q.read_through_union(m);
                        }
                        Ok(())
                    })
                },
            );
        }
        $m.add_method("options", |lua, this, args: Variadic<LuaValue>| {
            super::relationship::ensure_configured(lua, super::result::entities(&this.$q))?;
            with_member(this, "options", |q| {
                super::loader_options::add_options(q, &args)
            })
        });
        $m.add_method("subquery", |_, this, name: Option<String>| {
            derived_of(&this.$q.select, name, false)
        });
        // `:cte([name] [, { recursive = true }])`, or `:cte{ name = ..., recursive = true }`
        $m.add_method("cte", |_, this, (a, b): (LuaValue, Option<mlua::Table>)| {
            let (name, opts) = match a {
                LuaValue::Nil => (None, b),
                LuaValue::String(s) => (Some(s.to_str()?.to_string()), b),
                LuaValue::Table(t) => (t.get::<Option<String>>("name")?, Some(t)),
                other => {
                    return Err(arg(format!(
                        ":cte() expects a name and an options table, got {}",
                        other.type_name()
                    )))
                }
            };
            let recursive = match &opts {
                Some(o) => o.get::<Option<bool>>("recursive")?.unwrap_or(false),
                None => false,
            };
            if recursive {
                let name = name_or_anon(name, ":cte()")?;
                return Ok(LuaSubquery {
                    derived: Derived::recursive_cte(this.$q.select.clone(), &name).lua()?,
                });
            }
            derived_of(&this.$q.select, name, true)
        });
        // `:lateral([name])`: a FROM subquery reading the FROM items before it
        $m.add_method("lateral", |_, this, name: Option<String>| {
            let name = name_or_anon(name, ":lateral()")?;
            Ok(LuaSubquery {
                derived: Derived::lateral(this.$q.select.clone(), &name).lua()?,
            })
        });
        $m.add_method("alias", |_, this, name: Option<String>| {
            derived_of(&this.$q.select, name, false)
        });
        $m.add_method("scalar_subquery", |lua, this, ()| {
            if this.$q.select.columns.len() != 1 {
                return Err(arg(format!(
                    ":scalar_subquery() needs a select of exactly one column, this one has {}",
                    this.$q.select.columns.len()
                )));
            }
            lua.create_userdata(LuaExpr::new(Expr::ScalarSelect(Box::new(
                this.$q.select.clone(),
            ))))
        });
        $m.add_method("exists", |lua, this, ()| {
            lua.create_userdata(LuaExpr::new(Expr::Exists(Box::new(
                this.$q.select.clone(),
            ))))
        });
        for op in [
            crate::sql::SetOp::Union,
            crate::sql::SetOp::UnionAll,
            crate::sql::SetOp::Except,
            crate::sql::SetOp::ExceptAll,
            crate::sql::SetOp::Intersect,
            crate::sql::SetOp::IntersectAll,
        ] {
            let name = op.method();
            $m.add_method(name, move |_, this, others: Variadic<LuaValue>| {
                let s = &this.$q.select;
                // UNION and EXCEPT read left to right on every database; INTERSECT binds
                // tighter than they do on PostgreSQL and MySQL but not on SQLite, so it is
                // not mixed with them in one flat compound
                if let Some((other_op, _)) = s
                    .compound
                    .iter()
                    .find(|(o, _)| o.is_intersect() != op.is_intersect())
                {
                    return Err(arg(format!(
                        ":{name}() on a {}() select: mixing set operations needs a subquery, as in orm.select(q:subquery()):{name}(...)",
                        other_op.method()
                    )));
                }
                if !s.order_by.is_empty() || s.limit.is_some() || s.offset.is_some() {
                    return Err(arg(format!(
                        ":{name}(): call order_by / limit / offset after {name}(), they apply to the whole compound select"
                    )));
                }
                let mut parts = Vec::new();
                for o in others.iter() {
                    let other = select_of(o, &format!(":{name}()"))?;
                    if other.columns.len() != s.columns.len() {
                        return Err(arg(format!(
                            ":{name}(): all selects must have the same number of columns ({} and {})",
                            s.columns.len(),
                            other.columns.len()
                        )));
                    }
                    parts.push((op, other));
                }
                with(this, |q| {
                    q.select.compound.extend(parts);
                    Ok(())
                })
            });
        }
        $m.add_method("with_for_update", |_, this, opts: Option<mlua::Table>| {
            let fu = for_update_of(opts)?;
            with(this, |q| {
                q.select.for_update = Some(fu);
                Ok(())
            })
        });
        $m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let c = compile(
                &Statement::Select(this.$q.select.clone()),
                crate::sql::dialect::default_dialect(),
            )
            .lua()?;
            Ok(c.sql)
        });
    };
}

impl UserData for LuaSelect {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        generative_methods!(m, LuaSelect, q);
    }
}

impl UserData for LuaInsert {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("values", |_, this, t: mlua::Table| {
            let mut next = this.clone();
            next.values = Some(t);
            Ok(next)
        });
        m.add_method("returning", |_, this, args: Variadic<LuaValue>| {
            let mut next = this.clone();
            next.returning = Some(super::dml::returning_arg(&args, "orm.insert()")?);
            Ok(next)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let t = &this.mapper.table;
            let mut ins = crate::sql::Insert::new(t);
            ins.values = (0..t.columns.len()).map(|i| (i, Expr::Slot(i))).collect();
            if let Some(r) = &this.returning {
                ins.returning = r.select.columns.clone();
            }
            Ok(compile(
                &Statement::Insert(ins),
                crate::sql::dialect::default_dialect(),
            )
            .lua()?
            .sql)
        });
    }
}

/// The legacy `session:query(...)`, and a dynamic relationship's query (`lazy =
/// "dynamic"`, SQLAlchemy's `AppenderQuery`).
#[derive(Clone)]
pub struct LuaQuery {
    /// The session it runs in (a dynamic collection of an object outside one has none).
    pub session: Option<AnyUserData>,
    pub q: OrmSelect,
    /// A dynamic relationship's parent: the query is its members, and `append`, `extend`
    /// and `remove` change them.
    pub appender: Option<(Rc<Instance>, Rc<Relationship>)>,
}

impl LuaQuery {
    fn bound(&self) -> LuaResult<&AnyUserData> {
        self.session.as_ref().ok_or_else(|| {
            let (inst, rel) = self.appender.as_ref().expect("only a dynamic query is unbound");
            super::error::kind_err(
                crate::error::ErrorKind::DetachedInstanceError,
                format!(
                    "Parent instance {} is not bound to a Session; the dynamic relationship {} cannot run its query",
                    inst.describe(),
                    rel.path()
                ),
            )
        })
    }

    /// The statement to run: a dynamic relationship's members are those of its parent's
    /// key as it is now (a pending parent is flushed by then).
    fn statement(&self) -> LuaResult<OrmSelect> {
        let mut q = self.q.clone();
        if let Some((inst, rel)) = &self.appender {
            q.select.where_.insert(0, rel.with_parent(inst).lua()?);
        }
        Ok(q)
    }

    /// What a dynamic collection of an object that has no row and no session holds: the
    /// members added to it (SQLAlchemy's query without a session), or `None`.
    fn unsaved_members(&self) -> Option<Vec<Rc<Instance>>> {
        match (&self.session, &self.appender) {
            (None, Some((inst, rel))) if inst.state().key.is_none() => {
                Some(crate::orm::write_only::added_members(inst, rel))
            }
            _ => None,
        }
    }

    /// A query of one entity yields its objects, as SQLAlchemy's legacy Query does; any other
    /// query yields rows.
    fn results(&self, lua: &Lua) -> LuaResult<super::result::ResultSet> {
        let mut r = super::result::run_select(lua, self.bound()?, &self.statement()?)?;
        // the legacy Query uniques the rows of joined eager collections itself
        r.make_unique_if_needed();
        let single_entity = matches!(
            self.q.columns.as_slice(),
            [crate::orm::ResultColumn::Entity { .. }]
        );
        Ok(if single_entity { r.scalars() } else { r })
    }
}

impl UserData for LuaQuery {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        generative_methods!(m, LuaQuery, q);
        m.add_method("all", |lua, this, ()| match this.unsaved_members() {
            Some(items) => super::instance::push_instances(lua, items.iter()),
            None => this.results(lua)?.all(lua),
        });
        m.add_method("first", |lua, this, ()| {
            if let Some(items) = this.unsaved_members() {
                return match items.first() {
                    Some(x) => super::instance::push_instance(lua, x),
                    None => Ok(LuaValue::Nil),
                };
            }
            let mut q = this.clone();
            q.q.select.limit = Some(1);
            q.results(lua)?.first_row(lua)
        });
        m.add_method("one", |lua, this, ()| this.results(lua)?.one(lua, false));
        m.add_method("one_or_none", |lua, this, ()| {
            this.results(lua)?.one(lua, true)
        });
        m.add_method("scalar", |lua, this, ()| {
            // legacy Query.scalar(): one row or none, else MultipleResultsFound
            super::result::run_select(lua, this.bound()?, &this.statement()?)?
                .scalars()
                .one(lua, true)
        });
        m.add_method("count", |_, this, ()| {
            if let Some(items) = this.unsaved_members() {
                return Ok(items.len() as i64);
            }
            // SELECT count(*) FROM (the query)
            let mut inner = this.statement()?.select;
            inner.order_by.clear();
            let s = super::session::session_of(this.bound()?)?;
            let c = s.core.compile(&Statement::Select(inner)).lua()?;
            let sql = format!("SELECT count(*) AS count_1 \nFROM ({}) AS anon_1", c.sql);
            let params = c.bind(&[], &|_| None).lua()?;
            let rows = s.core.query_values(&sql, &params).lua()?;
            match rows.items.first() {
                Some(crate::orm::Item::Value(v, _)) => Ok(v.as_i64().unwrap_or(0)),
                _ => Ok(0),
            }
        });
        // a dynamic relationship's changes, recorded as a write-only collection's
        for (name, append) in [("append", true), ("remove", false)] {
            m.add_method(name, move |lua, this, x: LuaValue| {
                let (inst, rel) = appender_of(this, name)?;
                let x = super::relationship::member(lua, &x, rel)?;
                if append {
                    Events.append(inst, rel, &x).lua()
                } else {
                    Events.remove(inst, rel, &x).lua().map(|_| ())
                }
            });
        }
        m.add_method("extend", |lua, this, list: mlua::Table| {
            let (inst, rel) = appender_of(this, "extend")?;
            for x in list.sequence_values::<LuaValue>() {
                let x = super::relationship::member(lua, &x?, rel)?;
                Events.append(inst, rel, &x).lua()?;
            }
            Ok(())
        });
        m.add_method("get", |lua, this, pk: LuaValue| {
            let m = this
                .q
                .first_entity()
                .ok_or_else(|| arg("query:get() needs an entity"))?
                .clone();
            super::session::get(lua, this.bound()?, &m, pk, &this.q.options)
        });
        m.add_method(
            "update",
            |lua, this, (values, opts): (mlua::Table, Option<mlua::Table>)| {
                use super::dml::{from_query, sync_from_opts, BulkKind};
                let mut bulk = from_query(&this.statement()?, BulkKind::Update)?;
                bulk.values = bulk.by_name(lua, &values, "update")?;
                let sync = sync_from_opts(opts.as_ref())?;
                let core = super::session::session_of(this.bound()?)?.core.clone();
                bulk.execute(&core, sync)?.rowcount_value()
            },
        );
        m.add_method("delete", |_, this, opts: Option<mlua::Table>| {
            use super::dml::{from_query, sync_from_opts, BulkKind};
            let bulk = from_query(&this.statement()?, BulkKind::Delete)?;
            let sync = sync_from_opts(opts.as_ref())?;
            let core = super::session::session_of(this.bound()?)?.core.clone();
            bulk.execute(&core, sync)?.rowcount_value()
        });
        m.add_method("statement", |_, this, ()| {
            Ok(LuaSelect {
                q: this.statement()?,
            })
        });
    }
}

fn appender_of<'a>(
    q: &'a LuaQuery,
    what: &str,
) -> LuaResult<(&'a Rc<Instance>, &'a Rc<Relationship>)> {
    q.appender.as_ref().map(|(i, r)| (i, r)).ok_or_else(|| {
        arg(format!(
            "query:{what}() is for a dynamic relationship's query"
        ))
    })
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "select",
        lua.create_function(|_, args: Variadic<LuaValue>| new_select(&args))?,
    )?;
    orm.set(
        "insert",
        lua.create_function(|lua, m: AnyUserData| {
            Ok(LuaInsert {
                mapper: super::model::dml_mapper(lua, &m, "insert")?,
                values: None,
                returning: None,
            })
        })?,
    )?;
    Ok(())
}
