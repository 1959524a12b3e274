//! Migrations, in Alembic's spirit: a folder of revision files forming a line
//! (`revision_map.rs`), the version table (`version_table.rs`), the context that runs each
//! revision in its own transaction or writes its SQL out (`context.rs`), SQLite's table
//! rebuild for batch mode (`batch.rs`), the data check before a narrowing type change
//! (`narrowing.rs`) and the text of new files (`script.rs`). The operations' DDL is
//! `sql::ddl_alter`; the Lua side is `lua/migrate.rs`. Autogenerate (`autogenerate/`) compares
//! the models with the database and writes the operations a revision needs.

pub mod autogenerate;
pub mod batch;
pub mod context;
pub mod narrowing;
pub mod revision_map;
pub mod script;
pub mod version_table;

pub use context::{Bind, MigrationContext};
pub use revision_map::{new_revision_id, Revision, RevisionMap, Step};
