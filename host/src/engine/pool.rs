//! The engine and its connection pool. An in-memory database is one database per engine:
//! the pool holds a single connection that every session and connection of that engine
//! shares (SQLAlchemy's singleton pool for `:memory:`). File databases get a pool of
//! connections, opened lazily, each in WAL mode.

use std::cell::RefCell;
use std::rc::Rc;

use parking_lot::Mutex;

use super::connection::{ConnInner, Connection};
use super::echo::EchoSink;
use super::url::Url;
use crate::error::Result;
use crate::sql::dialect::{self, Dialect};

#[derive(Clone, Default)]
pub struct EngineOptions {
    pub echo: Option<Rc<dyn EchoSink>>,
    /// Idle connections kept for file databases.
    pub pool_size: usize,
    /// SQLite hardened for untrusted scripts (see `engine/hardening.rs`).
    pub hardening: Option<super::hardening::Hardening>,
}

pub(crate) struct EngineInner {
    pub url: Url,
    pub url_text: String,
    pub dialect: Box<dyn Dialect>,
    pub echo: RefCell<Option<Rc<dyn EchoSink>>>,
    pool_size: usize,
    pub(crate) hardening: Option<super::hardening::Hardening>,
    /// Idle connections (file databases), or the one shared connection (memory).
    idle: Mutex<Vec<Rc<ConnInner>>>,
    /// `connect`, `before_cursor_execute`, `after_cursor_execute` listeners.
    pub listeners: super::events::EngineListeners,
}

/// A handle on an engine; cheap to clone.
#[derive(Clone)]
pub struct Engine(pub(crate) Rc<EngineInner>);

impl Engine {
    /// Parses the URL; connects on first use.
    pub fn new(url: &str, options: EngineOptions) -> Result<Engine> {
        let parsed = Url::parse(url)?;
        Ok(Engine(Rc::new(EngineInner {
            dialect: dialect::for_backend(parsed.backend()),
            url: parsed,
            url_text: url.to_string(),
            echo: RefCell::new(options.echo),
            pool_size: if options.pool_size == 0 {
                5
            } else {
                options.pool_size
            },
            idle: Mutex::new(Vec::new()),
            hardening: options.hardening,
            listeners: Default::default(),
        })))
    }

    pub fn url(&self) -> &str {
        &self.0.url_text
    }

    pub fn dialect(&self) -> &dyn Dialect {
        &*self.0.dialect
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

    /// Checks a connection out of the pool, opening one if none is idle.
    pub fn connect(&self) -> Result<Connection> {
        let inner = if let Url::SqliteMemory = self.0.url {
            let mut idle = self.0.idle.lock();
            match idle.first() {
                Some(c) => c.clone(),
                None => {
                    let c = Rc::new(ConnInner::open(self)?);
                    idle.push(c.clone());
                    c
                }
            }
        } else {
            let reused = {
                let mut idle = self.0.idle.lock();
                // a connection the server dropped while idle is replaced
                std::iter::from_fn(|| idle.pop()).find(|c| c.driver.is_usable())
            };
            match reused {
                Some(c) => c,
                None => Rc::new(ConnInner::open(self)?),
            }
        };
        Ok(Connection::new(inner, self.clone()))
    }

    /// Takes back a file or server connection when its last user lets go of it, its
    /// transaction rolled back.
    pub(crate) fn checkin(&self, conn: Rc<ConnInner>) {
        if !matches!(self.0.url, Url::SqliteMemory) {
            conn.driver.reset();
            let mut idle = self.0.idle.lock();
            if idle.len() < self.0.pool_size {
                idle.push(conn);
            }
        }
    }

    /// Closes idle connections; an in-memory database is discarded with its connection.
    pub fn dispose(&self) {
        self.0.idle.lock().clear();
    }
}
