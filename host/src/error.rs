//! The one error type of lualchemy: a kind from SQLAlchemy's exception hierarchy, a message
//! that names the model, attribute or table involved, and for database errors the statement,
//! its parameters and the driver's own message.

use std::fmt;
use std::sync::Arc;

use crate::value::Value;

/// SQLAlchemy's exception classes that lualchemy raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    ArgumentError,
    InvalidRequestError,
    NoResultFound,
    MultipleResultsFound,
    DetachedInstanceError,
    PendingRollbackError,
    StaleDataError,
    ObjectDeletedError,
    UnmappedInstanceError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    DataError,
    /// The database's own state refuses the work (PostgreSQL's "current transaction is
    /// aborted" until ROLLBACK, an internal error): SQLAlchemy's `InternalError`.
    InternalError,
    /// Any other database error (SQLAlchemy's `DBAPIError` base).
    DBAPIError,
    /// Python's `AttributeError`: setting a read-only attribute (a hybrid without a
    /// setter, a `column_property`).
    AttributeError,
    /// The unit of work found rows that must each be written before the other (two rows of
    /// a self-referential table pointing at each other, a row pointing at itself) and no
    /// `post_update` to break the cycle.
    CircularDependencyError,
    /// Python's `LookupError`: a value read from the database that is not among an
    /// `orm.Enum`'s values.
    LookupError,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::ArgumentError,
        ErrorKind::InvalidRequestError,
        ErrorKind::NoResultFound,
        ErrorKind::MultipleResultsFound,
        ErrorKind::DetachedInstanceError,
        ErrorKind::PendingRollbackError,
        ErrorKind::StaleDataError,
        ErrorKind::ObjectDeletedError,
        ErrorKind::UnmappedInstanceError,
        ErrorKind::IntegrityError,
        ErrorKind::OperationalError,
        ErrorKind::ProgrammingError,
        ErrorKind::DataError,
        ErrorKind::InternalError,
        ErrorKind::DBAPIError,
        ErrorKind::AttributeError,
        ErrorKind::CircularDependencyError,
        ErrorKind::LookupError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ArgumentError => "ArgumentError",
            ErrorKind::InvalidRequestError => "InvalidRequestError",
            ErrorKind::NoResultFound => "NoResultFound",
            ErrorKind::MultipleResultsFound => "MultipleResultsFound",
            ErrorKind::DetachedInstanceError => "DetachedInstanceError",
            ErrorKind::PendingRollbackError => "PendingRollbackError",
            ErrorKind::StaleDataError => "StaleDataError",
            ErrorKind::ObjectDeletedError => "ObjectDeletedError",
            ErrorKind::UnmappedInstanceError => "UnmappedInstanceError",
            ErrorKind::IntegrityError => "IntegrityError",
            ErrorKind::OperationalError => "OperationalError",
            ErrorKind::ProgrammingError => "ProgrammingError",
            ErrorKind::DataError => "DataError",
            ErrorKind::InternalError => "InternalError",
            ErrorKind::DBAPIError => "DBAPIError",
            ErrorKind::AttributeError => "AttributeError",
            ErrorKind::CircularDependencyError => "CircularDependencyError",
            ErrorKind::LookupError => "LookupError",
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The parent class in SQLAlchemy's hierarchy (`None` for the root, `SQLAlchemyError`).
    pub fn parent(self) -> Option<&'static str> {
        use ErrorKind::*;
        Some(match self {
            IntegrityError | OperationalError | ProgrammingError | DataError | InternalError => {
                "DBAPIError"
            }
            NoResultFound
            | MultipleResultsFound
            | DetachedInstanceError
            | PendingRollbackError
            | ObjectDeletedError
            | UnmappedInstanceError => "InvalidRequestError",
            ArgumentError
            | InvalidRequestError
            | StaleDataError
            | DBAPIError
            | AttributeError
            | CircularDependencyError
            | LookupError => "SQLAlchemyError",
        })
    }

    /// `is("DBAPIError")` is true of an `IntegrityError`; every kind is a `SQLAlchemyError`
    /// (also spelled `Error`).
    pub fn is(self, name: &str) -> bool {
        if name == self.name() || name == "SQLAlchemyError" || name == "Error" {
            return true;
        }
        let mut parent = self.parent();
        while let Some(p) = parent {
            if p == name {
                return true;
            }
            parent = ErrorKind::from_name(p).and_then(|k| k.parent());
        }
        false
    }
}

/// A database error's context: what was sent when the driver refused it.
#[derive(Clone, Debug, Default)]
pub struct DbContext {
    pub statement: String,
    pub params: Vec<Value>,
    /// The driver's own message.
    pub orig: String,
}

#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub db: Option<Box<DbContext>>,
    /// An error raised by host code (a Lua function called from the core), kept whole so the
    /// binding can hand the very value back to its caller.
    pub cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            db: None,
            cause: None,
        }
    }
    pub fn argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::ArgumentError, message)
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequestError, message)
    }

    /// Wraps a SQLite error with the statement and parameters that caused it.
    pub fn from_db(err: rusqlite::Error, statement: &str, params: &[Value]) -> Error {
        let (kind, orig) = classify_sqlite(&err);
        Error::db(kind, orig, statement, params)
    }

    /// A driver's error already classified (the server drivers classify their own), with
    /// the statement and parameters that caused it.
    pub fn db(kind: ErrorKind, orig: String, statement: &str, params: &[Value]) -> Error {
        Error {
            kind,
            message: orig.clone(),
            db: Some(Box::new(DbContext {
                statement: statement.to_string(),
                params: params.to_vec(),
                orig,
            })),
            cause: None,
        }
    }

    /// An error raised by host code, carried through the core unchanged.
    pub fn external(
        kind: ErrorKind,
        message: impl Into<String>,
        cause: Arc<dyn std::error::Error + Send + Sync>,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            db: None,
            cause: Some(cause),
        }
    }

    pub fn statement(&self) -> Option<&str> {
        self.db.as_ref().map(|d| d.statement.as_str())
    }
}

fn classify_sqlite(err: &rusqlite::Error) -> (ErrorKind, String) {
    use rusqlite::ErrorCode::*;
    match err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let text = msg.clone().unwrap_or_else(|| e.to_string());
            if e.code == OperationInterrupted {
                // only the hardened engine's progress handler interrupts statements
                return (
                    ErrorKind::OperationalError,
                    "interrupted: the timeout expired while the statement ran".to_string(),
                );
            }
            let kind = match e.code {
                ConstraintViolation => ErrorKind::IntegrityError,
                TypeMismatch | TooBig => ErrorKind::DataError,
                Unknown if text.contains("syntax error") || text.contains("no such") => {
                    ErrorKind::OperationalError
                }
                _ => ErrorKind::OperationalError,
            };
            (kind, text)
        }
        rusqlite::Error::InvalidParameterCount(..) | rusqlite::Error::InvalidParameterName(_) => {
            (ErrorKind::ProgrammingError, err.to_string())
        }
        rusqlite::Error::ToSqlConversionFailure(_)
        | rusqlite::Error::IntegralValueOutOfRange(..) => (ErrorKind::DataError, err.to_string()),
        _ => (ErrorKind::OperationalError, err.to_string()),
    }
}

impl fmt::Display for Error {
    /// Reads like SQLAlchemy's: `IntegrityError: UNIQUE constraint failed: users.email
    /// [SQL: INSERT INTO users ...] [parameters: ('a', 'b')]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)?;
        if let Some(db) = &self.db {
            write!(f, "\n[SQL: {}]", db.statement)?;
            if !db.params.is_empty() {
                write!(
                    f,
                    "\n[parameters: {}]",
                    crate::value::format_params(&db.params)
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// `ArgumentError` with `format!` arguments.
#[macro_export]
macro_rules! arg_err {
    ($($t:tt)*) => { $crate::error::Error::argument(format!($($t)*)) };
}

/// `InvalidRequestError` with `format!` arguments.
#[macro_export]
macro_rules! invalid {
    ($($t:tt)*) => { $crate::error::Error::invalid(format!($($t)*)) };
}
