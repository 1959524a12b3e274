//! SQLite's batch mode (Alembic's `batch_alter_table`): the changes SQLite's ALTER TABLE
//! cannot make are applied to a description of the table, then the table is rebuilt as
//! SQLite documents it (sqlite.org/lang_altertable.html, "other kinds of table schema
//! changes"): create the new table under a temporary name, copy every row, drop the old
//! table, rename the new one, create its indexes. The runner (`context.rs`) has foreign-key
//! enforcement off around the revision and checks the keys before it commits.

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{Column, Constraint, Index, Table};
use crate::sql::ddl;
use crate::sql::ddl_alter::{AlterColumn, ConstraintKind};
use crate::sql::Dialect;

/// One operation of a batch.
#[derive(Clone, Debug)]
pub enum BatchOp {
    AddColumn(Column),
    DropColumn(String),
    AlterColumn(AlterColumn),
    CreateIndex(Index),
    DropIndex(String),
    AddConstraint(Constraint),
    DropConstraint {
        name: String,
        kind: Option<ConstraintKind>,
    },
}

fn err(table: &str, msg: String) -> Error {
    Error::new(
        ErrorKind::InvalidRequestError,
        format!("batch_alter_table('{table}'): {msg}"),
    )
}

/// The temporary name of the new table, as Alembic's.
pub fn temp_name(table: &str) -> String {
    format!("_alembic_tmp_{table}")
}

/// The table after the batch's operations, and for each of its columns the old column its
/// rows come from (`None`: a new column, filled by its default).
struct Plan {
    columns: Vec<(Column, Option<String>)>,
    constraints: Vec<Constraint>,
    indexes: Vec<Index>,
}

fn rename_in(list: &mut [String], old: &str, new: &str) {
    for c in list.iter_mut() {
        if c == old {
            *c = new.to_string();
        }
    }
}

impl Plan {
    fn column(&mut self, table: &str, name: &str) -> Result<&mut Column> {
        self.columns
            .iter_mut()
            .map(|(c, _)| c)
            .find(|c| c.name == name)
            .ok_or_else(|| err(table, format!("no column named '{name}'")))
    }

    fn apply(&mut self, table: &str, op: &BatchOp) -> Result<()> {
        match op {
            BatchOp::AddColumn(c) => {
                if self.columns.iter().any(|(x, _)| x.name == c.name) {
                    return Err(err(table, format!("column '{}' already exists", c.name)));
                }
                self.columns.push((c.clone(), None));
            }
            BatchOp::DropColumn(name) => {
                let before = self.columns.len();
                self.columns.retain(|(c, _)| &c.name != name);
                if self.columns.len() == before {
                    return Err(err(table, format!("no column named '{name}'")));
                }
                // what names the column goes with it
                self.constraints.retain(|k| match k {
                    Constraint::Unique { columns, .. }
                    | Constraint::ForeignKey { columns, .. }
                    | Constraint::PrimaryKey { columns, .. } => !columns.contains(name),
                    Constraint::Check { .. } => true,
                });
                self.indexes.retain(|ix| !ix.columns.contains(name));
            }
            BatchOp::AlterColumn(a) => {
                let c = self.column(table, &a.name)?;
                if let Some(t) = &a.type_ {
                    c.ty = t.clone();
                }
                if let Some(n) = a.nullable {
                    c.nullable = n;
                }
                if let Some(sd) = &a.server_default {
                    c.server_default = sd.clone();
                }
                if let Some(new) = &a.new_column_name {
                    c.name = new.clone();
                    c.key = new.clone();
                    for k in &mut self.constraints {
                        match k {
                            Constraint::Unique { columns, .. }
                            | Constraint::ForeignKey { columns, .. }
                            | Constraint::PrimaryKey { columns, .. } => {
                                rename_in(columns, &a.name, new)
                            }
                            Constraint::Check { .. } => {}
                        }
                    }
                    for ix in &mut self.indexes {
                        rename_in(&mut ix.columns, &a.name, new);
                    }
                }
            }
            BatchOp::CreateIndex(ix) => {
                if self.indexes.iter().any(|i| i.name == ix.name) {
                    return Err(err(table, format!("index '{}' already exists", ix.name)));
                }
                self.indexes.push(ix.clone());
            }
            BatchOp::DropIndex(name) => {
                let before = self.indexes.len();
                self.indexes.retain(|i| &i.name != name);
                if self.indexes.len() == before {
                    return Err(err(table, format!("no index named '{name}'")));
                }
            }
            BatchOp::AddConstraint(k) => self.constraints.push(k.clone()),
            BatchOp::DropConstraint { name, kind } => {
                let matches_kind = |k: &Constraint| match kind {
                    None => true,
                    Some(ConstraintKind::Unique) => matches!(k, Constraint::Unique { .. }),
                    Some(ConstraintKind::ForeignKey) => {
                        matches!(k, Constraint::ForeignKey { .. })
                    }
                    Some(ConstraintKind::Check) => matches!(k, Constraint::Check { .. }),
                    Some(ConstraintKind::PrimaryKey) => {
                        matches!(k, Constraint::PrimaryKey { .. })
                    }
                };
                let before = self.constraints.len();
                self.constraints.retain(|k| {
                    let n = match k {
                        Constraint::Unique { name, .. }
                        | Constraint::Check { name, .. }
                        | Constraint::ForeignKey { name, .. }
                        | Constraint::PrimaryKey { name, .. } => name,
                    };
                    !(n.as_deref() == Some(name.as_str()) && matches_kind(k))
                });
                let mut found = self.constraints.len() != before;
                if !found && kind.is_none_or(|k| k == ConstraintKind::ForeignKey) {
                    for (c, _) in &mut self.columns {
                        let n = c.foreign_keys.len();
                        c.foreign_keys
                            .retain(|fk| fk.name.as_deref() != Some(name.as_str()));
                        found |= c.foreign_keys.len() != n;
                    }
                }
                if !found {
                    return Err(err(table, format!("no constraint named '{name}'")));
                }
            }
        }
        Ok(())
    }
}

/// The statements that rebuild `old` with `ops` applied, on SQLite.
pub fn rebuild(old: &Table, ops: &[BatchOp], d: &dyn Dialect) -> Result<Vec<String>> {
    let mut plan = Plan {
        columns: old
            .columns
            .iter()
            .map(|c| (c.clone(), Some(c.name.clone())))
            .collect(),
        constraints: old.constraints.clone(),
        indexes: old.indexes.clone(),
    };
    // the primary key as a constraint, so renames and drops follow it
    let pk: Vec<String> = old
        .primary_key()
        .iter()
        .map(|&i| old.columns[i].name.clone())
        .collect();
    for (c, _) in &mut plan.columns {
        c.primary_key = false;
    }
    if !pk.is_empty() {
        plan.constraints.push(Constraint::PrimaryKey {
            name: None,
            columns: pk,
        });
    }
    for op in ops {
        plan.apply(&old.name, op)?;
    }
    let tmp = temp_name(&old.name);
    let sources: Vec<Option<String>> = plan.columns.iter().map(|(_, s)| s.clone()).collect();
    let columns: Vec<Column> = plan.columns.into_iter().map(|(c, _)| c).collect();
    let new = Table::new(&tmp, columns, plan.constraints, Vec::new())
        .map_err(|e| err(&old.name, e.message))?;
    let mut out = vec![ddl::create_table(&new, d)];
    let mut into = Vec::new();
    let mut from = Vec::new();
    for (c, src) in new.columns.iter().zip(&sources) {
        if let Some(s) = src {
            let mut a = String::new();
            d.quote_identifier(&c.name, &mut a);
            into.push(a);
            let mut b = String::new();
            d.quote_identifier(s, &mut b);
            from.push(b);
        }
    }
    let mut copy = String::from("INSERT INTO ");
    d.quote_identifier(&tmp, &mut copy);
    copy.push_str(&format!(
        " ({}) SELECT {} FROM ",
        into.join(", "),
        from.join(", ")
    ));
    d.quote_identifier(&old.name, &mut copy);
    out.push(copy);
    out.push(ddl::drop_table(old, d));
    out.push(crate::sql::ddl_alter::rename_table(d, &tmp, &old.name));
    for ix in &plan.indexes {
        out.push(crate::sql::ddl_alter::create_index(
            d,
            &ix.name,
            &old.name,
            &ix.columns,
            ix.unique,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SqlType;
    use crate::sql::dialect::SqliteDialect;

    fn table() -> Table {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        let name = Column::new("name", SqlType::String(Some(100)));
        let old = Column::new("old", SqlType::Integer);
        Table::new(
            "users",
            vec![id, name, old],
            vec![],
            vec![Index {
                name: "ix_users_name".into(),
                columns: vec!["name".into()],
                unique: false,
            }],
        )
        .unwrap()
    }

    #[test]
    fn rebuild_follows_sqlites_procedure() {
        let ops = vec![
            BatchOp::AlterColumn(AlterColumn {
                name: "name".into(),
                new_column_name: Some("full_name".into()),
                nullable: Some(false),
                ..Default::default()
            }),
            BatchOp::DropColumn("old".into()),
            BatchOp::AddColumn(Column::new("score", SqlType::Integer)),
        ];
        let sql = rebuild(&table(), &ops, &SqliteDialect).unwrap();
        assert_eq!(
            sql,
            vec![
                "CREATE TABLE _alembic_tmp_users (\n\tid INTEGER NOT NULL, \n\tfull_name VARCHAR(100) NOT NULL, \n\tscore INTEGER, \n\tPRIMARY KEY (id)\n)",
                "INSERT INTO _alembic_tmp_users (id, full_name) SELECT id, name FROM users",
                "DROP TABLE users",
                "ALTER TABLE _alembic_tmp_users RENAME TO users",
                "CREATE INDEX ix_users_name ON users (full_name)",
            ]
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        let e = rebuild(
            &table(),
            &[BatchOp::DropColumn("nope".into())],
            &SqliteDialect,
        )
        .unwrap_err();
        assert!(e
            .message
            .contains("batch_alter_table('users'): no column named 'nope'"));
        let e = rebuild(
            &table(),
            &[BatchOp::DropConstraint {
                name: "fk_x".into(),
                kind: None,
            }],
            &SqliteDialect,
        )
        .unwrap_err();
        assert!(e.message.contains("no constraint named 'fk_x'"));
    }
}
