//! Indexes, unique constraints and foreign keys of a table both sides have, compared as
//! Alembic compares them: indexes and unique constraints by name (an unnamed unique
//! constraint of the models by its columns), removed ones first, then changed ones (dropped
//! and created again), then added ones; foreign keys by what they join (columns, referred
//! table and columns, ON DELETE / ON UPDATE), names aside, since SQLite keeps none.

use crate::engine::reflection::{ReflectedForeignKey, ReflectedIndex};
use crate::schema::{Constraint, Index, Table};

use super::diff::{Diff, ForeignKeyInfo, UniqueInfo};

/// What the database has for one table.
pub struct Reflected {
    pub indexes: Vec<ReflectedIndex>,
    pub uniques: Vec<ReflectedIndex>,
    pub foreign_keys: Vec<ReflectedForeignKey>,
}

/// The models' indexes of a table: `index = true` columns (`ix_<table>_<column>`, unique
/// when the column is) and its `orm.Index` objects.
pub fn metadata_indexes(t: &Table) -> Vec<Index> {
    let mut out: Vec<Index> = t
        .columns
        .iter()
        .filter(|c| c.index)
        .map(|c| Index {
            name: format!("ix_{}_{}", t.name, c.name),
            columns: vec![c.name.clone()],
            unique: c.unique,
        })
        .collect();
    out.extend(t.indexes.iter().cloned());
    out
}

/// The models' unique constraints: `unique = true` columns without an index (unnamed) and
/// `orm.UniqueConstraint`s.
pub fn metadata_uniques(t: &Table) -> Vec<UniqueInfo> {
    let mut out: Vec<UniqueInfo> = t
        .columns
        .iter()
        .filter(|c| c.unique && !c.index)
        .map(|c| UniqueInfo {
            name: None,
            columns: vec![c.name.clone()],
        })
        .collect();
    for c in &t.constraints {
        if let Constraint::Unique { name, columns } = c {
            out.push(UniqueInfo {
                name: name.clone(),
                columns: columns.clone(),
            });
        }
    }
    out
}

/// The models' foreign keys: column-level ones, then table constraints.
pub fn metadata_foreign_keys(t: &Table) -> Vec<ForeignKeyInfo> {
    let mut out = Vec::new();
    for c in &t.columns {
        for fk in &c.foreign_keys {
            let (tt, tc) = fk.target_parts();
            out.push(ForeignKeyInfo {
                name: None,
                columns: vec![c.name.clone()],
                referred_table: tt.to_string(),
                referred_columns: vec![tc.to_string()],
                ondelete: fk.ondelete.clone(),
                onupdate: fk.onupdate.clone(),
            });
        }
    }
    for c in &t.constraints {
        if let Constraint::ForeignKey {
            name,
            columns,
            target_table,
            target_columns,
            ondelete,
            onupdate,
        } = c
        {
            out.push(ForeignKeyInfo {
                name: name.clone(),
                columns: columns.clone(),
                referred_table: target_table.clone(),
                referred_columns: target_columns.clone(),
                ondelete: ondelete.clone(),
                onupdate: onupdate.clone(),
            });
        }
    }
    out
}

/// An action as it compares: `NO ACTION` is no action.
fn action(a: &Option<String>) -> Option<String> {
    a.as_ref()
        .map(|s| s.to_ascii_uppercase())
        .filter(|s| s != "NO ACTION")
}

fn fk_signature(
    fk: &ForeignKeyInfo,
) -> (
    Vec<String>,
    String,
    Vec<String>,
    Option<String>,
    Option<String>,
) {
    (
        fk.columns.clone(),
        fk.referred_table.clone(),
        fk.referred_columns.clone(),
        action(&fk.ondelete),
        action(&fk.onupdate),
    )
}

/// An index or unique constraint by name, on either side.
#[derive(Clone)]
enum Named {
    Index(Index),
    Unique(UniqueInfo),
}

impl Named {
    fn same_as(&self, other: &Named) -> bool {
        match (self, other) {
            (Named::Index(a), Named::Index(b)) => a.columns == b.columns && a.unique == b.unique,
            (Named::Unique(a), Named::Unique(b)) => a.columns == b.columns,
            _ => false,
        }
    }
}

/// Indexes and unique constraints: the `Diff`s that make the database's match the models'.
pub fn compare_indexes(table: &Table, conn: &Reflected, dialect: &str, out: &mut Vec<Diff>) {
    let tname = &table.name;
    let mut meta_indexes = metadata_indexes(table);
    let meta_uniques = metadata_uniques(table);
    let mut conn_uniques: Vec<UniqueInfo> = conn
        .uniques
        .iter()
        .map(|u| UniqueInfo {
            name: u.name.clone(),
            columns: u.columns.clone(),
        })
        .collect();
    let mut conn_indexes: Vec<Index> = conn
        .indexes
        .iter()
        .filter(|ix| !ix.columns.is_empty())
        .filter_map(|ix| {
            Some(Index {
                name: ix.name.clone()?,
                columns: ix.columns.clone(),
                unique: ix.unique,
            })
        })
        .collect();
    let is_mysql = matches!(dialect, "mysql" | "mariadb");
    if is_mysql {
        // the indexes InnoDB adds for foreign keys, named as the column or the key
        let fk_names: Vec<&str> = conn
            .foreign_keys
            .iter()
            .filter_map(|f| f.name.as_deref())
            .collect();
        let mut removed = Vec::new();
        conn_indexes.retain(|ix| {
            let implicit = !ix.unique
                && (ix.columns.contains(&ix.name) || fk_names.contains(&ix.name.as_str()));
            if implicit {
                removed.push(ix.name.clone());
            }
            !implicit
        });
        meta_indexes.retain(|ix| !removed.contains(&ix.name));
    }
    // a name reported both as a unique constraint and an index: PostgreSQL's constraint
    // and the index behind it (the constraint), or MySQL's unique index (whichever the
    // models declare)
    let doubled: Vec<String> = conn_uniques
        .iter()
        .filter_map(|u| u.name.clone())
        .filter(|n| conn_indexes.iter().any(|ix| &ix.name == n))
        .collect();
    for name in doubled {
        let columns = conn_indexes
            .iter()
            .find(|ix| ix.name == name)
            .map(|ix| ix.columns.clone())
            .unwrap_or_default();
        let models_unique = meta_uniques.iter().any(|u| {
            u.name.as_deref() == Some(&name) || (u.name.is_none() && u.columns == columns)
        });
        if !is_mysql || models_unique {
            conn_indexes.retain(|ix| ix.name != name);
        } else {
            conn_uniques.retain(|u| u.name.as_deref() != Some(&name));
        }
    }

    let mut meta_named: Vec<(String, Named)> = Vec::new();
    for ix in &meta_indexes {
        meta_named.push((ix.name.clone(), Named::Index(ix.clone())));
    }
    for u in &meta_uniques {
        if let Some(n) = &u.name {
            meta_named.push((n.clone(), Named::Unique(u.clone())));
        }
    }
    let unnamed_meta: Vec<&UniqueInfo> = meta_uniques.iter().filter(|u| u.name.is_none()).collect();
    let mut conn_named: Vec<(String, Named)> = Vec::new();
    for u in &conn_uniques {
        if let Some(n) = &u.name {
            conn_named.push((n.clone(), Named::Unique(u.clone())));
        }
    }
    for ix in &conn_indexes {
        conn_named.push((ix.name.clone(), Named::Index(ix.clone())));
    }
    meta_named.sort_by(|a, b| a.0.cmp(&b.0));
    conn_named.sort_by(|a, b| a.0.cmp(&b.0));
    let find = |list: &[(String, Named)], n: &str| {
        list.iter().find(|(m, _)| m == n).map(|(_, x)| x.clone())
    };

    let removed = |x: Named, out: &mut Vec<Diff>| match x {
        Named::Index(index) => out.push(Diff::RemoveIndex {
            table: tname.clone(),
            index,
        }),
        Named::Unique(unique) => out.push(Diff::RemoveUnique {
            table: tname.clone(),
            unique,
        }),
    };
    let added = |x: Named, out: &mut Vec<Diff>| match x {
        Named::Index(index) => out.push(Diff::AddIndex {
            table: tname.clone(),
            index,
        }),
        Named::Unique(unique) => out.push(Diff::AddUnique {
            table: tname.clone(),
            unique,
        }),
    };
    for (name, obj) in &conn_named {
        if find(&meta_named, name).is_some() {
            continue;
        }
        if let Named::Unique(u) = obj {
            if unnamed_meta.iter().any(|m| m.columns == u.columns) {
                continue;
            }
        }
        removed(obj.clone(), out);
    }
    for (name, meta) in &meta_named {
        if let Some(conn) = find(&conn_named, name) {
            if !meta.same_as(&conn) {
                removed(conn, out);
                added(meta.clone(), out);
            }
        }
    }
    for (name, meta) in &meta_named {
        if find(&conn_named, name).is_none() {
            added(meta.clone(), out);
        }
    }
    for u in unnamed_meta {
        if !conn_uniques.iter().any(|c| c.columns == u.columns) {
            added(Named::Unique(u.clone()), out);
        }
    }
}

/// Foreign keys: removed ones (in the database's order), then added ones (in the models').
pub fn compare_foreign_keys(table: &Table, conn: &Reflected, out: &mut Vec<Diff>) {
    let meta = metadata_foreign_keys(table);
    let conn: Vec<ForeignKeyInfo> = conn
        .foreign_keys
        .iter()
        .map(|f| ForeignKeyInfo {
            name: f.name.clone(),
            columns: f.columns.clone(),
            referred_table: f.referred_table.clone(),
            referred_columns: f.referred_columns.clone(),
            ondelete: f.ondelete.clone(),
            onupdate: f.onupdate.clone(),
        })
        .collect();
    for fk in &conn {
        if !meta.iter().any(|m| fk_signature(m) == fk_signature(fk)) {
            out.push(Diff::RemoveForeignKey {
                table: table.name.clone(),
                fk: fk.clone(),
            });
        }
    }
    for fk in &meta {
        if !conn.iter().any(|c| fk_signature(c) == fk_signature(fk)) {
            out.push(Diff::AddForeignKey {
                table: table.name.clone(),
                fk: fk.clone(),
            });
        }
    }
}
