//! A server driver's error in SQLAlchemy's terms, shared by the PostgreSQL and MySQL
//! drivers: each classifies its crate's errors into a `Failure`; a lost connection reads
//! the same on both ("lost the connection to <server>: <why>") and marks it broken so the
//! pool drops it.

use std::cell::Cell;

use crate::error::{Error, ErrorKind};
use crate::value::Value;

/// A driver error in SQLAlchemy's terms.
pub(crate) struct Failure {
    pub kind: ErrorKind,
    /// In words: the server's own message, or what went wrong on the way; never a client
    /// crate's bare or debug text.
    pub reason: String,
    /// The connection is gone (or out of step): the pool must not hand it out again.
    pub lost: bool,
}

impl Failure {
    pub fn new(kind: ErrorKind, reason: impl Into<String>, lost: bool) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
            lost,
        }
    }

    /// The error a statement raises; a lost connection names `server` and sets `broken`.
    pub fn into_error(
        self,
        server: &str,
        broken: &Cell<bool>,
        sql: &str,
        params: &[Value],
    ) -> Error {
        let message = if self.lost {
            broken.set(true);
            format!("lost the connection to {server}: {}", self.reason)
        } else {
            self.reason
        };
        Error::db(self.kind, message, sql, params)
    }
}

/// Why a socket failed, in words ("server closed the connection unexpectedly (broken
/// pipe)"), without Rust's " (os error N)".
pub(crate) fn io_reason(io: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let how = match io.kind() {
        K::BrokenPipe => "broken pipe",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::UnexpectedEof => "end of stream",
        K::TimedOut | K::WouldBlock => return "no answer from the server (timed out)".into(),
        _ => return lower(without_os_code(&io.to_string())),
    };
    format!("server closed the connection unexpectedly ({how})")
}

/// An OS error's text without Rust's " (os error N)" suffix.
pub(crate) fn without_os_code(s: &str) -> &str {
    s.find(" (os error").map_or(s, |i| &s[..i])
}

/// The text with its first letter in lower case, as the rest of a message reads.
pub(crate) fn lower(d: impl std::fmt::Display) -> String {
    let s = d.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => s,
    }
}
