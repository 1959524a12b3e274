//! `require("lualchemy.migrate")`: the migration commands as functions (`init`,
//! `revision`, `upgrade`, `downgrade`, `current`, `history`, `heads`, `stamp`) and the `op`
//! object a revision's `upgrade` / `downgrade` receives. The graph, the version table, the
//! transactions and the DDL are the core's (`migrate/`, `sql/ddl_alter.rs`); this file
//! reads the folder (through the sandbox's policy), loads the Lua files and calls them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use mlua::{AnyUserData, Lua, ObjectLike, Value as LuaValue, Variadic};

use super::error::{arg, invalid, kind_err, IntoLuaResult, LuaResult};
use super::options::check_keys;
use super::schema::{LuaColumnSpec, LuaTableObj, LuaType};
use crate::engine::reflection::Inspector;
use crate::error::ErrorKind;
use crate::migrate::batch::{self, BatchOp};
use crate::migrate::{narrowing, script, MigrationContext, Revision, RevisionMap, Step};
use crate::schema::{Column, Constraint, Index, MetaData, SqlType};
use crate::sql::ddl_alter::{self, AlterColumn, ConstraintKind};
use crate::value::Value;

// ---------------------------------------------------------------------------------------
// Files, through the sandbox

/// `p` as the process may touch it: anywhere outside the sandbox; inside it, only under
/// `--allow-dir` (a relative path is taken from there).
fn checked_path(lua: &Lua, p: &Path) -> LuaResult<PathBuf> {
    let Some(policy) = lua.app_data_ref::<crate::sandbox::Policy>() else {
        return Ok(p.to_path_buf());
    };
    let refuse = |why: &str| {
        Err(kind_err(
            ErrorKind::ArgumentError,
            format!(
                "the sandbox refuses migration path '{}': {why}",
                p.display()
            ),
        ))
    };
    let Some(dir) = &policy.allow_dir else {
        return refuse("migrations in the sandbox need --allow-dir");
    };
    let Ok(dir) = dir.canonicalize() else {
        return refuse("the allowed directory does not exist");
    };
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    match crate::sandbox::resolve(&full) {
        Some(r) if r.starts_with(&dir) => Ok(r),
        Some(_) => refuse(&format!("outside the allowed directory {}", dir.display())),
        None => refuse("the path cannot be resolved"),
    }
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> mlua::Error {
    invalid(format!("migrate: cannot {what} {}: {e}", p.display()))
}

fn read_file(lua: &Lua, p: &Path) -> LuaResult<String> {
    let p = checked_path(lua, p)?;
    std::fs::read_to_string(&p).map_err(|e| io_err("read", &p, e))
}

/// Writes a new file (never over an existing one).
fn write_new_file(lua: &Lua, p: &Path, text: &str) -> LuaResult<PathBuf> {
    let p = checked_path(lua, p)?;
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| io_err("create", &p, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| io_err("write", &p, e))?;
    Ok(p)
}

/// Runs a Lua file and returns what it returns (in the sandbox, in its environment).
fn run_file(lua: &Lua, p: &Path) -> LuaResult<LuaValue> {
    let text = read_file(lua, p)?;
    lua.load(text)
        .set_name(format!("@{}", p.display()))
        .call::<LuaValue>(())
}

// ---------------------------------------------------------------------------------------
// The project: env.lua and versions/

struct Project {
    dir: PathBuf,
    env: mlua::Table,
    map: RevisionMap,
    scripts: HashMap<String, mlua::Table>,
}

fn opt_string(t: &mlua::Table, key: &str, what: &str) -> LuaResult<Option<String>> {
    match t.get::<LuaValue>(key)? {
        LuaValue::Nil => Ok(None),
        LuaValue::String(s) => Ok(Some(s.to_str()?.to_string())),
        other => Err(arg(format!(
            "{what}: '{key}' must be a string, got {}",
            other.type_name()
        ))),
    }
}

const REVISION_KEYS: &[&str] = &[
    "revision",
    "down_revision",
    "message",
    "upgrade",
    "downgrade",
    "branch_labels",
    "depends_on",
];

fn load_project(lua: &Lua, dir: &str) -> LuaResult<Project> {
    let dir = PathBuf::from(dir);
    let env_path = dir.join("env.lua");
    let env = match run_file(lua, &env_path)? {
        LuaValue::Table(t) => t,
        other => {
            return Err(arg(format!(
                "{}: env.lua must return a table {{ url = ..., target_metadata = ... }}, got {}",
                env_path.display(),
                other.type_name()
            )))
        }
    };
    check_keys(
        &env,
        &["url", "engine", "target_metadata"],
        &env_path.display().to_string(),
        false,
    )?;
    let versions = checked_path(lua, &dir.join("versions"))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&versions)
        .map_err(|e| io_err("list", &versions, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    let mut revisions = Vec::new();
    let mut scripts = HashMap::new();
    for f in files {
        let what = f.display().to_string();
        let t = match run_file(lua, &f)? {
            LuaValue::Table(t) => t,
            other => {
                return Err(arg(format!(
                    "{what}: a revision file must return {{ revision = ..., down_revision = ..., upgrade = function(op) ... end, downgrade = ... }}, got {}",
                    other.type_name()
                )))
            }
        };
        check_keys(&t, REVISION_KEYS, &what, false)?;
        let id = opt_string(&t, "revision", &what)?
            .ok_or_else(|| arg(format!("{what}: the revision has no 'revision' id")))?;
        for k in ["upgrade", "downgrade"] {
            match t.get::<LuaValue>(k)? {
                LuaValue::Function(_) | LuaValue::Nil => {}
                other => {
                    return Err(arg(format!(
                        "{what}: '{k}' must be a function(op), got {}",
                        other.type_name()
                    )))
                }
            }
        }
        revisions.push(Revision {
            id: id.clone(),
            down_revision: opt_string(&t, "down_revision", &what)?,
            message: opt_string(&t, "message", &what)?.unwrap_or_default(),
            path: what,
        });
        scripts.insert(id, t);
    }
    Ok(Project {
        dir,
        env,
        map: RevisionMap::new(revisions).lua()?,
        scripts,
    })
}

/// The options of the commands that reach the database.
const RUN_OPTIONS: &[&str] = &["engine", "url", "sql"];

fn options(opts: &Option<mlua::Table>, what: &str) -> LuaResult<()> {
    if let Some(o) = opts {
        check_keys(o, RUN_OPTIONS, what, false)?;
    }
    Ok(())
}

/// The engine: the command's `engine` option, else env.lua's `engine`, else an engine on
/// the `url` (the option's, else env.lua's), made by `orm.create_engine` (so the sandbox
/// and the spec runner see it).
fn engine_value(lua: &Lua, project: &Project, opts: &Option<mlua::Table>) -> LuaResult<LuaValue> {
    let from = |t: &mlua::Table| -> LuaResult<Option<LuaValue>> {
        Ok(match t.get::<LuaValue>("engine")? {
            LuaValue::Nil => None,
            v => Some(v),
        })
    };
    if let Some(o) = opts {
        if let Some(e) = from(o)? {
            return Ok(e);
        }
    }
    if let Some(e) = from(&project.env)? {
        return Ok(e);
    }
    let url = match opts.as_ref().map(|o| opt_string(o, "url", "migrate")) {
        Some(Ok(Some(u))) => u,
        Some(Err(e)) => return Err(e),
        _ => opt_string(&project.env, "url", "env.lua")?.ok_or_else(|| {
            arg(format!(
                "{}: env.lua gives no url (or engine) to migrate",
                project.dir.join("env.lua").display()
            ))
        })?,
    };
    let orm: mlua::Table = lua.named_registry_value("lualchemy.module")?;
    orm.get::<mlua::Function>("create_engine")?.call(url)
}

fn online_context(
    lua: &Lua,
    project: &Project,
    opts: &Option<mlua::Table>,
) -> LuaResult<Rc<MigrationContext>> {
    let engine = super::engine::engine_of(&engine_value(lua, project, opts)?)?;
    Ok(Rc::new(MigrationContext::online(engine.connect().lua()?)))
}

// ---------------------------------------------------------------------------------------
// The commands

fn is_sql(opts: &Option<mlua::Table>) -> LuaResult<bool> {
    Ok(match opts {
        Some(o) => o.get::<Option<bool>>("sql")?.unwrap_or(false),
        None => false,
    })
}

/// A failed revision's error: its kind, and what ran and where the database stays.
fn step_failed(e: mlua::Error, step: &Step) -> mlua::Error {
    let kind = super::error::find_orm_error(&e)
        .map(|o| o.kind)
        .unwrap_or(ErrorKind::InvalidRequestError);
    let msg = super::error::root_message(&e);
    kind_err(
        kind,
        format!(
            "{} of revision '{}'{} failed; the database stays at revision {}: {msg}",
            if step.upgrade { "upgrade" } else { "downgrade" },
            step.revision,
            if step.message.is_empty() {
                String::new()
            } else {
                format!(" ({})", step.message)
            },
            step.from.as_deref().unwrap_or("base"),
        ),
    )
}

fn run_steps(
    lua: &Lua,
    ctx: &Rc<MigrationContext>,
    project: &Project,
    steps: &[Step],
) -> LuaResult<()> {
    let r = run_each(lua, ctx, project, steps);
    // a server's connections keep prepared statements whose result shape the migration may
    // have changed ("cached plan must not change result type"): the pool starts afresh
    // (SQLite re-prepares by itself)
    if let Some(conn) = ctx.connection() {
        if !steps.is_empty() && !ctx.is_sqlite() {
            conn.engine().dispose();
        }
    }
    r
}

fn run_each(
    lua: &Lua,
    ctx: &Rc<MigrationContext>,
    project: &Project,
    steps: &[Step],
) -> LuaResult<()> {
    for step in steps {
        if let Err(e) = ctx.begin_step(step) {
            // SQLite's enforcement, if it was switched off, comes back on
            let _ = ctx.abort_step();
            return Err(super::error::to_lua(e));
        }
        let script = &project.scripts[&step.revision];
        let name = if step.upgrade { "upgrade" } else { "downgrade" };
        let f: Option<mlua::Function> = script.get(name)?;
        let result = (|| -> LuaResult<()> {
            if let Some(f) = f {
                f.call::<()>(op_table(lua, ctx.clone())?)?;
            }
            ctx.finish_step(step).lua()
        })();
        if let Err(e) = result {
            let _ = ctx.abort_step();
            return Err(step_failed(e, step));
        }
    }
    Ok(())
}

/// `upgrade A:B` (offline: from A).
fn split_range(target: &str) -> (Option<&str>, &str) {
    match target.split_once(':') {
        Some((a, b)) => (Some(a).filter(|a| !a.is_empty() && *a != "base"), b),
        None => (None, target),
    }
}

fn upgrade(
    lua: &Lua,
    (dir, target, opts): (String, Option<String>, Option<mlua::Table>),
) -> LuaResult<Option<String>> {
    options(&opts, "migrate.upgrade")?;
    let project = load_project(lua, &dir)?;
    let target = target.unwrap_or_else(|| "head".into());
    if is_sql(&opts)? {
        let (from, to) = split_range(&target);
        let backend = offline_backend(lua, &project, &opts)?;
        let ctx = Rc::new(MigrationContext::offline(backend));
        let steps = project.map.upgrade_steps(from, to).lua()?;
        if from.is_none() {
            ctx.ensure_version_table().lua()?;
        }
        run_steps(lua, &ctx, &project, &steps)?;
        return Ok(Some(ctx.output()));
    }
    if target.contains(':') {
        return Err(arg(
            "migrate.upgrade: a range A:B is for offline mode ({ sql = true })",
        ));
    }
    let ctx = online_context(lua, &project, &opts)?;
    ctx.ensure_version_table().lua()?;
    let current = ctx.current().lua()?;
    let steps = project
        .map
        .upgrade_steps(current.as_deref(), &target)
        .lua()?;
    run_steps(lua, &ctx, &project, &steps)?;
    Ok(None)
}

/// The database kind of offline SQL: the engine's, else the URL's.
fn offline_backend(
    lua: &Lua,
    project: &Project,
    opts: &Option<mlua::Table>,
) -> LuaResult<Option<crate::sql::dialect::Backend>> {
    let e = engine_value(lua, project, opts)?;
    let engine = super::engine::engine_of(&e)?;
    Ok(crate::engine::Url::parse(engine.url())
        .ok()
        .and_then(|u| u.backend()))
}

fn downgrade(
    lua: &Lua,
    (dir, target, opts): (String, String, Option<mlua::Table>),
) -> LuaResult<Option<String>> {
    options(&opts, "migrate.downgrade")?;
    let project = load_project(lua, &dir)?;
    if is_sql(&opts)? {
        // offline, the database's revision is not read: Alembic's FROM:TO
        let Some((from, to)) = target.split_once(':') else {
            return Err(arg(format!(
                "migrate.downgrade: offline mode (sql) needs FROM:TO, got '{target}'"
            )));
        };
        let from = project.map.resolve(from).lua()?.id.clone();
        let backend = offline_backend(lua, &project, &opts)?;
        let ctx = Rc::new(MigrationContext::offline(backend));
        let steps = project.map.downgrade_steps(Some(&from), to).lua()?;
        run_steps(lua, &ctx, &project, &steps)?;
        return Ok(Some(ctx.output()));
    }
    let ctx = online_context(lua, &project, &opts)?;
    ctx.ensure_version_table().lua()?;
    let current = ctx.current().lua()?;
    let steps = project
        .map
        .downgrade_steps(current.as_deref(), &target)
        .lua()?;
    run_steps(lua, &ctx, &project, &steps)?;
    Ok(None)
}

fn current(lua: &Lua, (dir, opts): (String, Option<mlua::Table>)) -> LuaResult<Option<String>> {
    options(&opts, "migrate.current")?;
    let project = load_project(lua, &dir)?;
    let ctx = online_context(lua, &project, &opts)?;
    ctx.current().lua()
}

fn stamp(lua: &Lua, (dir, rev, opts): (String, String, Option<mlua::Table>)) -> LuaResult<()> {
    options(&opts, "migrate.stamp")?;
    let project = load_project(lua, &dir)?;
    let rev = match rev.as_str() {
        "base" => None,
        "head" | "heads" => project.map.head().lua()?.map(|r| r.id.clone()),
        r => Some(project.map.resolve(r).lua()?.id.clone()),
    };
    let ctx = online_context(lua, &project, &opts)?;
    ctx.stamp(rev.as_deref()).lua()
}

fn revision_info(lua: &Lua, r: &Revision, heads: &[&Revision]) -> LuaResult<mlua::Table> {
    let t = lua.create_table()?;
    t.set("revision", r.id.as_str())?;
    t.set("down_revision", r.down_revision.clone())?;
    t.set("message", r.message.as_str())?;
    t.set("path", r.path.as_str())?;
    t.set("is_head", heads.iter().any(|h| h.id == r.id))?;
    Ok(t)
}

fn history(lua: &Lua, dir: String) -> LuaResult<mlua::Table> {
    let project = load_project(lua, &dir)?;
    let heads = project.map.heads();
    lua.create_sequence_from(
        project
            .map
            .history()
            .into_iter()
            .map(|r| revision_info(lua, r, &heads))
            .collect::<LuaResult<Vec<_>>>()?,
    )
}

fn heads(lua: &Lua, dir: String) -> LuaResult<mlua::Table> {
    let project = load_project(lua, &dir)?;
    lua.create_sequence_from(project.map.heads().into_iter().map(|r| r.id.clone()))
}

fn init(lua: &Lua, dir: Option<String>) -> LuaResult<()> {
    let dir = dir.unwrap_or_else(|| "migrations".into());
    let p = checked_path(lua, Path::new(&dir))?;
    if p.exists()
        && std::fs::read_dir(&p)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(invalid(format!(
            "migrate.init: directory {} already exists and is not empty",
            p.display()
        )));
    }
    let versions = p.join("versions");
    std::fs::create_dir_all(&versions).map_err(|e| io_err("create", &versions, e))?;
    write_new_file(lua, &p.join("env.lua"), &script::env_lua(&dir))?;
    Ok(())
}

const REVISION_OPTIONS: &[&str] = &["message", "autogenerate", "rev_id", "engine", "url"];

fn revision(lua: &Lua, (dir, opts): (String, Option<mlua::Table>)) -> LuaResult<mlua::Table> {
    let opts = match opts {
        Some(o) => {
            check_keys(&o, REVISION_OPTIONS, "migrate.revision", false)?;
            o
        }
        None => lua.create_table()?,
    };
    let project = load_project(lua, &dir)?;
    let message = opt_string(&opts, "message", "migrate.revision")?.unwrap_or_default();
    let id = match opt_string(&opts, "rev_id", "migrate.revision")? {
        Some(id) => {
            if project.map.get(&id).is_some() {
                return Err(invalid(format!(
                    "migrate.revision: revision '{id}' already exists"
                )));
            }
            id
        }
        None => crate::migrate::new_revision_id(),
    };
    let down = project.map.head().lua()?.map(|r| r.id.clone());
    let (up, dn) = if opts.get::<Option<bool>>("autogenerate")?.unwrap_or(false) {
        autogenerate_bodies(lua, &project, &opts)?
    } else {
        (String::new(), String::new())
    };
    let text = script::revision_lua(&id, down.as_deref(), &message, &script::now_utc(), &up, &dn);
    let path = write_new_file(
        lua,
        &project
            .dir
            .join("versions")
            .join(script::file_name(&id, &message)),
        &text,
    )?;
    let t = lua.create_table()?;
    t.set("revision", id)?;
    t.set("down_revision", down)?;
    t.set("path", path.display().to_string())?;
    Ok(t)
}

/// `revision --autogenerate`: the upgrade and downgrade bodies (Lua lines indented by four
/// spaces) of a script that turns the database into env.lua's `target_metadata`
/// (`migrate/autogenerate/`).
fn autogenerate_bodies(
    lua: &Lua,
    project: &Project,
    opts: &mlua::Table,
) -> LuaResult<(String, String)> {
    let metadata = match project.env.get::<LuaValue>("target_metadata")? {
        LuaValue::UserData(ud) if ud.is::<super::schema::LuaMetaData>() => {
            ud.borrow::<super::schema::LuaMetaData>()?.0.clone()
        }
        LuaValue::Nil => {
            return Err(invalid(format!(
                "revision --autogenerate: {} gives no target_metadata to compare the database with",
                project.dir.join("env.lua").display()
            )))
        }
        other => {
            return Err(arg(format!(
                "{}: target_metadata must be a MetaData (Base.metadata), got {}",
                project.dir.join("env.lua").display(),
                other.type_name()
            )))
        }
    };
    let opts = Some(opts.clone());
    let engine = super::engine::engine_of(&engine_value(lua, project, &opts)?)?;
    let diffs =
        crate::migrate::autogenerate::compare_metadata(&Inspector::new(engine), &metadata).lua()?;
    Ok((
        crate::migrate::autogenerate::render_upgrade(&diffs, "    "),
        crate::migrate::autogenerate::render_downgrade(&diffs, "    "),
    ))
}

// ---------------------------------------------------------------------------------------
// op

fn string_list(v: &LuaValue, what: &str) -> LuaResult<Vec<String>> {
    match v {
        LuaValue::String(s) => Ok(vec![s.to_str()?.to_string()]),
        LuaValue::Table(t) => t
            .sequence_values::<String>()
            .collect::<LuaResult<Vec<_>>>()
            .map_err(|_| arg(format!("{what}: expected a list of column names"))),
        other => Err(arg(format!(
            "{what}: expected a list of column names, got {}",
            other.type_name()
        ))),
    }
}

fn sql_type(v: &LuaValue, what: &str) -> LuaResult<SqlType> {
    match v {
        LuaValue::UserData(ud) if ud.is::<LuaType>() => Ok(ud.borrow::<LuaType>()?.0.clone()),
        other => Err(arg(format!(
            "{what}: expected a type such as orm.String(50), got {}",
            other.type_name()
        ))),
    }
}

/// A column given to `add_column` (`orm.Column("x", orm.Integer, ...)`).
fn column_of(lua: &Lua, v: &LuaValue, table: &str, what: &str) -> LuaResult<Column> {
    match v {
        LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => {
            let spec = ud.borrow::<LuaColumnSpec>()?;
            let name = spec
                .0
                .name
                .clone()
                .ok_or_else(|| arg(format!("{what}: the column needs a name")))?;
            spec.0
                .build(lua, &name, &HashMap::new(), &MetaData::new(), table)
        }
        other => Err(arg(format!(
            "{what}: expected orm.Column(name, type, ...), got {}",
            other.type_name()
        ))),
    }
}

const ALTER_OPTIONS: &[&str] = &[
    "type_",
    "nullable",
    "server_default",
    "new_column_name",
    "existing_type",
    "existing_nullable",
    "existing_server_default",
    "comment",
    "existing_comment",
];

fn alter_of(name: &str, opts: &Option<mlua::Table>, what: &str) -> LuaResult<AlterColumn> {
    let mut a = AlterColumn {
        name: name.to_string(),
        ..Default::default()
    };
    let Some(o) = opts else { return Ok(a) };
    check_keys(o, ALTER_OPTIONS, what, false)?;
    for pair in o.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        match k.as_str() {
            "type_" => a.type_ = Some(sql_type(&v, what)?),
            "existing_type" => a.existing_type = Some(sql_type(&v, what)?),
            "nullable" => a.nullable = Some(bool_opt(&v, &k, what)?),
            "existing_nullable" => a.existing_nullable = Some(bool_opt(&v, &k, what)?),
            // false: drop the default (Alembic's server_default=None)
            "server_default" => {
                a.server_default = Some(match v {
                    LuaValue::Boolean(false) => None,
                    v => Some(super::schema::server_default_sql(&v)?),
                })
            }
            "existing_server_default" => {
                a.existing_server_default = match v {
                    LuaValue::Boolean(false) => None,
                    v => Some(super::schema::server_default_sql(&v)?),
                }
            }
            "new_column_name" => match v {
                LuaValue::String(s) => a.new_column_name = Some(s.to_str()?.to_string()),
                other => {
                    return Err(arg(format!(
                        "{what}: new_column_name must be a string, got {}",
                        other.type_name()
                    )))
                }
            },
            _ => {}
        }
    }
    Ok(a)
}

fn bool_opt(v: &LuaValue, k: &str, what: &str) -> LuaResult<bool> {
    match v {
        LuaValue::Boolean(b) => Ok(*b),
        other => Err(arg(format!(
            "{what}: '{k}' expects a boolean, got {}",
            other.type_name()
        ))),
    }
}

fn opt_table(v: Option<&LuaValue>) -> LuaResult<Option<mlua::Table>> {
    match v {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(LuaValue::Table(t)) => Ok(Some(t.clone())),
        Some(other) => Err(arg(format!(
            "expected an options table, got {}",
            other.type_name()
        ))),
    }
}

/// A constraint's name: a string, or nil for an unnamed constraint (as Alembic takes `None`,
/// which autogenerate writes for a constraint the model leaves unnamed).
fn constraint_name(args: &[LuaValue], what: &str) -> LuaResult<Option<String>> {
    match args.first() {
        None | Some(LuaValue::Nil) => Ok(None),
        _ => arg_string(args, 0, what, "constraint_name").map(Some),
    }
}

fn arg_string(args: &[LuaValue], i: usize, what: &str, name: &str) -> LuaResult<String> {
    match args.get(i) {
        Some(LuaValue::String(s)) => Ok(s.to_str()?.to_string()),
        Some(other) => Err(arg(format!(
            "{what}: argument {} ({name}) must be a string, got {}",
            i + 1,
            other.type_name()
        ))),
        None => Err(arg(format!(
            "{what}: argument {} ({name}) is missing",
            i + 1
        ))),
    }
}

/// Refuses a type change that would not keep every row: the rows that do not fit the new
/// type, by primary key.
fn check_narrowing(
    ctx: &MigrationContext,
    table: &str,
    column: &str,
    ty: &SqlType,
) -> LuaResult<()> {
    let Some(conn) = ctx.connection() else {
        return Ok(());
    };
    let insp = Inspector::on_connection(conn.share());
    let mut pk = insp.pk_constraint(table).lua()?.columns;
    if pk.is_empty() {
        pk = vec![column.to_string()];
    }
    let Some(sql) = narrowing::offending_rows_sql(ctx.dialect(), table, &pk, column, ty) else {
        return Ok(());
    };
    let rows = ctx.query(&sql, &[], pk.len()).lua()?;
    if rows.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = rows
        .iter()
        .take(20)
        .map(|r| {
            let vals: Vec<String> = r.iter().map(show_value).collect();
            if vals.len() == 1 {
                vals[0].clone()
            } else {
                format!("({})", vals.join(", "))
            }
        })
        .collect();
    Err(kind_err(
        ErrorKind::DataError,
        format!(
            "alter_column('{table}', '{column}'): refusing to change the type to {ty}: {} row(s) hold values that do not fit, {} {}{}",
            rows.len(),
            pk.join(", "),
            shown.join(", "),
            if rows.len() > 20 { ", ..." } else { "" }
        ),
    ))
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(_) => format!("'{}'", v.as_str().unwrap_or_default()),
        Value::Blob(_) => "<blob>".into(),
    }
}

/// A value as a SQL literal (offline `bulk_insert`).
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(_) => format!("'{}'", v.as_str().unwrap_or_default().replace('\'', "''")),
        Value::Blob(b) => format!(
            "X'{}'",
            b.iter().map(|x| format!("{x:02X}")).collect::<String>()
        ),
    }
}

/// Runs one operation on `table` as plain DDL.
fn apply(ctx: &MigrationContext, table: &str, op: &BatchOp) -> LuaResult<()> {
    let d = ctx.dialect();
    let statements = match op {
        BatchOp::AddColumn(c) => ddl_alter::add_column(d, table, c).lua()?,
        BatchOp::DropColumn(c) => vec![ddl_alter::drop_column(d, table, c)],
        BatchOp::AlterColumn(a) => {
            let stmts = ddl_alter::alter_column(d, table, a).lua()?;
            if let Some(ty) = &a.type_ {
                check_narrowing(ctx, table, &a.name, ty)?;
            }
            stmts
        }
        BatchOp::CreateIndex(ix) => vec![ddl_alter::create_index(
            d,
            &ix.name,
            table,
            &ix.columns,
            ix.unique,
        )],
        BatchOp::DropIndex(name) => vec![ddl_alter::drop_index(d, name, Some(table)).lua()?],
        BatchOp::AddConstraint(Constraint::Unique { name, columns }) => {
            vec![ddl_alter::create_unique_constraint(d, name.as_deref(), table, columns).lua()?]
        }
        BatchOp::AddConstraint(Constraint::ForeignKey {
            name,
            columns,
            target_table,
            target_columns,
            ondelete,
            onupdate,
        }) => vec![ddl_alter::create_foreign_key(
            d,
            name.as_deref(),
            table,
            target_table,
            columns,
            target_columns,
            (ondelete.as_deref(), onupdate.as_deref()),
        )
        .lua()?],
        BatchOp::AddConstraint(Constraint::Check { name, sql }) => {
            vec![ddl_alter::create_check_constraint(d, name.as_deref(), table, sql).lua()?]
        }
        BatchOp::AddConstraint(Constraint::PrimaryKey { .. }) => {
            return Err(arg(
                "a primary key cannot be added by a migration operation",
            ))
        }
        BatchOp::DropConstraint { name, kind } => {
            vec![ddl_alter::drop_constraint(d, name, table, *kind).lua()?]
        }
    };
    for s in statements {
        ctx.execute(&s).lua()?;
    }
    Ok(())
}

/// Where a batch's operations go: straight to the database, or (SQLite) into the list the
/// rebuild applies.
#[derive(Clone)]
enum Sink {
    Direct,
    Batch(Rc<RefCell<Vec<BatchOp>>>),
}

fn send(ctx: &MigrationContext, sink: &Sink, table: &str, op: BatchOp) -> LuaResult<()> {
    match sink {
        Sink::Direct => apply(ctx, table, &op),
        Sink::Batch(list) => {
            list.borrow_mut().push(op);
            Ok(())
        }
    }
}

/// `create_foreign_key`'s arguments after the name and source: referent, local columns,
/// remote columns, options.
fn foreign_key_of(name: Option<String>, args: &[LuaValue], what: &str) -> LuaResult<BatchOp> {
    let referent = arg_string(args, 0, what, "referent_table")?;
    let local = string_list(args.get(1).unwrap_or(&LuaValue::Nil), what)?;
    let remote = string_list(args.get(2).unwrap_or(&LuaValue::Nil), what)?;
    let o = opt_table(args.get(3))?;
    let (mut ondelete, mut onupdate) = (None, None);
    if let Some(o) = &o {
        check_keys(o, &["ondelete", "onupdate"], what, false)?;
        ondelete = opt_string(o, "ondelete", what)?;
        onupdate = opt_string(o, "onupdate", what)?;
    }
    Ok(BatchOp::AddConstraint(Constraint::ForeignKey {
        name,
        columns: local,
        target_table: referent,
        target_columns: remote,
        ondelete,
        onupdate,
    }))
}

fn index_of(
    name: String,
    cols: &LuaValue,
    opts: Option<&LuaValue>,
    what: &str,
) -> LuaResult<BatchOp> {
    let columns = string_list(cols, what)?;
    let mut unique = false;
    if let Some(o) = opt_table(opts)? {
        check_keys(&o, &["unique"], what, false)?;
        unique = o.get::<Option<bool>>("unique")?.unwrap_or(false);
    }
    Ok(BatchOp::CreateIndex(Index {
        name,
        columns,
        unique,
    }))
}

fn drop_constraint_of(name: String, opts: Option<&LuaValue>, what: &str) -> LuaResult<BatchOp> {
    let mut kind = None;
    if let Some(o) = opt_table(opts)? {
        check_keys(&o, &["type_"], what, false)?;
        if let Some(k) = opt_string(&o, "type_", what)? {
            kind = Some(ConstraintKind::parse(&k).lua()?);
        }
    }
    Ok(BatchOp::DropConstraint { name, kind })
}

type OpFn = Box<dyn Fn(&Lua, &[LuaValue]) -> LuaResult<LuaValue>>;

fn set_op(lua: &Lua, t: &mlua::Table, name: &'static str, f: OpFn) -> LuaResult<()> {
    t.raw_set(
        name,
        lua.create_function(move |lua, args: Variadic<LuaValue>| f(lua, &args))?,
    )
}

/// Errors on reading an operation the object does not have.
fn strict(lua: &Lua, t: &mlua::Table, what: &'static str) -> LuaResult<()> {
    let mt = lua.create_table()?;
    mt.raw_set(
        "__index",
        lua.create_function(move |_, (_t, k): (LuaValue, LuaValue)| -> LuaResult<()> {
            Err(arg(format!(
                "{what} has no operation '{}'",
                k.to_string().unwrap_or_else(|_| k.type_name().into())
            )))
        })?,
    )?;
    t.set_metatable(Some(mt))?;
    Ok(())
}

/// The operations both `op` and `batch_op` have, the latter with the table given.
fn column_ops(
    lua: &Lua,
    t: &mlua::Table,
    ctx: &Rc<MigrationContext>,
    sink: Sink,
    table: Option<String>,
) -> LuaResult<()> {
    let prefix = if table.is_some() { "batch_op." } else { "op." };
    // the table: batch_op's own, else the operation's argument `at` (Alembic's order: the
    // table first for column operations, second after the name for the others); returns
    // it and how many arguments it took (0 or 1)
    let tb = move |args: &[LuaValue], what: &str, at: usize| -> LuaResult<(String, usize)> {
        match &table {
            Some(t) => Ok((t.clone(), 0)),
            None => Ok((arg_string(args, at, what, "table_name")?, 1)),
        }
    };
    macro_rules! op {
        ($name:literal, $at:literal, |$lua:ident, $args:ident, $table:ident, $i:ident, $what:ident| $body:block) => {{
            let ctx = ctx.clone();
            let sink = sink.clone();
            let tb = tb.clone();
            let what = format!("{prefix}{}", $name);
            set_op(
                lua,
                t,
                $name,
                Box::new(move |$lua: &Lua, $args: &[LuaValue]| {
                    let $what: &str = &what;
                    let ($table, $i) = tb($args, $what, $at)?;
                    let op: BatchOp = $body;
                    send(&ctx, &sink, &$table, op)?;
                    Ok(LuaValue::Nil)
                }),
            )?;
        }};
    }
    op!("add_column", 0, |lua, args, table, i, what| {
        BatchOp::AddColumn(column_of(
            lua,
            args.get(i).unwrap_or(&LuaValue::Nil),
            &table,
            what,
        )?)
    });
    op!("drop_column", 0, |_lua, args, table, i, what| {
        BatchOp::DropColumn(arg_string(args, i, what, "column_name")?)
    });
    op!("alter_column", 0, |_lua, args, table, i, what| {
        let name = arg_string(args, i, what, "column_name")?;
        BatchOp::AlterColumn(alter_of(&name, &opt_table(args.get(i + 1))?, what)?)
    });
    op!("create_index", 1, |_lua, args, table, i, what| {
        // op.create_index(name, table, cols, opts) / batch_op.create_index(name, cols, opts)
        let name = arg_string(args, 0, what, "index_name")?;
        let at = 1 + i;
        index_of(
            name,
            args.get(at).unwrap_or(&LuaValue::Nil),
            args.get(at + 1),
            what,
        )?
    });
    op!(
        "create_unique_constraint",
        1,
        |_lua, args, table, i, what| {
            let name = constraint_name(args, what)?;
            let at = 1 + i;
            BatchOp::AddConstraint(Constraint::Unique {
                name,
                columns: string_list(args.get(at).unwrap_or(&LuaValue::Nil), what)?,
            })
        }
    );
    op!(
        "create_check_constraint",
        1,
        |_lua, args, table, i, what| {
            let name = constraint_name(args, what)?;
            let at = 1 + i;
            let sql = match args.get(at) {
                Some(LuaValue::String(s)) => s.to_str()?.to_string(),
                Some(LuaValue::UserData(ud)) if ud.is::<super::expr::LuaText>() => {
                    ud.borrow::<super::expr::LuaText>()?.0.to_string()
                }
                other => {
                    return Err(arg(format!(
                        "{what}: the condition must be a SQL string or orm.text(), got {}",
                        other.map_or("nothing", |v| v.type_name())
                    )))
                }
            };
            BatchOp::AddConstraint(Constraint::Check { name, sql })
        }
    );
    op!("create_foreign_key", 1, |_lua, args, table, i, what| {
        let name = constraint_name(args, what)?;
        let at = 1 + i;
        foreign_key_of(name, &args[at.min(args.len())..], what)?
    });
    op!("drop_constraint", 1, |_lua, args, table, i, what| {
        let name = arg_string(args, 0, what, "constraint_name")?;
        let at = 1 + i;
        drop_constraint_of(name, args.get(at), what)?
    });
    Ok(())
}

fn op_table(lua: &Lua, ctx: Rc<MigrationContext>) -> LuaResult<mlua::Table> {
    let t = lua.create_table()?;
    column_ops(lua, &t, &ctx, Sink::Direct, None)?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "drop_index",
        Box::new(move |_, args| {
            let what = "op.drop_index";
            let name = arg_string(args, 0, what, "index_name")?;
            let mut table = None;
            if let Some(LuaValue::String(s)) = args.get(1) {
                table = Some(s.to_str()?.to_string());
            } else if let Some(o) = opt_table(args.get(1))? {
                check_keys(&o, &["table_name"], what, false)?;
                table = opt_string(&o, "table_name", what)?;
            }
            c.execute(&ddl_alter::drop_index(c.dialect(), &name, table.as_deref()).lua()?)
                .lua()?;
            Ok(LuaValue::Nil)
        }),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "rename_table",
        Box::new(move |_, args| {
            let old = arg_string(args, 0, "op.rename_table", "old_table_name")?;
            let new = arg_string(args, 1, "op.rename_table", "new_table_name")?;
            c.execute(&ddl_alter::rename_table(c.dialect(), &old, &new))
                .lua()?;
            Ok(LuaValue::Nil)
        }),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "drop_table",
        Box::new(move |_, args| {
            let name = arg_string(args, 0, "op.drop_table", "table_name")?;
            c.execute(&ddl_alter::drop_table(c.dialect(), &name))
                .lua()?;
            Ok(LuaValue::Nil)
        }),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "create_table",
        Box::new(move |lua, args| {
            let name = arg_string(args, 0, "op.create_table", "table_name")?;
            let orm: mlua::Table = lua.named_registry_value("lualchemy.module")?;
            let md: LuaValue = orm.get::<mlua::Function>("MetaData")?.call(())?;
            let mut call_args = vec![LuaValue::String(lua.create_string(&name)?), md];
            call_args.extend(args[1..].iter().cloned());
            let table: AnyUserData = orm
                .get::<mlua::Function>("Table")?
                .call(Variadic::from_iter(call_args))?;
            let tbl = table.borrow::<LuaTableObj>()?.0.clone();
            c.execute(&crate::sql::ddl::create_table(&tbl, c.dialect()))
                .lua()?;
            for s in crate::sql::ddl::create_indexes(&tbl, c.dialect()) {
                c.execute(&s).lua()?;
            }
            Ok(LuaValue::UserData(table))
        }),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "bulk_insert",
        Box::new(move |lua, args| bulk_insert(lua, &c, args)),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "execute",
        Box::new(move |lua, args| execute(lua, &c, args)),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "get_bind",
        Box::new(move |lua, _| {
            let conn = c
                .connection()
                .ok_or_else(|| invalid("op.get_bind(): offline mode (--sql) has no connection"))?;
            Ok(LuaValue::UserData(lua.create_userdata(
                super::engine::LuaConnection::joined(conn.share()),
            )?))
        }),
    )?;
    let c = ctx.clone();
    set_op(
        lua,
        &t,
        "batch_alter_table",
        Box::new(move |lua, args| batch_alter_table(lua, &c, args)),
    )?;
    strict(lua, &t, "op")?;
    Ok(t)
}

fn execute(lua: &Lua, ctx: &Rc<MigrationContext>, args: &[LuaValue]) -> LuaResult<LuaValue> {
    match args.first() {
        Some(LuaValue::String(s)) => {
            ctx.execute(&s.to_str()?).lua()?;
            Ok(LuaValue::Nil)
        }
        Some(LuaValue::UserData(ud)) => {
            if ctx.connection().is_none() {
                if let Ok(t) = ud.borrow::<super::expr::LuaText>() {
                    ctx.execute(&t.0).lua()?;
                    return Ok(LuaValue::Nil);
                }
                return Err(invalid(
                    "op.execute(): offline mode (--sql) writes out SQL strings and orm.text() only",
                ));
            }
            let conn = ctx.connection().expect("online");
            let lc = lua.create_userdata(super::engine::LuaConnection::joined(conn.share()))?;
            let f: mlua::Function = lc.get("execute")?;
            let mut call = vec![LuaValue::UserData(lc), LuaValue::UserData(ud.clone())];
            if let Some(p) = args.get(1) {
                call.push(p.clone());
            }
            f.call::<LuaValue>(Variadic::from_iter(call))
        }
        other => Err(arg(format!(
            "op.execute(): expects a SQL string or a statement, got {}",
            other.map_or("nothing", |v| v.type_name())
        ))),
    }
}

fn bulk_insert(lua: &Lua, ctx: &Rc<MigrationContext>, args: &[LuaValue]) -> LuaResult<LuaValue> {
    let what = "op.bulk_insert";
    let table = match args.first() {
        Some(LuaValue::UserData(ud)) if ud.is::<LuaTableObj>() => {
            ud.borrow::<LuaTableObj>()?.0.clone()
        }
        other => {
            return Err(arg(format!(
                "{what}: expects a Table (what op.create_table returns, or orm.Table(...)) first, got {}",
                other.map_or("nothing", |v| v.type_name())
            )))
        }
    };
    let Some(LuaValue::Table(rows)) = args.get(1) else {
        return Err(arg(format!(
            "{what}: expects a list of rows (tables) second"
        )));
    };
    let d = ctx.dialect();
    for row in rows.sequence_values::<mlua::Table>() {
        let row = row?;
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (i, c) in table.columns.iter().enumerate() {
            let mut v: LuaValue = row.get(c.key.as_str())?;
            if v.is_nil() && c.key != c.name {
                v = row.get(c.name.as_str())?;
            }
            if v.is_nil() {
                continue;
            }
            names.push(i);
            values.push(super::convert::lua_to_value(lua, &v, c.ty.kind(), &|| {
                format!("{what}: {}.{}", table.name, c.name)
            })?);
        }
        for pair in row.pairs::<LuaValue, LuaValue>() {
            let (k, _) = pair?;
            let k = k.to_string().unwrap_or_default();
            if table.column_index_by_key(&k).is_none() {
                return Err(arg(format!(
                    "{what}: table '{}' has no column '{k}'",
                    table.name
                )));
            }
        }
        let mut sql = String::from("INSERT INTO ");
        d.quote_identifier(&table.name, &mut sql);
        sql.push_str(" (");
        for (j, &i) in names.iter().enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            d.quote_identifier(&table.columns[i].name, &mut sql);
        }
        sql.push_str(") VALUES (");
        match ctx.connection() {
            Some(conn) => {
                for j in 0..names.len() {
                    if j > 0 {
                        sql.push_str(", ");
                    }
                    d.placeholder(j + 1, &mut sql);
                }
                sql.push(')');
                conn.execute(&sql, &values).lua()?;
            }
            None => {
                let lits: Vec<String> = values.iter().map(literal).collect();
                sql.push_str(&lits.join(", "));
                sql.push(')');
                ctx.execute(&sql).lua()?;
            }
        }
    }
    // a generated key given explicitly: PostgreSQL's sequence moves past it
    if let Some(conn) = ctx.connection() {
        if let Some(i) = table.autoincrement_column() {
            if let Some(sql) = d.sync_sequence_sql(&table.name, &table.columns[i].name) {
                conn.execute_control(&sql, &sql).lua()?;
            }
        }
    }
    Ok(LuaValue::Nil)
}

fn batch_alter_table(
    lua: &Lua,
    ctx: &Rc<MigrationContext>,
    args: &[LuaValue],
) -> LuaResult<LuaValue> {
    let what = "op.batch_alter_table";
    let table = arg_string(args, 0, what, "table_name")?;
    let f = match args.get(1) {
        Some(LuaValue::Function(f)) => f.clone(),
        _ => {
            return Err(arg(format!(
            "{what}('{table}', function(batch_op) ... end): the second argument must be a function"
        )))
        }
    };
    let sink = if ctx.is_sqlite() {
        Sink::Batch(Rc::new(RefCell::new(Vec::new())))
    } else {
        Sink::Direct
    };
    let batch_op = lua.create_table()?;
    column_ops(lua, &batch_op, ctx, sink.clone(), Some(table.clone()))?;
    {
        let c = ctx.clone();
        let s = sink.clone();
        let t = table.clone();
        set_op(
            lua,
            &batch_op,
            "drop_index",
            Box::new(move |_, args| {
                let name = arg_string(args, 0, "batch_op.drop_index", "index_name")?;
                send(&c, &s, &t, BatchOp::DropIndex(name))?;
                Ok(LuaValue::Nil)
            }),
        )?;
    }
    strict(lua, &batch_op, "batch_op")?;
    f.call::<()>(batch_op)?;
    let Sink::Batch(ops) = sink else {
        return Ok(LuaValue::Nil);
    };
    let ops = ops.borrow().clone();
    if ops.is_empty() {
        return Ok(LuaValue::Nil);
    }
    let conn = ctx.connection().ok_or_else(|| {
        invalid(format!(
            "{what}('{table}'): SQLite's batch mode rebuilds the table from the live database, which offline mode (--sql) does not read"
        ))
    })?;
    // the data check reads the old table: a column renamed earlier in the batch by its old
    // name; a column the batch adds has no rows to check
    let mut original: HashMap<String, Option<String>> = HashMap::new();
    for op in &ops {
        match op {
            BatchOp::AddColumn(c) => {
                original.insert(c.name.clone(), None);
            }
            BatchOp::AlterColumn(a) => {
                let old = original
                    .get(&a.name)
                    .cloned()
                    .unwrap_or_else(|| Some(a.name.clone()));
                if let (Some(ty), Some(old)) = (&a.type_, &old) {
                    check_narrowing(ctx, &table, old, ty)?;
                }
                if let Some(new) = &a.new_column_name {
                    original.insert(new.clone(), old);
                }
            }
            _ => {}
        }
    }
    let insp = Inspector::on_connection(conn.share());
    let old = crate::engine::reflection::reflect_table(&insp, &table).lua()?;
    for s in batch::rebuild(&old, &ops, ctx.dialect()).lua()? {
        ctx.execute(&s).lua()?;
    }
    Ok(LuaValue::Nil)
}

// ---------------------------------------------------------------------------------------

/// The module table of `require("lualchemy.migrate")`.
pub fn module(lua: &Lua) -> LuaResult<mlua::Table> {
    let m = lua.create_table()?;
    m.set("init", lua.create_function(init)?)?;
    m.set("revision", lua.create_function(revision)?)?;
    m.set("upgrade", lua.create_function(upgrade)?)?;
    m.set("downgrade", lua.create_function(downgrade)?)?;
    m.set("current", lua.create_function(current)?)?;
    m.set("history", lua.create_function(history)?)?;
    m.set("heads", lua.create_function(heads)?)?;
    m.set("stamp", lua.create_function(stamp)?)?;
    // compare_metadata, render_upgrade / render_downgrade / render, auto
    super::migrate_autogenerate::register(lua, &m)?;
    Ok(m)
}
