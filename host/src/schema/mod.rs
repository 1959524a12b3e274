//! Schema objects: types, columns, tables, constraints and the MetaData that collects them.
//! Plain Rust; the DDL is compiled by `sql::ddl` through a dialect.

pub mod column;
pub mod joined;
pub mod metadata;
pub mod table;
pub mod type_decorator;
pub mod types;

pub use column::{Column, ColumnDefault, DefaultContext, DefaultFn, ForeignKey};
pub use metadata::MetaData;
pub use table::{Constraint, Index, Table};
pub use type_decorator::DecoratedType;
pub use types::{SqlType, ValueKind};
