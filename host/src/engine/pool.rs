//! The engine and its connection pool, opened lazily, one connection per session or
//! `engine:connect()` while it is in use. File databases are opened in WAL mode. An
//! in-memory engine gets a database of its own that its connections share (SQLite's
//! `memdb` VFS under a name unique in the process); the engine keeps one more connection to
//! it open, so the database lives as long as the engine (or until `dispose()`), and each
//! session has its own connection and transaction on it, as on a file.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::connection::{ConnInner, Connection};
use super::echo::EchoSink;
use super::options::EngineOptions;
use super::read_hold::ReadHolds;
use super::url::Url;
use crate::error::Result;
use crate::sql::dialect::{self, Dialect};

pub(crate) struct EngineInner {
    pub url: Url,
    pub url_text: String,
    pub dialect: Box<dyn Dialect>,
    pub echo: RefCell<Option<Rc<dyn EchoSink>>>,
    pub(crate) options: EngineOptions,
    pool_size: usize,
    /// Idle connections of the current generation.
    idle: Mutex<Vec<Rc<ConnInner>>>,
    /// Bumped by `dispose()`: connections of an older generation are closed at checkin.
    generation: Cell<u64>,
    /// An in-memory engine's database while it exists.
    memory: RefCell<Option<MemoryDb>>,
    /// `connect`, `before_cursor_execute`, `after_cursor_execute` listeners.
    pub listeners: super::events::EngineListeners,
    /// The connections checked out, and the read transaction one of them may hold.
    pub(super) reads: ReadHolds,
}

/// An in-memory engine's database: its `memdb` name and the connection that keeps it alive
/// (a `memdb` database is freed with the last connection to it).
struct MemoryDb {
    uri: String,
    _keep: rusqlite::Connection,
}

/// Names the in-memory databases of the process apart.
static MEMORY_DBS: AtomicU64 = AtomicU64::new(0);

/// A handle on an engine; cheap to clone.
#[derive(Clone)]
pub struct Engine(pub(crate) Rc<EngineInner>);

impl Engine {
    /// Parses the URL; connects on first use.
    pub fn new(url: &str, options: EngineOptions) -> Result<Engine> {
        let mut parsed = Url::parse(url)?;
        match &mut parsed {
            Url::Server(s) => {
                if options.sqlite_timeout.is_some() {
                    return Err(crate::arg_err!(
                        "create_engine: connect_args.timeout is SQLite's busy timeout; a {} engine takes connect_args.connect_timeout",
                        s.backend.name()
                    ));
                }
                if options.sqlite_begin != Default::default() {
                    return Err(crate::arg_err!(
                        "create_engine: sqlite_begin applies to SQLite engines, not to {}",
                        s.backend.name()
                    ));
                }
                if let Some(t) = options.connect_timeout {
                    s.connect_timeout = t;
                }
            }
            _ if options.connect_timeout.is_some() => {
                return Err(crate::arg_err!(
                    "create_engine: connect_args.connect_timeout applies to server databases; SQLite takes connect_args.timeout (the busy timeout)"
                ));
            }
            _ => {}
        }
        Ok(Engine(Rc::new(EngineInner {
            reads: ReadHolds::new(&parsed),
            dialect: dialect::for_backend(parsed.backend()),
            url: parsed,
            url_text: url.to_string(),
            echo: RefCell::new(options.echo.clone()),
            pool_size: if options.pool_size == 0 {
                5
            } else {
                options.pool_size
            },
            options,
            idle: Mutex::new(Vec::new()),
            generation: Cell::new(0),
            memory: RefCell::new(None),
            listeners: Default::default(),
        })))
    }

    pub fn url(&self) -> &str {
        &self.0.url_text
    }

    pub fn dialect(&self) -> &dyn Dialect {
        &*self.0.dialect
    }

    pub fn options(&self) -> &EngineOptions {
        &self.0.options
    }

    /// The engine's event listeners.
    pub fn listeners(&self) -> &super::events::EngineListeners {
        &self.0.listeners
    }

    pub fn set_echo(&self, echo: Option<Rc<dyn EchoSink>>) {
        *self.0.echo.borrow_mut() = echo;
    }

    pub fn echo(&self) -> Option<Rc<dyn EchoSink>> {
        self.0.echo.borrow().clone()
    }

    pub fn ptr_eq(&self, other: &Engine) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// The `memdb` URI of an in-memory engine's database, created on first use.
    pub(crate) fn memory_uri(&self) -> Result<String> {
        if let Some(m) = self.0.memory.borrow().as_ref() {
            return Ok(m.uri.clone());
        }
        let n = MEMORY_DBS.fetch_add(1, Ordering::Relaxed);
        let uri = format!("file:/lualchemy-{}-{n}?vfs=memdb", std::process::id());
        let keep = super::driver::sqlite::open_memory_raw(&uri)?;
        *self.0.memory.borrow_mut() = Some(MemoryDb {
            uri: uri.clone(),
            _keep: keep,
        });
        Ok(uri)
    }

    /// Checks a connection out of the pool, opening one if none is idle.
    pub fn connect(&self) -> Result<Connection> {
        self.0.reads.checking_out()?;
        let reused = {
            let mut idle = self.0.idle.lock();
            // a connection the server dropped while idle is replaced
            std::iter::from_fn(|| idle.pop()).find(|c| c.driver.is_usable())
        };
        let inner = match reused {
            Some(c) => c,
            None => Rc::new(ConnInner::open(self, self.0.generation.get())?),
        };
        self.0.reads.checked_out();
        Ok(Connection::new(inner, self.clone()))
    }

    /// Takes back a connection when its last user lets go of it, its transaction rolled
    /// back; one of a generation `dispose()` ended is closed.
    pub(crate) fn checkin(&self, conn: Rc<ConnInner>) {
        conn.reset();
        self.0.reads.checked_in();
        if conn.generation != self.0.generation.get() {
            return;
        }
        let mut idle = self.0.idle.lock();
        if idle.len() < self.0.pool_size {
            idle.push(conn);
        }
    }

    /// Closes the idle connections; those in use are closed when they come back. An
    /// in-memory database is discarded once its last connection closes: the engine's next
    /// connection opens a new, empty one (as SQLAlchemy's dispose does for `:memory:`).
    pub fn dispose(&self) {
        self.0.generation.set(self.0.generation.get() + 1);
        self.0.idle.lock().clear();
        self.0.memory.borrow_mut().take();
    }
}
