//! A Rust host that runs untrusted scripts in the sandbox against one database it owns:
//! each script gets its own sandboxed Lua state with limits and the host's engine; a script
//! that breaks a limit is reported, its unfinished transaction rolled back, and the host
//! goes on with the next one.
//!
//! Run: cargo run --example host_sandbox

use std::time::Duration;

use lualchemy::engine::hardening::Hardening;
use lualchemy::engine::{Engine, EngineOptions};
use lualchemy::sandbox::{limit_message, Sandbox};

const SCHEMA: &str = r#"
local orm = require("lualchemy")
local Base = orm.declarative_base()
Note = Base:model("Note", {
  __tablename__ = "notes",
  id = orm.Column(orm.Integer, { primary_key = true }),
  author = orm.Column(orm.String(40)),
  body = orm.Column(orm.String(200)),
})
Base.metadata:create_all(host_engine)
"#;

/// The scripts the host runs, as strangers wrote them.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "polite",
        r#"
        local orm = require("lualchemy")
        local s = orm.Session(host_engine)
        s:add(Note{ author = "polite", body = "hello from a well-behaved mod" })
        s:commit()
        print("  polite: notes now", s:scalar(orm.select(orm.func.count()):select_from(Note)))
        "#,
    ),
    (
        "greedy",
        r#"
        local orm = require("lualchemy")
        local s = orm.Session(host_engine)
        s:add(Note{ author = "greedy", body = "never committed" })
        s:flush()
        -- then spins, catching every error it can
        while true do pcall(function() while true do end end) end
        "#,
    ),
    (
        "nosy",
        r#"
        print("  nosy: io is", io, "os.execute is", os.execute)
        local ok, err = pcall(require("lualchemy").create_engine, "sqlite:////etc/passwd")
        print("  nosy: opening /etc/passwd:", ok, err.message)
        "#,
    ),
];

/// A fresh sandboxed state for one script, holding the host's engine and the schema.
fn script_state(sandbox: &Sandbox, engine: &Engine) -> mlua::Result<mlua::Lua> {
    let lua = sandbox.new_lua()?;
    lua.globals().set(
        "host_engine",
        lualchemy::engine_value(&lua, engine.clone())?,
    )?;
    lua.load(SCHEMA).exec()?;
    Ok(lua)
}

fn main() -> mlua::Result<()> {
    let dir = std::env::temp_dir().join(format!("lualchemy_host_sandbox_{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(mlua::Error::external)?;
    let url = format!("sqlite:///{}/notes.db", dir.display());
    // the host's own engine, hardened like a sandboxed script's
    let engine = Engine::new(
        &url,
        EngineOptions {
            hardening: Some(Hardening::default()),
            ..EngineOptions::default()
        },
    )
    .map_err(mlua::Error::external)?;
    let sandbox = Sandbox {
        max_instructions: 5_000_000,
        timeout: Duration::from_secs(2),
        max_memory: 32 * 1024 * 1024,
        ..Sandbox::default()
    };
    let mut broke = Vec::new();
    for (name, code) in SCRIPTS {
        println!("running {name}");
        let lua = script_state(&sandbox, &engine)?;
        if let Err(e) = lua.load(*code).set_name(format!("={name}")).exec() {
            let why = limit_message(&e, &sandbox).unwrap_or_else(|| e.to_string());
            let why = why.lines().next().unwrap_or_default().to_string();
            println!("  {name} was stopped: {why}");
            broke.push(*name);
        }
        // the script's state goes, and with it its session: an open transaction rolls back
    }
    // the host reads what stayed
    let lua = script_state(&sandbox, &engine)?;
    let authors: Vec<String> = lua
        .load(
            r#"
            local orm = require("lualchemy")
            local s = orm.Session(host_engine)
            local out = {}
            for _, n in ipairs(s:scalars(orm.select(Note):order_by(Note.id)):all()) do
              out[#out + 1] = n.author
            end
            return out
            "#,
        )
        .eval()?;
    println!("notes kept: {authors:?}; scripts stopped: {broke:?}");
    assert_eq!(
        authors,
        ["polite"],
        "the greedy script's note was rolled back"
    );
    assert_eq!(broke, ["greedy"]);
    drop(lua);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
