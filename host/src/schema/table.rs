//! A table: its columns in declaration order, its constraints and indexes.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::column::Column;
use crate::arg_err;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    Unique {
        name: Option<String>,
        columns: Vec<String>,
    },
    Check {
        name: Option<String>,
        sql: String,
    },
    ForeignKey {
        name: Option<String>,
        columns: Vec<String>,
        target_table: String,
        target_columns: Vec<String>,
        ondelete: Option<String>,
        onupdate: Option<String>,
    },
    PrimaryKey {
        name: Option<String>,
        columns: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

static NEXT_TABLE_ID: AtomicU32 = AtomicU32::new(1);

#[derive(Debug)]
pub struct Table {
    /// Unique per process: tables are compared and hashed by it.
    pub id: u32,
    pub name: String,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    by_name: HashMap<String, usize>,
    by_key: HashMap<String, usize>,
    primary_key: Vec<usize>,
    /// A joined-table inheritance subclass's join of tables (`None` for a real table).
    pub joined: Option<std::rc::Rc<super::joined::Joined>>,
}

impl Table {
    /// The same table under another identity: where one condition names a table on both
    /// of its sides (a self-referential relationship's join), the columns of one side
    /// point here, so that each use can tell the two apart and re-aim them.
    pub fn stand_in(&self) -> Table {
        Table {
            id: NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed),
            name: self.name.clone(),
            columns: self.columns.clone(),
            constraints: self.constraints.clone(),
            indexes: self.indexes.clone(),
            by_name: self.by_name.clone(),
            by_key: self.by_key.clone(),
            primary_key: self.primary_key.clone(),
            joined: self.joined.clone(),
        }
    }

    /// Builds a table, checking that column names are unique and that table-level
    /// constraints and indexes name existing columns.
    pub fn new(
        name: &str,
        columns: Vec<Column>,
        mut constraints: Vec<Constraint>,
        indexes: Vec<Index>,
    ) -> Result<Table> {
        if name.is_empty() {
            return Err(arg_err!("a table needs a name"));
        }
        let mut by_name = HashMap::new();
        let mut by_key = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            if by_name.insert(c.name.clone(), i).is_some() {
                return Err(arg_err!(
                    "table '{name}' has two columns named '{}'",
                    c.name
                ));
            }
            by_key.insert(c.key.clone(), i);
        }
        let mut primary_key: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.primary_key)
            .map(|(i, _)| i)
            .collect();
        // A PrimaryKeyConstraint in the table arguments names the key instead.
        if let Some(Constraint::PrimaryKey { columns: pk, .. }) = constraints
            .iter()
            .find(|c| matches!(c, Constraint::PrimaryKey { .. }))
        {
            primary_key = pk
                .iter()
                .map(|c| {
                    by_name.get(c).copied().ok_or_else(|| {
                        arg_err!("primary key of table '{name}' names unknown column '{c}'")
                    })
                })
                .collect::<Result<_>>()?;
            constraints.retain(|c| !matches!(c, Constraint::PrimaryKey { .. }));
        }
        let check = |cols: &[String], what: &str| -> Result<()> {
            for c in cols {
                if !by_name.contains_key(c) {
                    return Err(arg_err!(
                        "{what} on table '{name}' names unknown column '{c}'"
                    ));
                }
            }
            Ok(())
        };
        for c in &constraints {
            match c {
                Constraint::Unique { columns, .. } => check(columns, "UniqueConstraint")?,
                Constraint::ForeignKey { columns, .. } => check(columns, "ForeignKeyConstraint")?,
                _ => {}
            }
        }
        for ix in &indexes {
            check(&ix.columns, &format!("Index '{}'", ix.name))?;
        }
        let mut table = Table {
            id: NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            columns,
            constraints,
            indexes,
            by_name,
            by_key,
            primary_key,
            joined: None,
        };
        for i in table.primary_key.clone() {
            table.columns[i].primary_key = true;
            table.columns[i].nullable = false;
        }
        Ok(table)
    }

    /// This table with more columns after its own (a single-table inheritance subclass's):
    /// the same table (its id), so SQL and the metadata see one table.
    pub fn extended(&self, extra: Vec<Column>) -> Result<Table> {
        let mut columns = self.columns.clone();
        columns.extend(extra);
        let mut t = Table::new(
            &self.name,
            columns,
            self.constraints.clone(),
            self.indexes.clone(),
        )?;
        t.id = self.id;
        t.primary_key = self.primary_key.clone();
        Ok(t)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    pub fn column_index_by_key(&self, key: &str) -> Option<usize> {
        self.by_key
            .get(key)
            .copied()
            .or_else(|| self.column_index(key))
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.column_index(name).map(|i| &self.columns[i])
    }
    pub fn primary_key(&self) -> &[usize] {
        &self.primary_key
    }

    /// The column SQLite fills from the rowid: a single INTEGER primary key whose
    /// autoincrement is not switched off.
    pub fn autoincrement_column(&self) -> Option<usize> {
        match self.primary_key.as_slice() {
            [i] => {
                let c = &self.columns[*i];
                (c.ty.is_integer() && c.autoincrement != Some(false) && c.foreign_keys.is_empty()
                    || c.autoincrement == Some(true))
                .then_some(*i)
            }
            _ => None,
        }
    }

    /// Whether this is the table named `name`, or a joined-table subclass's join of it.
    #[inline]
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name
            || self
                .joined
                .as_ref()
                .is_some_and(|j| j.tables.iter().any(|t| t.name == name))
    }

    /// Names of the tables this one references by foreign key.
    pub fn referenced_tables(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |t: &str| {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string())
            }
        };
        for c in &self.columns {
            for fk in &c.foreign_keys {
                push(fk.target_parts().0);
            }
        }
        for c in &self.constraints {
            if let Constraint::ForeignKey { target_table, .. } = c {
                push(target_table);
            }
        }
        out
    }
}

/// `Table('users', MetaData(), Column('id', INTEGER(), ...), ...)`, as SQLAlchemy's repr.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Table('{}', MetaData()", self.name)?;
        for c in &self.columns {
            let ty = c.ty.to_string();
            let call = if ty.ends_with(')') { "" } else { "()" };
            write!(
                f,
                ", Column('{}', {ty}{call}, table=<{}>",
                c.name, self.name
            )?;
            if c.primary_key {
                f.write_str(", primary_key=True")?;
            }
            if !c.nullable {
                f.write_str(", nullable=False")?;
            }
            f.write_str(")")?;
        }
        f.write_str(", schema=None)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SqlType;

    fn pk(name: &str) -> Column {
        let mut c = Column::new(name, SqlType::Integer);
        c.primary_key = true;
        c
    }

    #[test]
    fn rejects_duplicate_and_unknown_columns() {
        let err = Table::new(
            "t",
            vec![pk("id"), Column::new("id", SqlType::Text)],
            vec![],
            vec![],
        )
        .unwrap_err();
        assert!(
            err.message.contains("two columns named 'id'"),
            "{}",
            err.message
        );
        let err = Table::new(
            "t",
            vec![pk("id")],
            vec![Constraint::Unique {
                name: None,
                columns: vec!["nope".into()],
            }],
            vec![],
        )
        .unwrap_err();
        assert!(err.message.contains("unknown column 'nope'"));
    }

    #[test]
    fn integer_primary_key_autoincrements() {
        let t = Table::new(
            "t",
            vec![pk("id"), Column::new("x", SqlType::Text)],
            vec![],
            vec![],
        )
        .unwrap();
        assert_eq!(t.autoincrement_column(), Some(0));
        assert!(!t.columns[0].nullable);
        let t = Table::new("t", vec![pk("a"), pk("b")], vec![], vec![]).unwrap();
        assert_eq!(t.autoincrement_column(), None);
    }
}
