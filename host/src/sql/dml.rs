//! INSERT, UPDATE and DELETE statements.

use std::rc::Rc;

use super::expr::Expr;
use crate::schema::Table;

#[derive(Clone, Debug)]
pub struct Insert {
    pub table: Rc<Table>,
    /// (column index, value); a value is usually `Expr::Slot` (one per execution) or a SQL
    /// expression such as `now()`.
    pub values: Vec<(usize, Expr)>,
    pub returning: Vec<Expr>,
    /// Built by `orm.<dialect>.insert`: the dialect it is for and its conflict clause.
    pub upsert: Option<super::upsert::Upsert>,
}

#[derive(Clone, Debug)]
pub struct Update {
    pub table: Rc<Table>,
    pub values: Vec<(usize, Expr)>,
    pub where_: Vec<Expr>,
    pub returning: Vec<Expr>,
}

#[derive(Clone, Debug)]
pub struct Delete {
    pub table: Rc<Table>,
    pub where_: Vec<Expr>,
    pub returning: Vec<Expr>,
}

impl Insert {
    pub fn new(table: &Rc<Table>) -> Insert {
        Insert {
            table: table.clone(),
            values: Vec::new(),
            returning: Vec::new(),
            upsert: None,
        }
    }
}
impl Update {
    pub fn new(table: &Rc<Table>) -> Update {
        Update {
            table: table.clone(),
            values: Vec::new(),
            where_: Vec::new(),
            returning: Vec::new(),
        }
    }
}
impl Delete {
    pub fn new(table: &Rc<Table>) -> Delete {
        Delete {
            table: table.clone(),
            where_: Vec::new(),
            returning: Vec::new(),
        }
    }
}
