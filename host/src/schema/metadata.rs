//! MetaData: the collection of tables, and their order by foreign-key dependency.

use std::cell::RefCell;
use std::rc::Rc;

use super::table::Table;
use crate::arg_err;
use crate::error::Result;

#[derive(Default, Debug)]
pub struct MetaData {
    tables: RefCell<Vec<Rc<Table>>>,
}

impl MetaData {
    pub fn new() -> Rc<MetaData> {
        Rc::new(MetaData::default())
    }

    pub fn add(&self, table: Rc<Table>) -> Result<()> {
        let mut tables = self.tables.borrow_mut();
        if tables.iter().any(|t| t.name == table.name) {
            return Err(arg_err!(
                "Table '{}' is already defined for this MetaData instance",
                table.name
            ));
        }
        tables.push(table);
        Ok(())
    }

    /// Puts `table` in the place of the table of the same name (a single-table
    /// inheritance subclass added its columns).
    pub fn replace(&self, table: Rc<Table>) {
        let mut tables = self.tables.borrow_mut();
        match tables.iter_mut().find(|t| t.name == table.name) {
            Some(t) => *t = table,
            None => tables.push(table),
        }
    }

    pub fn get(&self, name: &str) -> Option<Rc<Table>> {
        self.tables
            .borrow()
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    pub fn tables(&self) -> Vec<Rc<Table>> {
        self.tables.borrow().clone()
    }

    /// Tables with every table after the ones it references (SQLAlchemy's `sorted_tables`);
    /// cycles are broken in declaration order.
    pub fn sorted_tables(&self) -> Vec<Rc<Table>> {
        sort_by_dependency(&self.tables.borrow(), &[])
    }
}

/// Orders tables so that referenced tables come first; stable for independent tables.
/// `skip` lists foreign-key edges (table id, referenced table name) to leave out, as the
/// unit of work does for relationships written by `post_update`.
pub fn sort_by_dependency(tables: &[Rc<Table>], skip: &[(u32, String)]) -> Vec<Rc<Table>> {
    let n = tables.len();
    let deps: Vec<Vec<usize>> = tables
        .iter()
        .map(|t| {
            t.referenced_tables()
                .iter()
                .filter(|r| !skip.iter().any(|(id, name)| *id == t.id && name == *r))
                .filter_map(|r| tables.iter().position(|o| o.is_named(r)))
                .filter(|&j| tables[j].id != t.id)
                .collect()
        })
        .collect();
    let mut state = vec![0u8; n]; // 0 new, 1 visiting, 2 done
    let mut out = Vec::with_capacity(n);
    fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8], out: &mut Vec<usize>) {
        if state[i] != 0 {
            return; // done, or a cycle: leave it in declaration order
        }
        state[i] = 1;
        for &d in &deps[i] {
            visit(d, deps, state, out);
        }
        state[i] = 2;
        out.push(i);
    }
    for i in 0..n {
        visit(i, &deps, &mut state, &mut out);
    }
    out.into_iter().map(|i| tables[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ForeignKey, SqlType};

    #[test]
    fn referenced_tables_sort_first() {
        let md = MetaData::new();
        let mut fk = Column::new("author_id", SqlType::Integer);
        fk.foreign_keys.push(ForeignKey {
            target: "authors.id".into(),
            name: None,
            ondelete: None,
            onupdate: None,
        });
        md.add(Rc::new(
            Table::new("books", vec![fk], vec![], vec![]).unwrap(),
        ))
        .unwrap();
        md.add(Rc::new(
            Table::new(
                "authors",
                vec![Column::new("id", SqlType::Integer)],
                vec![],
                vec![],
            )
            .unwrap(),
        ))
        .unwrap();
        let names: Vec<_> = md.sorted_tables().iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["authors", "books"]);
        assert!(md
            .add(Rc::new(
                Table::new("books", vec![], vec![], vec![]).unwrap_or_else(|_| unreachable!())
            ))
            .is_err());
    }
}
