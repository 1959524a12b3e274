//! One row of a result, as every driver hands it to the loaders: SQLite's row read in
//! place, or the values a server driver decoded.

use crate::error::{Error, Result};
use crate::value::Value;

pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a [Value]),
}

impl Row<'_> {
    /// Column `i` as a core value.
    #[inline]
    pub fn value(&self, i: usize) -> Result<Value> {
        match self {
            Row::Sqlite(r) => r
                .get_ref(i)
                .map(Value::from_sql)
                .map_err(|e| Error::from_db(e, "fetch", &[])),
            Row::Values(v) => v
                .get(i)
                .cloned()
                .ok_or_else(|| crate::arg_err!("result row has no column {}", i + 1)),
        }
    }

    /// Column `i` when it holds an integer (the identity map's fast path), else `None`.
    #[inline]
    pub fn integer(&self, i: usize) -> Result<Option<i64>> {
        match self {
            Row::Sqlite(r) => match r.get_ref(i) {
                Ok(rusqlite::types::ValueRef::Integer(n)) => Ok(Some(n)),
                Ok(_) => Ok(None),
                Err(e) => Err(Error::from_db(e, "fetch", &[])),
            },
            Row::Values(v) => Ok(v.get(i).and_then(Value::as_i64)),
        }
    }
}
