//! A joined-table inheritance subclass's mapped selectable: its parents' tables and its own
//! joined on the primary key (`employees JOIN engineers ON employees.id = engineers.id`),
//! seen as one table whose columns are the parents' then the subclass's own. SQL renders
//! each of its columns as the real table's, and the table itself, in FROM, as the join.

use std::rc::Rc;

use super::table::Table;
use crate::error::Result;

#[derive(Debug)]
pub struct Joined {
    /// The real tables, the base's first, each subclass's after its parent's.
    pub tables: Vec<Rc<Table>>,
    /// Per column of the joined table: (position in `tables`, column index there).
    pub origin: Vec<(usize, usize)>,
    /// Per entry of `tables`: for each of its columns, the joined table's column whose value
    /// it holds (a subclass table's primary key holds the base's).
    pub source: Vec<Vec<usize>>,
}

impl Joined {
    /// The real table and column of the joined table's column `i`.
    #[inline]
    pub fn real(&self, i: usize) -> (&Rc<Table>, usize) {
        let (t, c) = self.origin[i];
        (&self.tables[t], c)
    }

    /// Pairs (parent table's column, subclass table `k`'s column) of the join's ON clause
    /// of table `k` (k > 0): the subclass table's columns that hold a parent's column.
    pub fn on_pairs(&self, k: usize) -> Vec<((&Rc<Table>, usize), usize)> {
        self.source[k]
            .iter()
            .enumerate()
            .filter(|(_, &src)| self.origin[src].0 != k)
            .filter(|(j, _)| self.tables[k].columns[*j].primary_key)
            .map(|(j, &src)| (self.real(src), j))
            .collect()
    }
}

/// Builds the joined table of a subclass: `parent` (a real table or a parent's joined table)
/// then `local`, the subclass's own table. A column of `local` whose key is a column of the
/// parent (its primary key, a foreign key to the parent's) holds the parent's value and is
/// not repeated.
pub fn join_tables(name: &str, parent: &Rc<Table>, local: &Rc<Table>) -> Result<Table> {
    let (mut tables, mut origin, mut source) = match &parent.joined {
        Some(j) => (j.tables.clone(), j.origin.clone(), j.source.clone()),
        None => (
            vec![parent.clone()],
            (0..parent.columns.len()).map(|c| (0, c)).collect(),
            vec![(0..parent.columns.len()).collect()],
        ),
    };
    let k = tables.len();
    let mut columns = parent.columns.clone();
    let mut src = Vec::with_capacity(local.columns.len());
    // SQLAlchemy joins the tables on their foreign keys (NoForeignKeysError without one)
    let refers_to_parent = |target: &str| {
        tables
            .iter()
            .any(|t| target.split('.').next() == Some(t.name.as_str()))
    };
    let has_fk = local
        .columns
        .iter()
        .flat_map(|c| &c.foreign_keys)
        .any(|fk| refers_to_parent(&fk.target))
        || local.constraints.iter().any(|c| {
            matches!(c, super::table::Constraint::ForeignKey { target_table, .. }
                if tables.iter().any(|t| &t.name == target_table))
        });
    if !has_fk {
        return Err(crate::arg_err!(
            "model {name}: Can't determine the inherit condition between inherited table '{}' and inheriting table '{}'; tables have no foreign key relationships established (give the primary key of '{}' a foreign key to the parent's)",
            parent.name,
            local.name,
            local.name
        ));
    }
    for (j, c) in local.columns.iter().enumerate() {
        match parent.column_index_by_key(&c.key) {
            // a column of the parent's key other than the primary key would be combined
            // with the parent's under one attribute (SQLAlchemy warns so): refused
            Some(_) if !c.primary_key => {
                return Err(crate::arg_err!(
                    "model {name}: column '{}' of table '{}' has the key of a column its parent already maps; give it another attribute name",
                    c.key,
                    local.name
                ));
            }
            Some(p) => src.push(p),
            None => {
                let mut c = c.clone();
                c.primary_key = false;
                src.push(columns.len());
                origin.push((k, j));
                columns.push(c);
            }
        }
    }
    if !local.primary_key().iter().all(|&j| {
        parent.columns[..]
            .get(src[j])
            .is_some_and(|c| c.primary_key)
    }) {
        return Err(crate::arg_err!(
            "model {name}: the primary key of table '{}' must be the parent's (a column of the same key, a foreign key to it)",
            local.name
        ));
    }
    tables.push(local.clone());
    source.push(src);
    Joined {
        tables,
        origin,
        source,
    }
    .into_table(&local.name, columns)
}

/// The mapped selectable of a single-table subclass of a joined-table subclass: the
/// parent's join (`joined_table`), its last table (the parent's own) with the subclass's
/// columns `extra` added (the same table, by id and name), and those columns after the
/// parent's. A new selectable (its own id): the subclass's rows are written with its
/// columns, the parent's with the parent's.
pub fn with_local_columns(
    name: &str,
    joined_table: &Table,
    extra: &[super::Column],
) -> Result<Table> {
    let j = joined_table.joined.as_ref().ok_or_else(|| {
        crate::arg_err!(
            "model {name}: {} is not a joined-table selectable",
            joined_table.name
        )
    })?;
    let k = j.tables.len() - 1;
    let own = &j.tables[k];
    let local = Rc::new(own.extended(extra.to_vec())?);
    let mut tables = j.tables.clone();
    tables[k] = local.clone();
    let mut origin = j.origin.clone();
    let mut source = j.source.clone();
    let mut columns = joined_table.columns.clone();
    for (n, c) in extra.iter().enumerate() {
        let mut c = c.clone();
        c.primary_key = false;
        source[k].push(columns.len());
        origin.push((k, own.columns.len() + n));
        columns.push(c);
    }
    Joined {
        tables,
        origin,
        source,
    }
    .into_table(&local.name, columns)
}

impl Joined {
    /// The mapped selectable of this join: `columns` under `name` (the subclass's own table).
    fn into_table(self, name: &str, columns: Vec<super::Column>) -> Result<Table> {
        let mut t = Table::new(name, columns, Vec::new(), Vec::new())?;
        t.joined = Some(Rc::new(self));
        Ok(t)
    }
}
