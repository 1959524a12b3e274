//! The text of the files `init` and `revision` write: `env.lua` and a revision script.

/// A Lua string literal of `s`.
pub fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `DIR/env.lua` as `init` writes it.
pub fn env_lua(dir: &str) -> String {
    format!(
        r#"-- The migration environment of lualchemy migrate (Alembic's alembic.ini + env.py):
-- the database to migrate and the models' metadata (what revision --autogenerate
-- compares with the database). Commands run from the folder that holds {dir}/.
local orm = require("lualchemy")
-- local models = dofile("models.lua")

return {{
  url = "sqlite:///app.db",
  target_metadata = nil, -- models.Base.metadata
}}
"#
    )
}

/// A file name for a revision: `<id>_<message as a slug>.lua`, as Alembic's.
pub fn file_name(id: &str, message: &str) -> String {
    let mut slug = String::new();
    for ch in message.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("{id}.lua")
    } else {
        format!("{id}_{slug}.lua")
    }
}

/// A new revision script. `upgrade` and `downgrade` are the bodies (indented Lua, or
/// empty for a script to fill in).
pub fn revision_lua(
    id: &str,
    down: Option<&str>,
    message: &str,
    created: &str,
    upgrade: &str,
    downgrade: &str,
) -> String {
    let body = |b: &str| {
        if b.trim().is_empty() {
            "    -- your operations: op.add_column(\"t\", orm.Column(\"c\", orm.Integer)), ...\n"
                .to_string()
        } else {
            b.to_string()
        }
    };
    format!(
        "--[[ {msg_line}\n\nRevision ID: {id}\nRevises: {revises}\nCreate Date: {created}\n]]\n\
         local orm = require(\"lualchemy\")\n\n\
         return {{\n  revision = {rid},\n  down_revision = {down},\n  message = {msg},\n\n\
         \x20 upgrade = function(op)\n{up}  end,\n\n\
         \x20 downgrade = function(op)\n{dn}  end,\n}}\n",
        msg_line = message.replace("]]", "] ]"),
        revises = down.unwrap_or(""),
        rid = lua_string(id),
        down = down.map(lua_string).unwrap_or_else(|| "nil".into()),
        msg = lua_string(message),
        up = body(upgrade),
        dn = body(downgrade),
    )
}

/// Now, UTC, as `2026-12-05 07:35:03`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = crate::datetime::civil_from_days(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_scripts() {
        assert_eq!(
            file_name("ab12cd34ef56", "Add the Score column!"),
            "ab12cd34ef56_add_the_score_column.lua"
        );
        assert_eq!(file_name("ab12cd34ef56", "!!"), "ab12cd34ef56.lua");
        let s = revision_lua("b", Some("a"), "say \"hi\"", "2026-01-01 00:00:00", "", "");
        assert!(s.contains("revision = \"b\""), "{s}");
        assert!(s.contains("down_revision = \"a\""));
        assert!(s.contains("message = \"say \\\"hi\\\"\""));
        assert!(revision_lua("a", None, "m", "d", "", "").contains("down_revision = nil"));
        assert_eq!(now_utc().len(), 19);
    }
}
