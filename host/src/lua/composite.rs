//! `orm.composite(Point, "x", "y")`: several columns of a model read and written as one Lua
//! value (SQLAlchemy's `composite()`).
//!
//! A composite becomes a hybrid property of its model (`computed.rs`), resolved when the
//! model is declared: its getter calls the class with the column values (nil when they are
//! all nil), its setter assigns each column from the value's `__composite_values__()` (a
//! list, or the values returned) or else from the value's fields named like the columns'
//! attributes, and its class side compares column by column
//! (`Vertex.start:eq(Point(1, 2))` is `x1 = ? AND y1 = ?`). Setting the columns is what
//! the unit of work tracks, so reassigning the composite is a change of its columns.

use mlua::{Function, Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::computed::LuaHybrid;
use super::error::{arg, kind_err, LuaResult};
use super::schema::{ColumnSpec, LuaColumnSpec};
use crate::error::ErrorKind;

/// One column of a composite as declared: an attribute name, or an `orm.Column` of the spec
/// (by its creation order).
#[derive(Clone)]
enum Part {
    Key(String),
    Column(u64),
}

/// `orm.composite(class, col, ...)`, as declared.
#[derive(Clone)]
pub struct LuaComposite {
    class: LuaValue,
    parts: Vec<Part>,
}

impl UserData for LuaComposite {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, _, ()| Ok("<composite>"));
    }
}

fn callable(v: &LuaValue) -> bool {
    match v {
        LuaValue::Function(_) => true,
        LuaValue::Table(t) => t
            .metatable()
            .is_some_and(|mt| !matches!(mt.raw_get::<LuaValue>("__call"), Ok(LuaValue::Nil))),
        LuaValue::UserData(ud) => ud.metatable().is_ok_and(|mt| {
            mt.get::<LuaValue>(MetaMethod::Call)
                .is_ok_and(|f| !f.is_nil())
        }),
        _ => false,
    }
}

fn composite(_: &Lua, args: Variadic<LuaValue>) -> LuaResult<LuaComposite> {
    let mut args = args.into_iter();
    let class = args.next().unwrap_or(LuaValue::Nil);
    if !callable(&class) {
        return Err(arg(format!(
            "orm.composite(class, column, ...): the class must be callable (a function or a table with __call) that makes the value from the column values, got {}",
            class.type_name()
        )));
    }
    let mut parts = Vec::new();
    for (i, a) in args.enumerate() {
        parts.push(match &a {
            LuaValue::String(s) => Part::Key(s.to_str()?.to_string()),
            LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => {
                Part::Column(ud.borrow::<LuaColumnSpec>()?.0.order)
            }
            other => {
                return Err(arg(format!(
                    "orm.composite: column {} must be an attribute name or an orm.Column of the model, got {}",
                    i + 1,
                    other.type_name()
                )))
            }
        });
    }
    if parts.is_empty() {
        return Err(arg(
            "orm.composite(class, column, ...) needs at least one column",
        ));
    }
    Ok(LuaComposite { class, parts })
}

/// The getter, setter and class side of a composite, made once per state.
const CHUNK: &str = r##"
local class, keys, raise, what, and_ = ...
local n = #keys
local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end
local function values_of(v)
  if v == nil then return {} end
  local t = type(v)
  if t == "table" or t == "userdata" then
    local cv = v.__composite_values__
    if cv ~= nil then
      local r = pack(cv(v))
      if r.n == 1 and type(r[1]) == "table" then return r[1] end
      return r
    end
    local out, any = {}, false
    for i = 1, n do
      out[i] = v[keys[i]]
      if out[i] ~= nil then any = true end
    end
    if any then return out end
  end
  raise(what .. ": expected a composite value (with a __composite_values__ method, or fields "
    .. table.concat(keys, ", ") .. "), got " .. t)
end
local function get(self)
  local vals, any = {}, false
  for i = 1, n do
    local v = self[keys[i]]
    vals[i] = v
    if v ~= nil then any = true end
  end
  if not any then return nil end
  return class(unpack(vals, 1, n))
end
local function set(self, v)
  local vals = values_of(v)
  for i = 1, n do self[keys[i]] = vals[i] end
end
local Comparator = {}
local methods = {}
for _, op in ipairs({ "eq", "ne", "lt", "le", "gt", "ge" }) do
  methods[op] = function(self, other)
    local vals = values_of(other)
    local parts = {}
    for i = 1, n do parts[i] = self.columns[i][op](self.columns[i], vals[i]) end
    if n == 1 then return parts[1] end
    return and_(unpack(parts, 1, n))
  end
end
Comparator.__tostring = function() return "<composite " .. what .. ">" end
local function expr(cls)
  local cols = {}
  for i = 1, n do cols[i] = cls[keys[i]] end
  local c = { columns = cols }
  for name, f in pairs(methods) do c[name] = f end
  return setmetatable(c, Comparator)
end
return get, set, expr
"##;

/// Replaces each composite among a model's members by its hybrid property, its columns
/// resolved to attribute keys.
pub fn resolve(
    lua: &Lua,
    model: &str,
    columns: &[(String, ColumnSpec)],
    members: Vec<(String, LuaValue)>,
) -> LuaResult<Vec<(String, LuaValue)>> {
    let mut out = Vec::with_capacity(members.len());
    for (key, v) in members {
        let c = match &v {
            LuaValue::UserData(ud) if ud.is::<LuaComposite>() => {
                ud.borrow::<LuaComposite>()?.clone()
            }
            _ => {
                out.push((key, v));
                continue;
            }
        };
        let what = format!("{model}.{key}");
        let attr_key = |(k, s): &(String, ColumnSpec)| s.key.clone().unwrap_or_else(|| k.clone());
        let keys = lua.create_table()?;
        for (i, p) in c.parts.iter().enumerate() {
            let k = match p {
                Part::Key(name) => columns
                    .iter()
                    .map(attr_key)
                    .find(|k| k == name)
                    .ok_or_else(|| {
                        arg(format!(
                            "{what}: orm.composite names '{name}', which is not a column of {model}"
                        ))
                    })?,
                Part::Column(order) => columns
                    .iter()
                    .find(|(_, s)| s.order == *order)
                    .map(attr_key)
                    .ok_or_else(|| {
                        arg(format!(
                            "{what}: column {} of the orm.composite is not a column of {model} (declare it in the model spec too)",
                            i + 1
                        ))
                    })?,
            };
            keys.raw_set(i + 1, k)?;
        }
        let raise = lua.create_function(|_, msg: String| -> LuaResult<()> {
            Err(kind_err(ErrorKind::ArgumentError, msg))
        })?;
        let orm: mlua::Table = lua.named_registry_value("lualchemy.module")?;
        let and_: Function = orm.get("and_")?;
        let make = lua
            .load(CHUNK)
            .set_name("=lualchemy/composite")
            .into_function()?;
        let (getter, setter, expr): (Function, Function, Function) =
            make.call((c.class.clone(), keys, raise, what, and_))?;
        let hybrid = LuaHybrid {
            method: false,
            getter,
            expr: Some(expr),
            setter: Some(setter),
        };
        out.push((key, LuaValue::UserData(lua.create_userdata(hybrid)?)));
    }
    Ok(out)
}

/// The column expressions of a composite's class side (`Box.start`), if `v` is one.
pub fn columns_of(v: &LuaValue) -> LuaResult<Option<Vec<crate::sql::Expr>>> {
    let LuaValue::Table(t) = v else {
        return Ok(None);
    };
    let (LuaValue::Table(cols), LuaValue::Function(_)) = (
        t.raw_get::<LuaValue>("columns")?,
        t.raw_get::<LuaValue>("eq")?,
    ) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for c in cols.sequence_values::<LuaValue>() {
        match c? {
            LuaValue::UserData(ud) if ud.is::<super::expr::LuaExpr>() => {
                out.push(ud.borrow::<super::expr::LuaExpr>()?.expr.clone())
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// `filter_by{ key = value }` for a composite `key` of the entity `target` is the table
/// (or an alias) of: its `:eq(value)`.
pub fn filter_by(
    lua: &Lua,
    target: &crate::sql::FromItem,
    key: &str,
    value: &LuaValue,
) -> LuaResult<Option<crate::sql::Expr>> {
    let Some(LuaValue::Table(side)) = super::computed::filter_by_attr(lua, target, key)? else {
        return Ok(None);
    };
    let eq = match side.raw_get::<LuaValue>("eq")? {
        LuaValue::Function(f) if side.raw_get::<LuaValue>("columns")?.is_table() => f,
        _ => return Ok(None),
    };
    match eq.call::<LuaValue>((side, value.clone()))? {
        LuaValue::UserData(ud) if ud.is::<super::expr::LuaExpr>() => {
            Ok(Some(ud.borrow::<super::expr::LuaExpr>()?.expr.clone()))
        }
        _ => Ok(None),
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set("composite", lua.create_function(composite)?)?;
    Ok(())
}
