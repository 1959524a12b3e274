//! Engine events: `connect` when a database connection opens, `before_cursor_execute` and
//! `after_cursor_execute` around every statement sent (transaction control excepted), as
//! SQLAlchemy's. An engine without listeners pays one empty-list check per statement.

use std::rc::Rc;

use super::echo::EchoParams;
use super::pool::Engine;
use crate::error::Result;
use crate::listeners::Listeners;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineEvent {
    Connect,
    BeforeCursorExecute,
    AfterCursorExecute,
}

impl EngineEvent {
    pub fn parse(name: &str) -> Option<EngineEvent> {
        Some(match name {
            "connect" => EngineEvent::Connect,
            "before_cursor_execute" => EngineEvent::BeforeCursorExecute,
            "after_cursor_execute" => EngineEvent::AfterCursorExecute,
            _ => return None,
        })
    }
}

/// What an engine listener is told.
pub struct EngineArgs<'a> {
    pub event: EngineEvent,
    pub statement: &'a str,
    pub params: &'a EchoParams<'a>,
    pub executemany: bool,
}

pub type EngineListener = Rc<dyn Fn(&EngineArgs<'_>) -> Result<()>>;
pub type EngineListeners = Listeners<EngineEvent, EngineListener>;

/// Calls the engine's listeners of `event`.
pub fn dispatch(
    engine: &Engine,
    event: EngineEvent,
    statement: &str,
    params: &EchoParams<'_>,
) -> Result<()> {
    let l = &engine.0.listeners;
    if l.is_empty() {
        return Ok(());
    }
    let executemany = matches!(params, EchoParams::Many(_) | EchoParams::Batch(_));
    for f in l.take_for(event) {
        f(&EngineArgs {
            event,
            statement,
            params,
            executemany,
        })?;
    }
    Ok(())
}
