//! The SQL layer: an expression tree, statements built from it, and a compiler that turns
//! them into SQL text and bound parameters through a dialect. Nothing here executes.

pub mod compiler;
pub mod ddl;
pub mod ddl_alter;
pub mod dialect;
pub mod dml;
pub mod expr;
pub mod json;
pub mod locking;
pub mod select;
pub mod upsert;
pub mod window;

pub use compiler::{compile, compile_expr, Compiled, Param};
pub use dialect::Dialect;
pub use dml::{Delete, Insert, Update};
pub use expr::{BinOp, ColumnRef, Expr};
pub use select::{infer_onclause, Derived, DerivedKind, FromItem, Join, Select, SetOp};

use std::rc::Rc;

/// Any statement the compiler takes.
#[derive(Clone, Debug)]
pub enum Statement {
    Select(Select),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
    /// `orm.text(...)`.
    Text(Rc<str>),
}

impl Statement {
    /// The table an INSERT, UPDATE or DELETE writes.
    pub fn dml_table(&self) -> Option<&Rc<crate::schema::Table>> {
        match self {
            Statement::Insert(i) => Some(&i.table),
            Statement::Update(u) => Some(&u.table),
            Statement::Delete(d) => Some(&d.table),
            _ => None,
        }
    }
}
