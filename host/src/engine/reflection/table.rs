//! A `schema::Table` built from what the Inspector reads (`Table(name, metadata,
//! autoload_with=engine)`): columns with their types, nullability, server defaults and
//! primary key, foreign keys, unique and check constraints, indexes.

use super::Inspector;
use crate::error::Result;
use crate::schema::{Column, Constraint, ForeignKey, Index, Table};

pub fn reflect_table(inspector: &Inspector, name: &str) -> Result<Table> {
    let reflected = inspector.columns(name)?;
    let pk = inspector.pk_constraint(name)?;
    let fks = inspector.foreign_keys(name)?;
    let uniques = inspector.unique_constraints(name)?;
    let mut columns: Vec<Column> = reflected
        .iter()
        .map(|r| {
            let mut c = Column::new(&r.name, r.ty.clone());
            c.nullable = r.nullable;
            c.primary_key = pk.columns.contains(&r.name);
            // a generated key's default is the database's own (nextval, AUTO_INCREMENT)
            if r.autoincrement == Some(true) {
                c.autoincrement = Some(true);
            } else {
                c.server_default = r.default.clone();
            }
            c
        })
        .collect();
    let mut constraints = Vec::new();
    for fk in fks {
        if let ([col], [target]) = (fk.columns.as_slice(), fk.referred_columns.as_slice()) {
            if let Some(c) = columns.iter_mut().find(|c| &c.name == col) {
                c.foreign_keys.push(ForeignKey {
                    target: format!("{}.{target}", fk.referred_table),
                    name: fk.name,
                    ondelete: fk.ondelete,
                    onupdate: fk.onupdate,
                });
                continue;
            }
        }
        constraints.push(Constraint::ForeignKey {
            name: fk.name,
            columns: fk.columns,
            target_table: fk.referred_table,
            target_columns: fk.referred_columns,
            ondelete: fk.ondelete,
            onupdate: fk.onupdate,
        });
    }
    for u in &uniques {
        constraints.push(Constraint::Unique {
            name: u.name.clone(),
            columns: u.columns.clone(),
        });
    }
    for ck in inspector.check_constraints(name)? {
        constraints.push(Constraint::Check {
            name: ck.name,
            sql: ck.sqltext,
        });
    }
    let indexes = inspector
        .indexes(name)?
        .into_iter()
        // the index behind a unique constraint is the constraint (PostgreSQL, MySQL);
        // an index on an expression has no column to name
        .filter(|ix| !ix.columns.is_empty())
        .filter(|ix| !uniques.iter().any(|u| u.name == ix.name))
        .filter_map(|ix| {
            Some(Index {
                name: ix.name?,
                columns: ix.columns,
                unique: ix.unique,
            })
        })
        .collect();
    Table::new(name, columns, constraints, indexes)
}
