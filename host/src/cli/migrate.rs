//! `lualchemy migrate COMMAND`: Alembic's commands over `require("lualchemy.migrate")`
//! (lua/migrate.rs), printing what Alembic prints. The migration folder is `migrations`
//! in the current directory unless `--dir DIR` (or `init DIR`) says otherwise.

use std::process::ExitCode;

use mlua::{Lua, Value as LuaValue};

pub const HELP: &str = "usage: lualchemy migrate [--dir DIR] [--url URL] COMMAND
commands (docs/MIGRATIONS.md):
  init [DIR]                  create DIR/env.lua and DIR/versions/ (default: migrations)
  revision -m MESSAGE [--autogenerate] [--rev-id ID]
                              write a new revision script after the head
  upgrade [head|+N|REV] [--sql]
                              run the upgrades (--sql: print the SQL, run nothing;
                              a range FROM:TO starts from FROM)
  downgrade -N|REV|base [--sql]
                              run the downgrades (--sql: print the SQL of FROM:TO)
  current                     the revision the database is at
  history                     the revisions, from the head down
  heads                       the head revision(s)
  stamp REV|head|base         set the version without running anything
options:
  --dir DIR                   the migration folder (default: migrations)
  --url URL                   the database instead of env.lua's url";

struct Args {
    dir: String,
    url: Option<String>,
    command: String,
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut dir = None;
    let mut url = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with("--") {
        let flag = args[i].as_str();
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag {
            "--dir" => dir = Some(value),
            "--url" => url = Some(value),
            "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    let command = args.get(i).cloned().ok_or_else(String::new)?;
    Ok(Args {
        dir: dir.unwrap_or_else(|| "migrations".into()),
        url,
        command,
        rest: args[i + 1..].to_vec(),
    })
}

/// `-m MSG`, `--sql`, ...: the flags of a command and its positional arguments.
struct Flags {
    message: Option<String>,
    rev_id: Option<String>,
    sql: bool,
    autogenerate: bool,
    positional: Vec<String>,
}

fn flags(rest: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        message: None,
        rev_id: None,
        sql: false,
        autogenerate: false,
        positional: Vec::new(),
    };
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].as_str();
        let value = || {
            rest.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a {
            "-m" | "--message" => {
                f.message = Some(value()?);
                i += 1;
            }
            "--rev-id" => {
                f.rev_id = Some(value()?);
                i += 1;
            }
            "--sql" => f.sql = true,
            "--autogenerate" => f.autogenerate = true,
            // "-1" is a downgrade target, not a flag
            a if a.starts_with("--") || (a.starts_with('-') && a[1..].parse::<u32>().is_err()) => {
                return Err(format!("unknown option {a}"))
            }
            a => f.positional.push(a.to_string()),
        }
        i += 1;
    }
    Ok(f)
}

fn run(lua: &Lua, a: &Args) -> Result<(), String> {
    let lerr = |e: mlua::Error| match lualchemy::lua::error::find_orm_error(&e) {
        Some(oe) => oe.to_string(),
        None => lualchemy::lua::error::root_message(&e),
    };
    let orm: mlua::Table = lua.named_registry_value("lualchemy.module").map_err(lerr)?;
    let m: mlua::Table = orm.get("migrate").map_err(lerr)?;
    let f = flags(&a.rest)?;
    let call = |name: &str, args: mlua::MultiValue| -> Result<LuaValue, String> {
        let func: mlua::Function = m.get(name).map_err(lerr)?;
        func.call::<LuaValue>(args).map_err(lerr)
    };
    let opts = |sql: bool| -> Result<LuaValue, String> {
        let t = lua.create_table().map_err(lerr)?;
        if let Some(u) = &a.url {
            t.set("url", u.as_str()).map_err(lerr)?;
        }
        if sql {
            t.set("sql", true).map_err(lerr)?;
        }
        Ok(LuaValue::Table(t))
    };
    let s = |v: &str| -> Result<LuaValue, String> {
        Ok(LuaValue::String(lua.create_string(v).map_err(lerr)?))
    };
    let mv = |v: Vec<LuaValue>| mlua::MultiValue::from_iter(v);
    let at_most = |n: usize| -> Result<(), String> {
        if f.positional.len() > n {
            return Err(format!(
                "{}: unexpected argument '{}'",
                a.command, f.positional[n]
            ));
        }
        Ok(())
    };
    let heads = || -> Result<Vec<String>, String> {
        match call("heads", mv(vec![s(&a.dir)?]))? {
            LuaValue::Table(t) => t
                .sequence_values::<String>()
                .collect::<mlua::Result<Vec<_>>>()
                .map_err(lerr),
            _ => Ok(Vec::new()),
        }
    };
    match a.command.as_str() {
        "init" => {
            at_most(1)?;
            let dir = f
                .positional
                .first()
                .cloned()
                .unwrap_or_else(|| a.dir.clone());
            call("init", mv(vec![s(&dir)?]))?;
            println!("Creating directory {dir} ...  done");
            println!("Creating directory {dir}/versions ...  done");
            println!("Generating {dir}/env.lua ...  done");
            println!("Please edit {dir}/env.lua (the database url and target_metadata) before proceeding.");
        }
        "revision" => {
            at_most(0)?;
            let t = lua.create_table().map_err(lerr)?;
            t.set("message", f.message.clone().unwrap_or_default())
                .map_err(lerr)?;
            if let Some(id) = &f.rev_id {
                t.set("rev_id", id.as_str()).map_err(lerr)?;
            }
            if f.autogenerate {
                t.set("autogenerate", true).map_err(lerr)?;
            }
            if let Some(u) = &a.url {
                t.set("url", u.as_str()).map_err(lerr)?;
            }
            let r = call("revision", mv(vec![s(&a.dir)?, LuaValue::Table(t)]))?;
            if let LuaValue::Table(r) = r {
                let path: String = r.get("path").map_err(lerr)?;
                println!("Generating {path} ...  done");
            }
        }
        "upgrade" => {
            at_most(1)?;
            let target = f
                .positional
                .first()
                .cloned()
                .unwrap_or_else(|| "head".into());
            let out = call("upgrade", mv(vec![s(&a.dir)?, s(&target)?, opts(f.sql)?]))?;
            if let LuaValue::String(sql) = out {
                print!("{}", sql.to_string_lossy());
            }
        }
        "downgrade" => {
            at_most(1)?;
            let target = f
                .positional
                .first()
                .cloned()
                .ok_or("downgrade needs a target: -N, a revision or base")?;
            let out = call("downgrade", mv(vec![s(&a.dir)?, s(&target)?, opts(f.sql)?]))?;
            if let LuaValue::String(sql) = out {
                print!("{}", sql.to_string_lossy());
            }
        }
        "current" => {
            at_most(0)?;
            if let LuaValue::String(id) = call("current", mv(vec![s(&a.dir)?, opts(false)?]))? {
                let id = id.to_string_lossy();
                let head = heads()?.contains(&id);
                println!("{id}{}", if head { " (head)" } else { "" });
            }
        }
        "history" => {
            at_most(0)?;
            if let LuaValue::Table(list) = call("history", mv(vec![s(&a.dir)?]))? {
                for r in list.sequence_values::<mlua::Table>() {
                    let r = r.map_err(lerr)?;
                    let id: String = r.get("revision").map_err(lerr)?;
                    let down: Option<String> = r.get("down_revision").map_err(lerr)?;
                    let msg: String = r.get("message").map_err(lerr)?;
                    let head: bool = r.get("is_head").map_err(lerr)?;
                    println!(
                        "{} -> {id}{}, {msg}",
                        down.unwrap_or_else(|| "<base>".into()),
                        if head { " (head)" } else { "" }
                    );
                }
            }
        }
        "heads" => {
            at_most(0)?;
            for h in heads()? {
                println!("{h} (head)");
            }
        }
        "stamp" => {
            at_most(1)?;
            let rev = f
                .positional
                .first()
                .cloned()
                .ok_or("stamp needs a revision: an id, head or base")?;
            call("stamp", mv(vec![s(&a.dir)?, s(&rev)?, opts(false)?]))?;
        }
        other => return Err(format!("unknown command '{other}'\n{HELP}")),
    }
    Ok(())
}

/// `lualchemy migrate ...`.
pub fn command(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(msg) if msg.is_empty() => {
            println!("{HELP}");
            return if args.iter().any(|a| a == "--help") {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Err(msg) => {
            eprintln!("lualchemy migrate: {msg}\n{HELP}");
            return ExitCode::FAILURE;
        }
    };
    // the stand-alone interpreter's state: env.lua and the revisions are the project's own
    // trusted code, which may require its models
    let lua = match super::new_state(false) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lualchemy migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&lua, &a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("FAILED: {msg}");
            ExitCode::FAILURE
        }
    }
}
