//! Errors across the boundary: core errors travel as `mlua::Error::external` and reach Lua
//! as mlua's error userdata, whose metatable we extend so that scripts read `err.kind`,
//! `err.message`, `err.statement`, `err.params`, `err.orig`, `err:is(kind)` and get
//! SQLAlchemy's text from `tostring(err)`.

use mlua::{Function, Lua, MetaMethod, Value as LuaValue};

use crate::error::{Error, ErrorKind};

pub type LuaResult<T> = mlua::Result<T>;

/// Converts a core error for mlua. An error that began as a Lua error (raised by a
/// script's function that the core called) goes back as it came.
pub fn to_lua(e: Error) -> mlua::Error {
    if let Some(OutOfMemory(m)) = e.cause.as_ref().and_then(|c| c.downcast_ref()) {
        // out of memory stays Lua's memory error, as `pcall` sees it in stock Lua
        return mlua::Error::MemoryError(m.clone());
    }
    mlua::Error::external(e)
}

pub trait IntoLuaResult<T> {
    fn lua(self) -> LuaResult<T>;
}

impl<T> IntoLuaResult<T> for crate::error::Result<T> {
    #[inline]
    fn lua(self) -> LuaResult<T> {
        self.map_err(to_lua)
    }
}

/// An `ArgumentError` for Lua.
pub fn arg(msg: impl Into<String>) -> mlua::Error {
    to_lua(Error::argument(msg))
}

pub fn invalid(msg: impl Into<String>) -> mlua::Error {
    to_lua(Error::invalid(msg))
}

pub fn kind_err(kind: ErrorKind, msg: impl Into<String>) -> mlua::Error {
    to_lua(Error::new(kind, msg))
}

/// Wraps an error raised by Lua code that the core called, so it can be carried as a
/// core error and handed back unchanged.
pub fn from_lua(e: mlua::Error) -> Error {
    match find_orm_error(&e) {
        Some(oe) => oe.clone(),
        None => match memory_error(&e) {
            // carried through the core (which rolls back) and raised again as it came
            Some(m) => Error::external(
                ErrorKind::InvalidRequestError,
                root_message(&e),
                std::sync::Arc::new(OutOfMemory(m.to_string())),
            ),
            None => Error::new(ErrorKind::InvalidRequestError, root_message(&e)),
        },
    }
}

/// Lua's "not enough memory", carried through the core.
#[derive(Debug)]
struct OutOfMemory(String);

impl std::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutOfMemory {}

/// The message of Lua's "not enough memory" inside an mlua error, through mlua's callback
/// wrapping.
fn memory_error(e: &mlua::Error) -> Option<&str> {
    match e {
        mlua::Error::MemoryError(m) => Some(m),
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            memory_error(cause)
        }
        _ => None,
    }
}

/// The core error inside an mlua error, through mlua's callback wrapping.
pub fn find_orm_error(e: &mlua::Error) -> Option<&Error> {
    match e {
        mlua::Error::CallbackError { cause, .. } => find_orm_error(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Error>(),
        mlua::Error::WithContext { cause, .. } => find_orm_error(cause),
        _ => None,
    }
}

/// The innermost cause, without mlua's tracebacks.
pub fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::WithContext { cause, .. } => root_message(cause),
        mlua::Error::ExternalError(inner) => inner.to_string(),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

fn error_field(lua: &Lua, e: &mlua::Error, key: &str) -> LuaResult<LuaValue> {
    let Some(oe) = find_orm_error(e) else {
        return match key {
            "kind" => Ok(LuaValue::String(lua.create_string("LuaError")?)),
            "message" => Ok(LuaValue::String(lua.create_string(root_message(e))?)),
            "is" => Ok(LuaValue::Function(lua.create_function(
                |_, (_e, k): (LuaValue, String)| Ok(k == "LuaError"),
            )?)),
            _ => Ok(LuaValue::Nil),
        };
    };
    Ok(match key {
        "kind" => LuaValue::String(lua.create_string(oe.kind.name())?),
        "message" => LuaValue::String(lua.create_string(&oe.message)?),
        "statement" => match &oe.db {
            Some(db) => LuaValue::String(lua.create_string(&db.statement)?),
            None => LuaValue::Nil,
        },
        "orig" => match &oe.db {
            Some(db) => LuaValue::String(lua.create_string(&db.orig)?),
            // what a program's function (a listener, a TypeDecorator's) raised
            None => super::events::raised_value(lua, e).unwrap_or(LuaValue::Nil),
        },
        "params" => match &oe.db {
            Some(db) => {
                let t = lua.create_table()?;
                for (i, v) in db.params.iter().enumerate() {
                    t.raw_set(
                        i + 1,
                        super::convert::value_to_lua(lua, v, crate::schema::ValueKind::Any)?,
                    )?;
                }
                LuaValue::Table(t)
            }
            None => LuaValue::Nil,
        },
        "is" => LuaValue::Function(lua.create_function(|_, (e, k): (LuaValue, String)| {
            Ok(match e {
                LuaValue::Error(e) => find_orm_error(&e).is_some_and(|oe| oe.kind.is(&k)),
                _ => false,
            })
        })?),
        _ => LuaValue::Nil,
    })
}

/// Extends the metatable of mlua's error values, and returns the `orm.Error` table.
pub fn install(lua: &Lua) -> LuaResult<mlua::Table> {
    let probe: Function =
        lua.create_function(|_, ()| -> LuaResult<()> { Err(to_lua(Error::invalid("probe"))) })?;
    let get_err: Function = lua
        .load("local f = ...; local ok, e = pcall(f); return e")
        .into_function()?;
    let err: LuaValue = get_err.call(probe)?;
    // mlua protects the metatable (`__metatable`), so read it with the raw API.
    // SAFETY: the closure only reads the metatable of its one argument and leaves exactly
    // one value on the stack, within the stack space exec_raw checked for.
    let mt: Option<mlua::Table> = unsafe {
        lua.exec_raw(err, |state| {
            if mlua::ffi::lua_getmetatable(state, 1) == 0 {
                mlua::ffi::lua_pushnil(state);
            }
            mlua::ffi::lua_replace(state, 1);
        })?
    };
    if let Some(mt) = mt {
        mt.raw_set(
            MetaMethod::Index.name(),
            lua.create_function(|lua, (e, key): (LuaValue, String)| match e {
                LuaValue::Error(e) => error_field(lua, &e, &key),
                _ => Ok(LuaValue::Nil),
            })?,
        )?;
        mt.raw_set(
            MetaMethod::ToString.name(),
            lua.create_function(|_, e: LuaValue| {
                Ok(match e {
                    LuaValue::Error(e) => match find_orm_error(&e) {
                        Some(oe) => oe.to_string(),
                        None => e.to_string(),
                    },
                    _ => String::new(),
                })
            })?,
        )?;
    }
    let t = lua.create_table()?;
    for k in ErrorKind::ALL {
        t.raw_set(k.name(), k.name())?;
    }
    // lua/prelude.lua's error for a session method called with '.' instead of ':'
    t.raw_set(
        "_dot_call",
        lua.create_function(|_, name: String| -> LuaResult<()> {
            Err(super::model::dot_call(&name))
        })?,
    )?;
    // Lua modules of the binding (lua/scoped_session.lua) raise ORM errors through this
    t.raw_set(
        "_raise",
        lua.create_function(|_, (kind, msg): (String, String)| -> LuaResult<()> {
            let kind = ErrorKind::from_name(&kind).unwrap_or(ErrorKind::InvalidRequestError);
            Err(kind_err(kind, msg))
        })?,
    )?;
    // orm.Error.is(err, kind) works on any value, as err:is(kind) does on errors
    t.raw_set(
        "is",
        lua.create_function(|_, (e, k): (LuaValue, String)| {
            Ok(match e {
                LuaValue::Error(e) => find_orm_error(&e).is_some_and(|oe| oe.kind.is(&k)),
                _ => false,
            })
        })?,
    )?;
    Ok(t)
}
