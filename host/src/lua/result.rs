//! Results and rows: buffered rows from the core, handed to Lua one row, one scalar or one
//! mapping at a time.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{
    AnyUserData, Lua, MetaMethod, UserData, UserDataFields, UserDataMethods, Value as LuaValue,
};

use super::convert::value_to_lua;
use super::error::{kind_err, IntoLuaResult, LuaResult};
use super::instance::push_instance;
use crate::error::ErrorKind;
use crate::orm::{Item, OrmSelect, Rows};
use crate::value::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rows,
    Scalars,
    Mappings,
}

#[derive(Clone)]
pub struct ResultSet {
    rows: Rc<Rows>,
    /// Row indices still to hand out (after `unique()`), consumed from `pos`.
    order: Option<Rc<Vec<usize>>>,
    pos: Rc<Cell<usize>>,
    mode: Mode,
    pub rowcount: Option<i64>,
}

pub fn item_to_lua(lua: &Lua, item: &Item) -> LuaResult<LuaValue> {
    match item {
        Item::Instance(i) => push_instance(lua, i),
        Item::Value(v, kind) => value_to_lua(lua, v, *kind),
        Item::None => Ok(LuaValue::Nil),
    }
}

/// Runs an ORM select on a session userdata.
pub fn run_select(_lua: &Lua, session: &AnyUserData, q: &OrmSelect) -> LuaResult<ResultSet> {
    let s = super::session::session_of(session)?;
    let rows = s.core.execute_select(q).lua()?;
    Ok(ResultSet::new(rows))
}

impl ResultSet {
    pub fn new(rows: Rows) -> ResultSet {
        ResultSet {
            rows: Rc::new(rows),
            order: None,
            pos: Rc::new(Cell::new(0)),
            mode: Mode::Rows,
            rowcount: None,
        }
    }

    pub fn with_rowcount(n: i64) -> ResultSet {
        let mut r = ResultSet::new(Rows {
            keys: Rc::from(Vec::new()),
            width: 0,
            items: Vec::new(),
        });
        r.rowcount = Some(n);
        r
    }

    fn total(&self) -> usize {
        self.order
            .as_ref()
            .map(|o| o.len())
            .unwrap_or_else(|| self.rows.len())
    }

    fn row_index(&self, n: usize) -> usize {
        self.order.as_ref().map(|o| o[n]).unwrap_or(n)
    }

    /// The next row as the mode wants it, or None at the end.
    fn next(&self, lua: &Lua) -> LuaResult<Option<LuaValue>> {
        let p = self.pos.get();
        if p >= self.total() {
            return Ok(None);
        }
        self.pos.set(p + 1);
        self.render(lua, self.row_index(p)).map(Some)
    }

    fn render(&self, lua: &Lua, i: usize) -> LuaResult<LuaValue> {
        match self.mode {
            Mode::Scalars => item_to_lua(lua, &self.rows.row(i)[0]),
            Mode::Rows => Ok(LuaValue::UserData(lua.create_userdata(LuaRow {
                rows: self.rows.clone(),
                index: i,
            })?)),
            Mode::Mappings => {
                let t = lua.create_table()?;
                for (k, item) in self.rows.keys.iter().zip(self.rows.row(i)) {
                    t.raw_set(&**k, item_to_lua(lua, item)?)?;
                }
                Ok(LuaValue::Table(t))
            }
        }
    }

    pub fn all(&self, lua: &Lua) -> LuaResult<mlua::Table> {
        let start = self.pos.get();
        let total = self.total();
        let t = lua.create_table_with_capacity(total.saturating_sub(start), 0)?;
        for (n, p) in (start..total).enumerate() {
            t.raw_set(n + 1, self.render(lua, self.row_index(p))?)?;
        }
        self.pos.set(total);
        Ok(t)
    }

    pub fn first_row(&self, lua: &Lua) -> LuaResult<LuaValue> {
        let v = self.next(lua)?.unwrap_or(LuaValue::Nil);
        self.pos.set(self.total());
        Ok(v)
    }

    pub fn one(&self, lua: &Lua, or_none: bool) -> LuaResult<LuaValue> {
        let remaining = self.total() - self.pos.get().min(self.total());
        match remaining {
            0 if or_none => Ok(LuaValue::Nil),
            0 => Err(kind_err(
                ErrorKind::NoResultFound,
                "No row was found when one was required",
            )),
            1 => self.first_row(lua),
            _ => Err(kind_err(
                ErrorKind::MultipleResultsFound,
                "Multiple rows were found when exactly one was required",
            )),
        }
    }

    pub fn scalar(&self, lua: &Lua) -> LuaResult<LuaValue> {
        let p = self.pos.get();
        self.pos.set(self.total());
        if p >= self.total() || self.rows.width == 0 {
            return Ok(LuaValue::Nil);
        }
        item_to_lua(lua, &self.rows.row(self.row_index(p))[0])
    }

    pub fn scalars(&self) -> ResultSet {
        self.with_mode(Mode::Scalars)
    }

    fn with_mode(&self, mode: Mode) -> ResultSet {
        let mut r = self.clone();
        r.mode = mode;
        r
    }

    /// Keeps the first of each run of equal rows (entities by identity).
    fn unique(&self) -> ResultSet {
        let mut seen: Vec<Vec<UniqueKey>> = Vec::new();
        let mut set = std::collections::HashSet::new();
        let mut order = Vec::new();
        let width = if self.mode == Mode::Scalars {
            1
        } else {
            self.rows.width
        };
        for n in 0..self.total() {
            let i = self.row_index(n);
            let key: Vec<UniqueKey> = self.rows.row(i)[..width]
                .iter()
                .map(UniqueKey::of)
                .collect();
            if set.insert(key.clone()) {
                order.push(i);
                seen.push(key);
            }
        }
        let mut r = self.clone();
        r.order = Some(Rc::new(order));
        r
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum UniqueKey {
    Ptr(usize),
    Value(Value),
}

impl UniqueKey {
    fn of(item: &Item) -> UniqueKey {
        match item {
            Item::Instance(i) => UniqueKey::Ptr(Rc::as_ptr(i) as usize),
            Item::Value(v, _) => UniqueKey::Value(v.clone()),
            Item::None => UniqueKey::Value(Value::Null),
        }
    }
}

impl UserData for ResultSet {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("rowcount", |_, this| {
            Ok(this.rowcount.unwrap_or(this.rows.len() as i64))
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("all", |lua, this, ()| this.all(lua));
        m.add_method("first", |lua, this, ()| this.first_row(lua));
        m.add_method("one", |lua, this, ()| this.one(lua, false));
        m.add_method("one_or_none", |lua, this, ()| this.one(lua, true));
        m.add_method("scalar", |lua, this, ()| this.scalar(lua));
        m.add_method("scalar_one", |lua, this, ()| {
            this.with_mode(Mode::Scalars).one(lua, false)
        });
        m.add_method("scalar_one_or_none", |lua, this, ()| {
            this.with_mode(Mode::Scalars).one(lua, true)
        });
        m.add_method("scalars", |_, this, ()| Ok(this.with_mode(Mode::Scalars)));
        m.add_method("mappings", |_, this, ()| Ok(this.with_mode(Mode::Mappings)));
        m.add_method("unique", |_, this, ()| Ok(this.unique()));
        m.add_method("fetchmany", |lua, this, n: Option<usize>| {
            let t = lua.create_table()?;
            for k in 0..n.unwrap_or(1) {
                match this.next(lua)? {
                    Some(v) => t.raw_set(k + 1, v)?,
                    None => break,
                }
            }
            Ok(t)
        });
        m.add_method("fetchone", |lua, this, ()| {
            Ok(this.next(lua)?.unwrap_or(LuaValue::Nil))
        });
        m.add_method("keys", |lua, this, ()| {
            lua.create_sequence_from(this.rows.keys.iter().map(|k| k.to_string()))
        });
        // `for row in result do`: the generic for calls the result.
        m.add_meta_method(MetaMethod::Call, |lua, this, _: mlua::MultiValue| {
            Ok(this.next(lua)?.unwrap_or(LuaValue::Nil))
        });
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.total()));
    }
}

pub struct LuaRow {
    rows: Rc<Rows>,
    index: usize,
}

impl UserData for LuaRow {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: LuaValue| {
            let row = this.rows.row(this.index);
            match key {
                LuaValue::Integer(i) if i >= 1 && (i as usize) <= row.len() => {
                    item_to_lua(lua, &row[i as usize - 1])
                }
                LuaValue::String(s) => {
                    let k = s.to_str()?;
                    match this.rows.keys.iter().position(|n| **n == *k) {
                        Some(i) => item_to_lua(lua, &row[i]),
                        None => Ok(LuaValue::Nil),
                    }
                }
                _ => Ok(LuaValue::Nil),
            }
        });
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.rows.width));
        m.add_meta_method(MetaMethod::ToString, |lua, this, ()| {
            let mut parts = Vec::new();
            for item in this.rows.row(this.index) {
                parts.push(match item {
                    Item::Value(v, _) => {
                        let mut s = String::new();
                        crate::value::format_value(&mut s, v);
                        s
                    }
                    Item::Instance(_) => {
                        let v = item_to_lua(lua, item)?;
                        lua.globals()
                            .get::<mlua::Function>("tostring")?
                            .call::<String>(v)?
                    }
                    Item::None => "None".into(),
                });
            }
            Ok(if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            })
        });
        m.add_method("_mapping", |lua, this, ()| {
            let t = lua.create_table()?;
            for (k, item) in this.rows.keys.iter().zip(this.rows.row(this.index)) {
                t.raw_set(&**k, item_to_lua(lua, item)?)?;
            }
            Ok(t)
        });
    }
}
