//! Loader options as Lua values: `orm.joinedload(User.posts)`, `orm.selectinload(A.b):
//! joinedload(B.c)`, `orm.raiseload("*")`, `orm.contains_eager(...)`, `orm.load_only(...)`,
//! `orm.defer(...)`, `orm.undefer(...)`, handed to `stmt:options(...)`. Each call returns a
//! new value; a chained call continues from the end of the path built so far.

use std::rc::Rc;

use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{LuaAliased, LuaExpr};
use super::relationship::LuaRelAttr;
use crate::orm::relationships::{Lazy, Relationship};
use crate::orm::strategy_options::{
    extend_path, refuse_population, ColumnOption, LoaderOption, RelPath,
};
use crate::orm::{Mapper, OrmSelect};

#[derive(Clone, Default)]
pub struct LuaLoad {
    pub options: Vec<LoaderOption>,
    path: RelPath,
}

const RELATIONSHIP_LOADERS: [(&str, Lazy); 5] = [
    ("joinedload", Lazy::Joined),
    ("selectinload", Lazy::Selectin),
    ("lazyload", Lazy::Select),
    ("raiseload", Lazy::Raise),
    ("noload", Lazy::NoLoad),
];

fn rel_arg(v: &LuaValue, what: &str) -> LuaResult<Rc<Relationship>> {
    rel_attr_arg(v, what).map(|a| a.rel)
}

/// The relationship attribute `v` (of a class or an alias: options along it are the
/// relationship's, see docs/API.md).
fn rel_attr_arg(v: &LuaValue, what: &str) -> LuaResult<crate::orm::alias_relationships::RelAttr> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(r) = ud.borrow::<LuaRelAttr>() {
            return Ok(r.0.clone());
        }
    }
    Err(arg(format!(
        "{what}() expects a relationship attribute such as User.posts, got {}",
        super::convert::lua_debug(v)
    )))
}

/// A column attribute (`User.name`) of the entity at the end of `path`.
fn column_arg(v: &LuaValue, path: &RelPath, what: &str) -> LuaResult<(Rc<Mapper>, usize)> {
    let attr = match v {
        LuaValue::UserData(ud) => ud.borrow::<LuaExpr>().ok().and_then(|e| e.attr.clone()),
        _ => None,
    };
    let Some(attr) = attr else {
        return Err(arg(format!(
            "{what}() expects column attributes such as User.name, got {}",
            super::convert::lua_debug(v)
        )));
    };
    if let Some(last) = path.last() {
        let target = last.target();
        if !Rc::ptr_eq(&target, &attr.mapper) {
            return Err(arg(format!(
                "{what}(): attribute '{}.{}' does not belong to {}, the entity '{}' leads to",
                attr.mapper.class_name,
                attr.mapper.attrs[attr.index].key,
                target.class_name,
                last.path()
            )));
        }
    }
    Ok((attr.mapper, attr.index))
}

impl LuaLoad {
    /// This option continued by a relationship loader: `lazy` for `args` (one or more
    /// relationships, each continuing from the one before, or `"*"`).
    fn relationship(&self, args: &[LuaValue], lazy: Lazy, what: &str) -> LuaResult<LuaLoad> {
        let mut next = self.clone();
        // `selectinload(Node.children, { recursion_depth = n })`
        let mut recursion_depth = None;
        let args = match args.split_last() {
            Some((LuaValue::Table(o), rest)) if lazy == Lazy::Selectin => {
                super::options::check_keys(o, &["recursion_depth"], what, false)?;
                recursion_depth = match o.get::<LuaValue>("recursion_depth")? {
                    LuaValue::Nil => None,
                    LuaValue::Integer(n) if n >= -1 => Some(n as i32),
                    LuaValue::Number(n) if n.fract() == 0.0 && n >= -1.0 => Some(n as i32),
                    other => {
                        return Err(arg(format!(
                            "{what}(): recursion_depth must be an integer, -1 for no limit, got {}",
                            super::convert::lua_debug(&other)
                        )))
                    }
                };
                rest
            }
            _ => args,
        };
        if args.is_empty() {
            return Err(arg(format!(
                "{what}() needs a relationship attribute or \"*\""
            )));
        }
        if let [LuaValue::String(s)] = args {
            if s.to_str()? == "*" {
                next.options.push(LoaderOption::Wildcard {
                    prefix: next.path.clone(),
                    lazy,
                });
                return Ok(next);
            }
        }
        // several attributes are a path: only the last gets the strategy, those before
        // keep theirs (SQLAlchemy's `defaultload`)
        for a in args {
            let rel = rel_arg(a, what)?;
            next.path = extend_path(&next.path, &rel).lua()?;
        }
        if matches!(lazy, Lazy::Joined | Lazy::Selectin) {
            if let Some(last) = next.path.last() {
                refuse_population(last).lua()?;
            }
        }
        if let (Some(_), Some(last)) = (recursion_depth, next.path.last()) {
            if !Rc::ptr_eq(&last.parent(), &last.target()) {
                return Err(super::error::kind_err(
                    crate::error::ErrorKind::InvalidRequestError,
                    format!(
                        "recursion_depth option on relationship {} not valid: it is not self-referential",
                        last.path()
                    ),
                ));
            }
        }
        next.options.push(LoaderOption::Relationship {
            path: next.path.clone(),
            lazy,
            recursion_depth,
        });
        Ok(next)
    }

    fn contains_eager(&self, args: &[LuaValue]) -> LuaResult<LuaLoad> {
        let mut next = self.clone();
        let attr = rel_attr_arg(args.first().unwrap_or(&LuaValue::Nil), "orm.contains_eager")?;
        let rel = attr.rel.clone();
        refuse_population(&rel).lua()?;
        next.path = extend_path(&next.path, &rel).lua()?;
        let alias = match args.get(1) {
            // `contains_eager(Node.parent:of_type(Parent))`: the columns of that alias
            None | Some(LuaValue::Nil) => attr.of_type.clone(),
            Some(LuaValue::UserData(ud)) if ud.is::<LuaAliased>() => {
                let a = ud.borrow::<LuaAliased>()?;
                if !Rc::ptr_eq(&a.mapper, &rel.target()) {
                    return Err(arg(format!(
                        "orm.contains_eager({}): the alias is of {}, not {}",
                        rel.path(),
                        a.mapper.class_name,
                        rel.target().class_name
                    )));
                }
                Some(a.derived.clone())
            }
            Some(other) => {
                return Err(arg(format!(
                "orm.contains_eager(): the second argument must be an orm.aliased() entity, got {}",
                other.type_name()
            )))
            }
        };
        next.options.push(LoaderOption::ContainsEager {
            path: next.path.clone(),
            alias,
        });
        Ok(next)
    }

    fn columns(&self, args: &[LuaValue], what: &str) -> LuaResult<LuaLoad> {
        let mut next = self.clone();
        if args.is_empty() {
            return Err(arg(format!("{what}() needs at least one column attribute")));
        }
        let mut cols = Vec::new();
        for a in args {
            cols.push(column_arg(a, &self.path, what)?);
        }
        let mapper = cols[0].0.clone();
        if cols.iter().any(|(m, _)| !Rc::ptr_eq(m, &mapper)) {
            return Err(arg(format!(
                "{what}(): the columns must all belong to one entity"
            )));
        }
        let path = next.path.clone();
        let mut push = |option| {
            next.options.push(LoaderOption::Columns {
                path: path.clone(),
                mapper: mapper.clone(),
                option,
            })
        };
        match what {
            "load_only" => push(ColumnOption::LoadOnly(cols.iter().map(|c| c.1).collect())),
            "defer" | "undefer" => {
                for &(_, i) in &cols {
                    if what == "defer" && mapper.pk.contains(&i) {
                        return Err(arg(format!(
                            "defer(): '{}.{}' is part of the primary key, which always loads",
                            mapper.class_name, mapper.attrs[i].key
                        )));
                    }
                    push(if what == "defer" {
                        ColumnOption::Defer(i)
                    } else {
                        ColumnOption::Undefer(i)
                    });
                }
            }
            _ => unreachable!("column loader names"),
        }
        Ok(next)
    }

    fn describe(&self) -> String {
        let path: Vec<String> = self.path.iter().map(|r| r.path()).collect();
        format!(
            "<loader options: {} option(s) along {}>",
            self.options.len(),
            if path.is_empty() {
                "the root entities".to_string()
            } else {
                path.join(" -> ")
            }
        )
    }
}

impl UserData for LuaLoad {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        for (name, lazy) in RELATIONSHIP_LOADERS {
            m.add_method(name, move |_, this, args: Variadic<LuaValue>| {
                this.relationship(&args, lazy, name)
            });
        }
        m.add_method("contains_eager", |_, this, args: Variadic<LuaValue>| {
            this.contains_eager(&args)
        });
        for name in ["load_only", "defer", "undefer"] {
            m.add_method(name, move |_, this, args: Variadic<LuaValue>| {
                this.columns(&args, name)
            });
        }
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.describe()));
    }
}

/// `stmt:options(...)`: adds the options, checking that each starts from one of the
/// statement's entities.
/// A loader option of its own (`orm.selectin_polymorphic`), with no relationship path.
pub fn lone_option(o: LoaderOption) -> LuaLoad {
    LuaLoad {
        options: vec![o],
        path: Vec::new(),
    }
}

pub fn add_options(q: &mut OrmSelect, args: &[LuaValue]) -> LuaResult<()> {
    let entities: Vec<Rc<Mapper>> = super::result::entities(q).cloned().collect();
    let mut added = Vec::new();
    for a in args {
        let load = match a {
            LuaValue::UserData(ud) if ud.is::<LuaLoad>() => ud.borrow::<LuaLoad>()?.clone(),
            other => {
                return Err(arg(format!(
                    ":options() expects loader options (orm.joinedload(...), orm.load_only(...), ...), got {}",
                    super::convert::lua_debug(other)
                )))
            }
        };
        for o in load.options {
            if let Some(root) = o.root() {
                if !entities.iter().any(|e| Rc::ptr_eq(e, &root)) {
                    return Err(arg(format!(
                        "Mapped class {} does not apply to any of the root entities in this query ({})",
                        root.class_name,
                        entities
                            .iter()
                            .map(|e| e.class_name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            added.push(o);
        }
    }
    Rc::make_mut(&mut q.options).extend(added);
    Ok(())
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    for (name, lazy) in RELATIONSHIP_LOADERS {
        orm.set(
            name,
            lua.create_function(move |_, args: Variadic<LuaValue>| {
                LuaLoad::default().relationship(&args, lazy, &format!("orm.{name}"))
            })?,
        )?;
    }
    orm.set(
        "contains_eager",
        lua.create_function(|_, args: Variadic<LuaValue>| {
            LuaLoad::default().contains_eager(&args)
        })?,
    )?;
    for name in ["load_only", "defer", "undefer"] {
        orm.set(
            name,
            lua.create_function(move |_, args: Variadic<LuaValue>| {
                LuaLoad::default().columns(&args, name)
            })?,
        )?;
    }
    Ok(())
}
