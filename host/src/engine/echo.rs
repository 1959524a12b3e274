//! `echo`: the statements an engine sends, reported as SQLAlchemy's engine log reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use crate::value::{format_params, Value};

/// The parameters of one reported statement.
pub enum EchoParams<'a> {
    /// BEGIN, COMMIT and the like.
    None,
    One(&'a [Value]),
    /// A batched statement: one set per execution (SQLAlchemy's executemany).
    Many(Rows<'a>),
    /// One statement carrying many rows' parameters one after another (a multi-row INSERT,
    /// an UPDATE joined to VALUES): SQLAlchemy's "insertmanyvalues", reported as one
    /// parameter list and as an executemany.
    Batch(&'a [Value]),
}

/// The parameter sets of a batched statement: vectors, or slices (of one vector holding
/// them all, as the unit of work's INSERTs keep them: no allocation per row).
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    Vecs(&'a [Vec<Value>]),
    Slices(&'a [&'a [Value]]),
}

impl<'a> Rows<'a> {
    pub fn len(&self) -> usize {
        match self {
            Rows::Vecs(v) => v.len(),
            Rows::Slices(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Set `i` (`i < len()`).
    pub fn get(&self, i: usize) -> &'a [Value] {
        match *self {
            Rows::Vecs(v) => &v[i],
            Rows::Slices(s) => s[i],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [Value]> + 'a {
        let rows = *self;
        (0..rows.len()).map(move |i| rows.get(i))
    }

    pub fn to_vecs(&self) -> Vec<Vec<Value>> {
        self.iter().map(|r| r.to_vec()).collect()
    }
}

/// Where `echo` reports. An error it returns (an echo function that raised) stops the
/// statement before it is sent, and reaches the caller as it was raised (ROLLBACK still
/// rolls back first).
pub trait EchoSink {
    fn statement(&self, sql: &str, params: &EchoParams<'_>) -> crate::error::Result<()>;
}

/// `echo = true`: prints each statement, then its parameters with SQLAlchemy's
/// `[generated in ...]` / `[cached since ...]` note.
#[derive(Default)]
pub struct PrintEcho {
    seen: RefCell<HashMap<String, Instant>>,
}

impl EchoSink for PrintEcho {
    fn statement(&self, sql: &str, params: &EchoParams<'_>) -> crate::error::Result<()> {
        let mut line = format!("INFO lualchemy.engine.Engine {sql}");
        let rendered = match params {
            EchoParams::None => None,
            EchoParams::One(p) | EchoParams::Batch(p) => Some(format_params(p)),
            EchoParams::Many(rows) => Some(format!(
                "[{}]",
                rows.iter()
                    .map(format_params)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        if let Some(rendered) = rendered {
            let mut seen = self.seen.borrow_mut();
            let note = match seen.get(sql) {
                Some(t) => format!("[cached since {:.4}s ago]", t.elapsed().as_secs_f64()),
                None => {
                    seen.insert(sql.to_string(), Instant::now());
                    "[generated in 0.00001s]".to_string()
                }
            };
            line.push_str(&format!("\nINFO lualchemy.engine.Engine {note} {rendered}"));
        }
        // what Lua printed first comes first: C's stdout (Lua's print and io.write) may hold
        // it in its buffer (LuaJIT's and 5.1's print do not flush, and stdout is fully
        // buffered when redirected), while Rust's stdout writes each line at once
        flush_c_stdout();
        println!("{line}");
        Ok(())
    }
}

/// Flushes C's output streams (`fflush(NULL)`).
fn flush_c_stdout() {
    extern "C" {
        fn fflush(stream: *mut std::ffi::c_void) -> std::ffi::c_int;
    }
    // SAFETY: fflush(NULL) flushes every output stream and touches nothing of ours
    unsafe {
        fflush(std::ptr::null_mut());
    }
}
