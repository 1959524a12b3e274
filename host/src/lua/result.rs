//! Results and rows: buffered rows from the core, handed to Lua one row, one scalar or one
//! mapping at a time, with SQLAlchemy 2.0's semantics.
//!
//! A `Result` and the `scalars()` / `mappings()` views made from it share one cursor: what
//! one of them fetches the others no longer see. `unique()` filters rows as they are
//! fetched (entities by identity, values by equality) and, as in SQLAlchemy, changes the
//! result it is called on and returns it. `first()`, `one()`, `one_or_none()`, `scalar()`,
//! `scalar_one()` and `scalar_one_or_none()` close the result; fetching from a closed
//! result raises `InvalidRequestError` ("This result object is closed.", SQLAlchemy's
//! `ResourceClosedError`, a subclass of it). An exhausted result that is not closed yields
//! nothing: `all()` → `{}`, `fetchone()` → nil, `first()` → nil, `one()` → `NoResultFound`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::rc::Rc;

use mlua::{
    AnyUserData, Lua, MetaMethod, UserData, UserDataFields, UserDataMethods, Value as LuaValue,
};

use super::convert::value_to_lua;
use super::error::{kind_err, IntoLuaResult, LuaResult};
use super::instance::push_instance;
use crate::error::ErrorKind;
use crate::orm::{Item, OrmSelect, Rows};
use crate::schema::ValueKind;
use crate::value::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rows,
    /// One column of each row (0-based).
    Scalars(usize),
    Mappings,
}

/// The cursor shared by a result and the views made from it.
#[derive(Default)]
struct Cursor {
    pos: Cell<usize>,
    closed: Cell<bool>,
}

type SeenSet = Rc<RefCell<HashSet<Vec<UniqueKey>>>>;

#[derive(Clone)]
pub struct ResultSet {
    /// Emptied (same keys and width) once `all()` has handed out every row, so that the
    /// buffered items do not outlive their use until the result object is collected.
    rows: RefCell<Rc<Rows>>,
    cursor: Rc<Cursor>,
    /// The keys of rows already handed out, when `unique()` is on.
    seen: Option<SeenSet>,
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
/// The mappers of a statement's entity columns.
pub fn entities(q: &OrmSelect) -> impl Iterator<Item = &Rc<crate::orm::Mapper>> {
    q.columns.iter().filter_map(|c| match c {
        crate::orm::ResultColumn::Entity { mapper, .. } => Some(mapper),
        _ => None,
    })
}

pub fn run_select(lua: &Lua, session: &AnyUserData, q: &OrmSelect) -> LuaResult<ResultSet> {
    super::relationship::ensure_configured(lua, entities(q))?;
    let s = super::session::session_of(session)?;
    let rows = s.core.execute_select(q).lua()?;
    Ok(ResultSet::new(rows))
}

fn closed_err() -> mlua::Error {
    kind_err(
        ErrorKind::InvalidRequestError,
        "This result object is closed.",
    )
}

fn no_rows_err() -> mlua::Error {
    kind_err(
        ErrorKind::InvalidRequestError,
        "This result object does not return rows. It has been closed automatically.",
    )
}

impl ResultSet {
    pub fn new(rows: Rows) -> ResultSet {
        ResultSet {
            rows: RefCell::new(Rc::new(rows)),
            cursor: Rc::default(),
            seen: None,
            mode: Mode::Rows,
            rowcount: None,
        }
    }

    /// The result of a statement that returns no rows (INSERT, UPDATE, DELETE without
    /// RETURNING): only `rowcount`.
    pub fn with_rowcount(n: i64) -> ResultSet {
        let mut r = ResultSet::new(Rows::default());
        r.rowcount = Some(n);
        r
    }

    /// The result of a DML statement: its rows when it had RETURNING, and the rows matched.
    pub fn from_outcome(rows: Option<Rows>, rowcount: usize) -> ResultSet {
        match rows {
            Some(rows) => {
                let mut r = ResultSet::new(rows);
                r.rowcount = Some(rowcount as i64);
                r
            }
            None => ResultSet::with_rowcount(rowcount as i64),
        }
    }

    /// `rowcount` as Lua sees it (-1 when unknown).
    pub fn rowcount_value(&self) -> LuaResult<i64> {
        Ok(self.rowcount.unwrap_or(-1))
    }

    fn returns_rows(&self) -> bool {
        !(self.rowcount.is_some() && self.rows().width == 0)
    }

    fn check_open(&self) -> LuaResult<()> {
        if !self.returns_rows() {
            Err(no_rows_err())
        } else if self.cursor.closed.get() {
            Err(closed_err())
        } else if self.rows().needs_unique && self.seen.is_none() {
            Err(kind_err(
                ErrorKind::InvalidRequestError,
                "The unique() method must be invoked on this Result, as it contains results that include joined eager loads against collections",
            ))
        } else {
            Ok(())
        }
    }

    /// The legacy Query uniques rows itself when joined eager collections repeat them.
    pub fn make_unique_if_needed(&mut self) {
        if self.rows().needs_unique {
            self.make_unique();
        }
    }

    /// Turns on `unique()`.
    pub fn make_unique(&mut self) {
        if self.seen.is_none() {
            self.seen = Some(Rc::default());
        }
    }

    fn close(&self) {
        self.cursor.closed.set(true);
        // the cursor may be shared with a result whose rows are not emptied
        let end = self.cursor.pos.get().max(self.rows().len());
        self.cursor.pos.set(end);
    }

    fn rows(&self) -> std::cell::Ref<'_, Rc<Rows>> {
        self.rows.borrow()
    }

    /// The uniqueness key of row `i` as the mode sees it.
    fn unique_key(&self, i: usize) -> Vec<UniqueKey> {
        let rows = self.rows();
        let row = rows.row(i);
        match self.mode {
            Mode::Scalars(c) => vec![UniqueKey::of(&row[c])],
            _ => row.iter().map(UniqueKey::of).collect(),
        }
    }

    /// Index of the next row to hand out (skipping rows already seen under `unique()`),
    /// advancing the cursor; None at the end.
    fn next_index(&self) -> LuaResult<Option<usize>> {
        self.check_open()?;
        let total = self.rows().len();
        loop {
            let p = self.cursor.pos.get();
            if p >= total {
                return Ok(None);
            }
            self.cursor.pos.set(p + 1);
            match &self.seen {
                Some(seen) if !seen.borrow_mut().insert(self.unique_key(p)) => continue,
                _ => return Ok(Some(p)),
            }
        }
    }

    /// The next row as the mode wants it, or None at the end.
    fn next(&self, lua: &Lua) -> LuaResult<Option<LuaValue>> {
        match self.next_index()? {
            Some(i) => self.render(lua, i).map(Some),
            None => Ok(None),
        }
    }

    fn render(&self, lua: &Lua, i: usize) -> LuaResult<LuaValue> {
        match self.mode {
            Mode::Scalars(c) => item_to_lua(lua, &self.rows().row(i)[c]),
            Mode::Rows => Ok(LuaValue::UserData(lua.create_userdata(LuaRow {
                rows: self.rows().clone(),
                index: i,
            })?)),
            Mode::Mappings => Ok(LuaValue::Table(mapping(lua, &self.rows(), i)?)),
        }
    }

    /// Up to `n` rows (all that remain when `n` is None) as a list.
    fn fetch(&self, lua: &Lua, n: Option<usize>) -> LuaResult<mlua::Table> {
        self.fetch_counted(lua, n).map(|(t, _)| t)
    }

    /// `fetch`, with the number of rows fetched (a list of scalars may hold nils).
    fn fetch_counted(&self, lua: &Lua, n: Option<usize>) -> LuaResult<(mlua::Table, usize)> {
        self.check_open()?;
        let rest = self.rows().len() - self.cursor.pos.get().min(self.rows().len());
        let cap = n.map_or(rest, |n| n.min(rest));
        let mut k = 0;
        // a list of entities (`scalars(select(User)):all()`): the instances up to the first
        // other item go into the list in one raw pass, without a protected call per row
        let mut instances = Vec::new();
        let mut other = None;
        let rows = self.rows().clone();
        if let Mode::Scalars(c) = self.mode {
            instances.reserve(cap);
            while n.is_none_or(|n| instances.len() < n) {
                let Some(i) = self.next_index()? else { break };
                match &rows.row(i)[c] {
                    Item::Instance(x) => instances.push(x),
                    _ => {
                        other = Some(i);
                        break;
                    }
                }
            }
        }
        let t = if instances.is_empty() {
            lua.create_table_with_capacity(cap, 0)?
        } else {
            k = instances.len();
            super::instance::push_instances(lua, instances.into_iter())?
        };
        if let Some(i) = other {
            k += 1;
            t.raw_set(k, self.render(lua, i)?)?;
        }
        while n.is_none_or(|n| k < n) {
            match self.next_index()? {
                Some(i) => {
                    k += 1;
                    t.raw_set(k, self.render(lua, i)?)?;
                }
                None => break,
            }
        }
        drop(rows);
        if n.is_none() {
            // every row is out: keep the shape, let the items go
            let mut r = self.rows.borrow_mut();
            *r = Rc::new(Rows {
                keys: r.keys.clone(),
                width: r.width,
                items: Vec::new(),
                needs_unique: r.needs_unique,
            });
        }
        Ok((t, k))
    }

    pub fn all(&self, lua: &Lua) -> LuaResult<mlua::Table> {
        self.fetch(lua, None)
    }

    /// `first()`: the first row or nil; closes the result.
    pub fn first_row(&self, lua: &Lua) -> LuaResult<LuaValue> {
        let v = self.next(lua)?.unwrap_or(LuaValue::Nil);
        self.close();
        Ok(v)
    }

    /// `one()` / `one_or_none()`: exactly one row (or none) among those that remain;
    /// closes the result whatever the outcome.
    pub fn one(&self, lua: &Lua, or_none: bool) -> LuaResult<LuaValue> {
        let first = self.next_index();
        let outcome = match first {
            Err(e) => Err(e),
            Ok(None) if or_none => Ok(LuaValue::Nil),
            Ok(None) => Err(kind_err(
                ErrorKind::NoResultFound,
                "No row was found when one was required",
            )),
            Ok(Some(i)) => match self.next_index() {
                Err(e) => Err(e),
                Ok(Some(_)) => Err(kind_err(
                    ErrorKind::MultipleResultsFound,
                    if or_none {
                        "Multiple rows were found when one or none was required"
                    } else {
                        "Multiple rows were found when exactly one was required"
                    },
                )),
                Ok(None) => self.render(lua, i),
            },
        };
        if self.returns_rows() {
            self.close();
        }
        outcome
    }

    /// `scalar()`: the first column of the first row, or nil; closes the result.
    pub fn scalar(&self, lua: &Lua) -> LuaResult<LuaValue> {
        let col = match self.mode {
            Mode::Scalars(c) => c,
            _ => 0,
        };
        let v = match self.next_index()? {
            Some(i) => item_to_lua(lua, &self.rows().row(i)[col])?,
            None => LuaValue::Nil,
        };
        self.close();
        Ok(v)
    }

    pub fn scalars(&self) -> ResultSet {
        self.with_mode(Mode::Scalars(0))
    }

    fn with_mode(&self, mode: Mode) -> ResultSet {
        let mut r = self.clone();
        r.mode = mode;
        r
    }

    /// `scalars(index)`: a 1-based position or a column name.
    fn scalars_at(&self, which: Option<LuaValue>) -> LuaResult<ResultSet> {
        let width = self.rows().width;
        let col = match which {
            None | Some(LuaValue::Nil) => 0,
            Some(LuaValue::Integer(i)) if i >= 1 && (i as usize) <= width.max(1) => i as usize - 1,
            Some(LuaValue::Number(n)) if n.fract() == 0.0 && n >= 1.0 && (n as usize) <= width => {
                n as usize - 1
            }
            Some(LuaValue::String(s)) => {
                let k = s.to_str()?;
                key_position(&self.rows().keys, &k)?
            }
            Some(other) => {
                return Err(kind_err(
                    ErrorKind::ArgumentError,
                    format!(
                        "result:scalars(): no column at index {} (the row has {width})",
                        other
                            .to_string()
                            .unwrap_or_else(|_| other.type_name().into())
                    ),
                ))
            }
        };
        Ok(self.with_mode(Mode::Scalars(col)))
    }

    /// `result[n]`: the `n`th of the rows that remain (1 is the next row `fetchone` would
    /// give), without fetching it; nil past the end. `#result` counts the same rows, so
    /// `ipairs(result)` visits them.
    fn nth_remaining(&self, lua: &Lua, n: i64) -> LuaResult<LuaValue> {
        self.check_open()?;
        if n < 1 {
            return Ok(LuaValue::Nil);
        }
        let start = self.cursor.pos.get().min(self.rows().len());
        let index = match &self.seen {
            None => Some(start + n as usize - 1).filter(|&i| i < self.rows().len()),
            Some(seen) => {
                let seen = seen.borrow();
                let mut more = HashSet::new();
                (start..self.rows().len())
                    .filter(|&i| {
                        let k = self.unique_key(i);
                        !seen.contains(&k) && more.insert(k)
                    })
                    .nth(n as usize - 1)
            }
        };
        match index {
            Some(i) => self.render(lua, i),
            None => Ok(LuaValue::Nil),
        }
    }

    /// Rows (or scalars, mappings) not yet fetched, after `unique()`.
    fn remaining(&self) -> usize {
        let start = self.cursor.pos.get().min(self.rows().len());
        match &self.seen {
            None => self.rows().len() - start,
            Some(seen) => {
                let seen = seen.borrow();
                let mut more = HashSet::new();
                (start..self.rows().len())
                    .filter(|&i| {
                        let k = self.unique_key(i);
                        !seen.contains(&k) && more.insert(k)
                    })
                    .count()
            }
        }
    }
}

fn mapping(lua: &Lua, rows: &Rows, i: usize) -> LuaResult<mlua::Table> {
    let t = lua.create_table_with_capacity(0, rows.width)?;
    for (k, item) in rows.keys.iter().zip(rows.row(i)) {
        // the first of two columns of the same name wins, as row.name does
        if t.raw_get::<LuaValue>(&**k)?.is_nil() {
            t.raw_set(&**k, item_to_lua(lua, item)?)?;
        }
    }
    Ok(t)
}

/// The position of the column named `k`; a name that two columns share is ambiguous.
fn key_position(keys: &[Rc<str>], k: &str) -> LuaResult<usize> {
    let mut found = keys.iter().enumerate().filter(|(_, n)| ***n == *k);
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(kind_err(
            ErrorKind::InvalidRequestError,
            format!(
                "Ambiguous column name '{k}' in result set column descriptions; label the columns (:label(\"name\")) or use row[i]"
            ),
        )),
        _ => Err(kind_err(
            ErrorKind::InvalidRequestError,
            format!("Could not locate column in row for column '{k}'"),
        )),
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
            // 3.0 and 3 are one value, as in Python
            Item::Value(Value::Real(r), _) if r.fract() == 0.0 && r.abs() < 9.0e15 => {
                UniqueKey::Value(Value::Integer(*r as i64))
            }
            Item::Value(v, _) => UniqueKey::Value(v.clone()),
            Item::None => UniqueKey::Value(Value::Null),
        }
    }
}

impl UserData for ResultSet {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        // the rows an INSERT / UPDATE / DELETE matched; -1 for a SELECT, as SQLite's
        // DBAPI cursor reports
        f.add_field_method_get("rowcount", |_, this| Ok(this.rowcount.unwrap_or(-1)));
        f.add_field_method_get("returns_rows", |_, this| Ok(this.returns_rows()));
        f.add_field_method_get("closed", |_, this| {
            Ok(this.cursor.closed.get() || !this.returns_rows())
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("all", |lua, this, ()| this.all(lua));
        m.add_method("fetchall", |lua, this, ()| this.all(lua));
        m.add_method("first", |lua, this, ()| this.first_row(lua));
        m.add_method("one", |lua, this, ()| this.one(lua, false));
        m.add_method("one_or_none", |lua, this, ()| this.one(lua, true));
        m.add_method("scalar", |lua, this, ()| this.scalar(lua));
        m.add_method("scalar_one", |lua, this, ()| {
            this.scalars_at(None)?.one(lua, false)
        });
        m.add_method("scalar_one_or_none", |lua, this, ()| {
            this.scalars_at(None)?.one(lua, true)
        });
        m.add_method("scalars", |_, this, which: Option<LuaValue>| {
            this.scalars_at(which)
        });
        m.add_method("mappings", |_, this, ()| Ok(this.with_mode(Mode::Mappings)));
        // in place, returning the same result, as SQLAlchemy's `unique()` does
        m.add_function("unique", |_, ud: AnyUserData| {
            ud.borrow_mut::<ResultSet>()?.make_unique();
            Ok(ud)
        });
        m.add_method("fetchmany", |lua, this, n: Option<usize>| {
            this.fetch(lua, n)
        });
        m.add_method("fetchone", |lua, this, ()| {
            Ok(this.next(lua)?.unwrap_or(LuaValue::Nil))
        });
        // `for part in result:partitions(n) do`: lists of up to n rows (all that remain
        // without n) until none remain
        m.add_method("partitions", |lua, this, n: Option<usize>| {
            if n == Some(0) {
                return Err(kind_err(
                    ErrorKind::ArgumentError,
                    "result:partitions(n): n must be a positive number",
                ));
            }
            let r = this.clone();
            lua.create_function(move |lua, _: mlua::MultiValue| {
                let (t, k) = r.fetch_counted(lua, n)?;
                Ok(if k == 0 {
                    LuaValue::Nil
                } else {
                    LuaValue::Table(t)
                })
            })
        });
        m.add_method("close", |_, this, ()| {
            this.close();
            Ok(())
        });
        m.add_method("keys", |lua, this, ()| {
            lua.create_sequence_from(this.rows().keys.iter().map(|k| k.to_string()))
        });
        // `for row in result do`: the generic for calls the result.
        m.add_meta_method(MetaMethod::Call, |lua, this, _: mlua::MultiValue| {
            Ok(this.next(lua)?.unwrap_or(LuaValue::Nil))
        });
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.remaining()));
        // `result[1]`, `ipairs(result)`: the rows that remain, by position
        m.add_meta_method(MetaMethod::Index, |lua, this, key: LuaValue| match key {
            LuaValue::Integer(n) => this.nth_remaining(lua, n),
            LuaValue::Number(n) if n.fract() == 0.0 => this.nth_remaining(lua, n as i64),
            _ => Ok(LuaValue::Nil),
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(match this.mode {
                Mode::Rows => "<Result>",
                Mode::Scalars(_) => "<ScalarResult>",
                Mode::Mappings => "<MappingResult>",
            })
        });
    }
}

pub struct LuaRow {
    rows: Rc<Rows>,
    index: usize,
}

impl LuaRow {
    fn items(&self) -> &[Item] {
        self.rows.row(self.index)
    }
}

/// Python's `repr` of a str.
fn py_str_repr(out: &mut String, s: &str) {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

/// Python's `repr` of the value Lua sees for one column.
fn py_value_repr(out: &mut String, v: &Value, kind: ValueKind) {
    match (v, kind) {
        (Value::Null, _) => out.push_str("None"),
        (Value::Integer(i), ValueKind::Boolean) => {
            out.push_str(if *i != 0 { "True" } else { "False" })
        }
        (Value::Integer(i), ValueKind::Real) => {
            crate::value::format_value(out, &Value::Real(*i as f64))
        }
        (Value::Real(r), ValueKind::Integer) if r.fract() == 0.0 => {
            let _ = write!(out, "{}", *r as i64);
        }
        (Value::Text(s), ValueKind::Json) => out.push_str(s),
        (Value::Text(s), _) => py_str_repr(out, s),
        (Value::Blob(b), _) => {
            out.push_str("b'");
            for &c in b.iter() {
                match c {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    0x20..=0x7e => out.push(c as char),
                    _ => {
                        let _ = write!(out, "\\x{c:02x}");
                    }
                }
            }
            out.push('\'');
        }
        (v, _) => crate::value::format_value(out, v),
    }
}

impl UserData for LuaRow {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        // SQLAlchemy's `row._mapping` and `row._fields`
        f.add_field_method_get("_mapping", |lua, this| mapping(lua, &this.rows, this.index));
        f.add_field_method_get("_fields", |lua, this| {
            lua.create_sequence_from(this.rows.keys.iter().map(|k| k.to_string()))
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("_asdict", |lua, this, ()| {
            mapping(lua, &this.rows, this.index)
        });
        m.add_method("_tuple", |lua, this, ()| {
            let t = lua.create_table_with_capacity(this.rows.width, 0)?;
            for (n, item) in this.items().iter().enumerate() {
                t.raw_set(n + 1, item_to_lua(lua, item)?)?;
            }
            Ok(t)
        });
        m.add_meta_method(MetaMethod::Index, |lua, this, key: LuaValue| {
            let row = this.items();
            match key {
                LuaValue::Integer(i) => match usize::try_from(i) {
                    Ok(i) if i >= 1 && i <= row.len() => item_to_lua(lua, &row[i - 1]),
                    _ => Ok(LuaValue::Nil),
                },
                LuaValue::String(s) => {
                    let k = s.to_str()?;
                    item_to_lua(lua, &row[key_position(&this.rows.keys, &k)?])
                }
                _ => Ok(LuaValue::Nil),
            }
        });
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.rows.width));
        // rows are equal when their columns are: entities by identity, values by equality
        m.add_meta_method(MetaMethod::Eq, |_, this, other: AnyUserData| {
            let Ok(other) = other.borrow::<LuaRow>() else {
                return Ok(false);
            };
            let (a, b) = (this.items(), other.items());
            Ok(a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| UniqueKey::of(x) == UniqueKey::of(y)))
        });
        m.add_meta_method(MetaMethod::ToString, |lua, this, ()| {
            let mut out = String::from("(");
            let items = this.items();
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                match item {
                    Item::Value(v, kind) => py_value_repr(&mut out, v, *kind),
                    Item::Instance(_) => {
                        let v = item_to_lua(lua, item)?;
                        let s = lua
                            .globals()
                            .get::<mlua::Function>("tostring")?
                            .call::<String>(v)?;
                        out.push_str(&s);
                    }
                    Item::None => out.push_str("None"),
                }
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
            Ok(out)
        });
    }
}
