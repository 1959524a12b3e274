//! A user-defined type over another (SQLAlchemy's `TypeDecorator`): the database sees the
//! `impl` type (DDL, casts, comparisons), while values pass through the host's own bind and
//! result processing, which the core knows only by an id (`ValueKind::Custom`). The binding
//! keeps the processing functions under that id.

use std::sync::atomic::{AtomicU32, Ordering};

use super::types::SqlType;

static NEXT_DECORATOR_ID: AtomicU32 = AtomicU32::new(1);

/// A decorated type: its `impl`, a name for messages, and the id values convert by.
#[derive(Debug, PartialEq)]
pub struct DecoratedType {
    pub impl_: SqlType,
    pub name: String,
    pub id: u32,
}

impl DecoratedType {
    /// A new decorated type with an id no other has in this process.
    pub fn new(impl_: SqlType, name: &str) -> DecoratedType {
        DecoratedType {
            impl_,
            name: name.to_string(),
            id: NEXT_DECORATOR_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn the_database_sees_the_impl_type() {
        let d = Rc::new(DecoratedType::new(SqlType::String(Some(40)), "Vector"));
        let t = SqlType::Decorated(d.clone());
        assert_eq!(t.to_string(), "VARCHAR(40)");
        assert_eq!(t.for_dialect("postgresql"), &SqlType::String(Some(40)));
        assert_eq!(t.kind(), crate::schema::ValueKind::Custom(d.id));
        let other = DecoratedType::new(SqlType::Integer, "Other");
        assert_ne!(other.id, d.id);
        assert!(SqlType::Decorated(Rc::new(other)).is_integer());
    }
}
