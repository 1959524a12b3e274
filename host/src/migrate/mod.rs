//! Schema migrations (Alembic's): autogenerate compares the models with the database.

pub mod autogenerate;
