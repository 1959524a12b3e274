//! The ORM: mappers (class ↔ table), instance state with attribute history, the identity
//! map, the session and its unit of work, and the loading of rows into instances.

pub mod alias_relationships;
pub mod attributes;
pub mod bulk;
mod bulk_evaluate;
pub mod bulk_persistence;
pub mod collections;
pub mod comparators;
pub mod concrete;
pub mod cycles;
pub(crate) mod dependency;
pub mod events;
pub mod identity;
pub mod instance;
pub mod loading;
pub mod mapper;
pub mod query;
pub mod relationships;
pub(crate) mod row_cycles;
pub mod session;
pub mod session_bind;
pub mod session_binds;
pub mod strategies;
pub mod strategy_options;
pub mod unitofwork;
pub mod write_only;

pub use identity::IdentityKey;
pub use instance::{Instance, Status};
pub use mapper::Mapper;
pub use query::{Item, OrmSelect, ResultColumn, Rows};
pub use session::{Session, SessionConfig};
