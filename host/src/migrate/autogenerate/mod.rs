//! Autogenerate (Alembic's): the models' MetaData compared with the live database
//! (`compare.rs`, reading it through the Inspector; `types.rs`, `defaults.rs` and
//! `constraints.rs` decide what counts as a change), the differences as `Diff`s
//! (`diff.rs`), and the Lua text of a revision's upgrade and downgrade (`render.rs`), which
//! never drops data live; `auto.rs` applies the safe part at once (new tables, columns and
//! indexes), with the migration operations' ALTER DDL (`sql::ddl_alter`).

pub mod auto;
pub mod compare;
pub mod constraints;
pub mod defaults;
pub mod diff;
pub mod render;
pub mod types;

pub use auto::{auto, AutoEntry, AutoReport};
pub use compare::{compare_metadata, VERSION_TABLE};
pub use diff::{ColumnChange, Diff, ForeignKeyInfo, UniqueInfo};
pub use render::{render_downgrade, render_upgrade};

#[cfg(test)]
mod tests;
