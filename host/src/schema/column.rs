//! A column of a table, with its options and defaults.

use std::fmt;
use std::rc::Rc;

use super::types::SqlType;
use crate::error::Result;
use crate::sql::expr::Expr;
use crate::value::Value;

/// What a Python-side (here: host-side) default function sees: the values of the row being
/// inserted or updated, by column name (SQLAlchemy's context-sensitive default functions).
pub struct DefaultContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub params: &'a [(String, Value)],
}

impl DefaultContext<'_> {
    pub fn current_parameter(&self, name: &str) -> Option<&Value> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A default computed by host code at flush time.
pub trait DefaultFn {
    fn call(&self, ctx: &DefaultContext<'_>) -> Result<Value>;
}

#[derive(Clone)]
pub enum ColumnDefault {
    Value(Value),
    Callable(Rc<dyn DefaultFn>),
    /// A SQL expression, rendered into the INSERT or UPDATE (`func.now()`).
    Sql(Expr),
}

impl fmt::Debug for ColumnDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnDefault::Value(v) => write!(f, "Value({v:?})"),
            ColumnDefault::Callable(_) => f.write_str("Callable"),
            ColumnDefault::Sql(_) => f.write_str("Sql"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    /// `"users.id"`.
    pub target: String,
    /// The constraint's name (`orm.ForeignKey(target, { name = "fk_x" })`), rendered as
    /// `CONSTRAINT fk_x` in the DDL.
    pub name: Option<String>,
    pub ondelete: Option<String>,
    pub onupdate: Option<String>,
}

impl ForeignKey {
    /// `("users", "id")` of `"users.id"`.
    pub fn target_parts(&self) -> (&str, &str) {
        match self.target.rsplit_once('.') {
            Some((t, c)) => (t, c),
            None => (self.target.as_str(), ""),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Column {
    /// The name in the database.
    pub name: String,
    /// The attribute name on a mapped class (usually the same as `name`).
    pub key: String,
    pub ty: SqlType,
    pub primary_key: bool,
    pub nullable: bool,
    pub unique: bool,
    pub index: bool,
    /// `None` is SQLAlchemy's `"auto"`.
    pub autoincrement: Option<bool>,
    pub default: Option<ColumnDefault>,
    /// SQL text of the server-side default.
    pub server_default: Option<String>,
    pub onupdate: Option<ColumnDefault>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Creation order, as SQLAlchemy's column creation counter.
    pub order: u64,
}

impl Column {
    pub fn new(name: &str, ty: SqlType) -> Column {
        Column {
            name: name.to_string(),
            key: name.to_string(),
            ty,
            primary_key: false,
            nullable: true,
            unique: false,
            index: false,
            autoincrement: None,
            default: None,
            server_default: None,
            onupdate: None,
            foreign_keys: Vec::new(),
            order: 0,
        }
    }
}
