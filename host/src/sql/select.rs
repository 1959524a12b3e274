//! SELECT statements.

use std::rc::Rc;

use super::expr::Expr;
use crate::schema::Table;

#[derive(Clone, Debug)]
pub enum FromItem {
    Table(Rc<Table>),
}

impl FromItem {
    pub fn table_id(&self) -> u32 {
        match self {
            FromItem::Table(t) => t.id,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Join {
    pub target: FromItem,
    pub on: Expr,
    pub outer: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Select {
    pub columns: Vec<Expr>,
    /// FROM items named explicitly (`select_from`); the rest are derived from the columns
    /// and the WHERE clause, as SQLAlchemy does.
    pub from: Vec<FromItem>,
    pub joins: Vec<Join>,
    pub where_: Vec<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Vec<Expr>,
    pub order_by: Vec<Expr>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub distinct: bool,
}

impl Select {
    pub fn new(columns: Vec<Expr>) -> Select {
        Select {
            columns,
            ..Default::default()
        }
    }

    /// The FROM list: explicit items first, then tables named by the columns, the WHERE,
    /// ORDER BY and other clauses, leaving out tables that are join targets.
    pub fn froms(&self) -> Vec<FromItem> {
        let mut tables: Vec<Rc<Table>> = Vec::new();
        for e in self
            .columns
            .iter()
            .chain(&self.where_)
            .chain(&self.order_by)
            .chain(&self.group_by)
            .chain(&self.having)
        {
            e.collect_tables(&mut tables);
        }
        let mut out = self.from.clone();
        for t in tables {
            if out.iter().any(|f| f.table_id() == t.id)
                || self.joins.iter().any(|j| j.target.table_id() == t.id)
            {
                continue;
            }
            out.push(FromItem::Table(t));
        }
        out
    }
}
