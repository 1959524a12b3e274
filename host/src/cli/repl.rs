//! The read-eval-print loop of `lua.c` (5.4): a line is tried as `return LINE;` first (so
//! that an expression's values are printed; from 5.3 on), then as a statement, read on over `>>` lines
//! while it is incomplete; `=expr` is `return expr`; `_PROMPT` and `_PROMPT2` replace the
//! prompts; errors are printed with a traceback and the loop goes on. No line editing: when
//! standard input is not a terminal each line read is echoed after its prompt, as Debian's
//! `lua5.4` (built with readline) does, so that a transcript reads the same (not on LuaJIT,
//! whose interpreter has no readline).

use std::io::{BufRead, IsTerminal, Write};

use mlua::{Lua, MultiValue, Value};

use super::raw;

struct Input {
    echo: bool,
    auto_return: bool,
}

impl Input {
    /// `pushline`: prints the prompt and reads a line (without its newline); None at the
    /// end of input.
    fn read(&self, lua: &Lua, first_line: bool) -> mlua::Result<Option<Vec<u8>>> {
        let prompt = prompt(lua, first_line)?;
        // what the last line printed through C's stdout comes before the prompt
        raw::flush_c_stdout();
        let mut out = std::io::stdout();
        let _ = out.write_all(prompt.as_bytes());
        let _ = out.flush();
        let mut line = Vec::new();
        let n = std::io::stdin()
            .lock()
            .read_until(b'\n', &mut line)
            .map_err(|e| mlua::Error::runtime(format!("cannot read stdin: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if self.echo {
            let _ = out.write_all(&line);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
        if first_line && line.first() == Some(&b'=') {
            let mut with_return = b"return ".to_vec();
            with_return.extend_from_slice(&line[1..]);
            line = with_return;
        }
        Ok(Some(line))
    }
}

/// `get_prompt`: `tostring(_PROMPT)` (`_PROMPT2`) when set, else "> " (">> ").
fn prompt(lua: &Lua, first_line: bool) -> mlua::Result<String> {
    let name = if first_line { "_PROMPT" } else { "_PROMPT2" };
    let v: Value = lua.globals().get(name)?;
    if v.is_nil() {
        return Ok(if first_line { "> " } else { ">> " }.to_string());
    }
    let tostring: mlua::Function = lua.globals().get("tostring")?;
    tostring.call(v)
}

/// `incomplete`: a syntax error at the end of the input ("near <eof>"; "near '<eof>'" on
/// 5.1 and LuaJIT).
fn incomplete(message: &str) -> bool {
    message.ends_with("<eof>") || message.ends_with("'<eof>'")
}

/// `loadline`: the next chunk, or None at the end of input.
fn load_line(lua: &Lua, input: &Input) -> mlua::Result<Option<raw::Outcome<mlua::Function>>> {
    let Some(mut line) = input.read(lua, true)? else {
        return Ok(None);
    };
    // `addreturn`: from 5.3 on, a line is an expression first (5.1, 5.2 and LuaJIT print
    // values only after `=`)
    if input.auto_return {
        let mut with_return = b"return ".to_vec();
        with_return.extend_from_slice(&line);
        with_return.push(b';');
        if let Ok(f) = raw::load_string(lua, &with_return, "=stdin")? {
            return Ok(Some(Ok(f)));
        }
    }
    // `multiline`
    loop {
        let loaded = raw::load_string(lua, &line, "=stdin")?;
        match &loaded {
            Err(msg) if incomplete(msg) => match input.read(lua, false)? {
                Some(more) => {
                    line.push(b'\n');
                    line.extend_from_slice(&more);
                }
                None => return Ok(Some(loaded)),
            },
            _ => return Ok(Some(loaded)),
        }
    }
}

/// `l_print`: the values a line gave, through the global `print`.
fn print_results(lua: &Lua, values: MultiValue) -> mlua::Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let print: Value = lua.globals().get("print")?;
    let result = match print {
        Value::Function(f) => f.call::<()>(values),
        _ => Err(mlua::Error::runtime("attempt to call a nil value")),
    };
    if let Err(e) = result {
        eprintln!("error calling 'print' ({e})");
    }
    Ok(())
}

/// `doREPL`: reads, runs and prints until the end of standard input.
pub fn run(lua: &Lua) -> mlua::Result<()> {
    let version = super::version(lua);
    let input = Input {
        // Debian's lua5.x (readline) echoes a line read from a pipe; LuaJIT (no readline)
        // does not
        echo: !std::io::stdin().is_terminal() && lua.globals().get::<Value>("jit")?.is_nil(),
        auto_return: !matches!(version.as_str(), "5.1" | "5.2"),
    };
    while let Some(loaded) = load_line(lua, &input)? {
        let outcome = match loaded {
            Ok(f) => raw::docall(lua, &f, MultiValue::new())?,
            Err(msg) => Err(msg),
        };
        match outcome {
            Ok(values) => print_results(lua, values)?,
            Err(msg) => eprintln!("{msg}"),
        }
    }
    raw::flush_c_stdout();
    println!();
    Ok(())
}
