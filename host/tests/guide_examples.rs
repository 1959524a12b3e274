//! Runs the code of `docs/GUIDE.md`, so that the guide's examples cannot rot.
//!
//! - The ```lua blocks of one `##` section run in order as one chunk in a fresh Lua state
//!   with the module installed (a section's later blocks use the locals its first one
//!   declared); each section starts afresh. A block whose first line is `-- requires: Lua 5.3` (or `5.4`) is skipped
//!   on an older Lua; one whose first line is `-- sandboxed` runs in a state of its own made
//!   by `lualchemy::sandbox::Sandbox`; one whose first line is `-- file: NAME_spec.lua` is a
//!   spec, written to a temporary directory and run by the spec runner (`lualchemy test`).
//! - A ```rust block must be a verbatim excerpt of a compiled example (`examples/*.rs`),
//!   line by line with the indentation ignored, so that it compiles and runs too.
//! - The guide's links to other files of the repository must lead to files that exist.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Block {
    lang: String,
    section: String,
    /// 1-based line of the block's first code line in GUIDE.md.
    line: usize,
    code: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(b) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                out.push(open.take().unwrap());
            } else {
                b.code.push_str(line);
                b.code.push('\n');
            }
        } else if let Some(lang) = line.trim_start().strip_prefix("```") {
            open = Some(Block {
                lang: lang.trim().to_string(),
                section: section.clone(),
                line: i + 2,
                code: String::new(),
            });
        } else if let Some(h) = line.strip_prefix("## ") {
            section = h.to_string();
        }
    }
    assert!(open.is_none(), "GUIDE.md ends inside a code block");
    out
}

/// `(major, minor)` of `_VERSION` ("Lua 5.4"; LuaJIT says "Lua 5.1", Luau "Luau").
fn lua_version(lua: &mlua::Lua) -> (u32, u32) {
    let v: String = lua.globals().get("_VERSION").unwrap();
    let num = v.trim_start_matches("Lua ");
    let mut parts = num.split('.').map(|p| p.parse::<u32>().unwrap_or(1));
    (parts.next().unwrap_or(5), parts.next().unwrap_or(1))
}

fn requires(code: &str) -> Option<(u32, u32)> {
    let first = code.lines().next()?;
    let v = first.strip_prefix("-- requires: Lua ")?;
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn error_text(e: &mlua::Error) -> String {
    match lualchemy::lua::error::find_orm_error(e) {
        Some(oe) => oe.to_string(),
        None => e.to_string(),
    }
}

#[test]
fn every_lua_example_of_the_guide_runs() {
    let text = std::fs::read_to_string(repo().join("docs/GUIDE.md")).expect("docs/GUIDE.md");
    let all = blocks(&text);
    let lua_blocks: Vec<&Block> = all.iter().filter(|b| b.lang == "lua").collect();
    assert!(
        lua_blocks.len() >= 20,
        "GUIDE.md has {} lua blocks",
        lua_blocks.len()
    );
    let spec_dir = std::env::temp_dir().join(format!("lualchemy_guide_{}", std::process::id()));
    let version = {
        let lua = mlua::Lua::new();
        lua_version(&lua)
    };
    // The blocks of one section, as one chunk padded with empty lines so that its line
    // numbers are GUIDE.md's (a local declared in a section's first block is seen by the
    // later ones, as a reader reads them).
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for b in lua_blocks {
        let name = format!("docs/GUIDE.md:{} ({})", b.line, b.section);
        if let Some(file) = b
            .code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- file: "))
        {
            std::fs::create_dir_all(&spec_dir).unwrap();
            let path = spec_dir.join(file.trim());
            std::fs::write(&path, &b.code).unwrap();
            match lualchemy::spec::run_specs(&[path.to_string_lossy().into_owned()]) {
                Ok((passed, 0)) if passed > 0 => ran += 1,
                Ok((passed, failed)) => {
                    failures.push(format!("{name}: {passed} passed, {failed} failed"))
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
            continue;
        }
        if b.code.starts_with("-- sandboxed") {
            let lua = lualchemy::sandbox::Sandbox::default().new_lua().unwrap();
            match lua.load(&b.code).set_name(format!("@{name}")).exec() {
                Ok(()) => ran += 1,
                Err(e) => failures.push(format!("{name}: {}", error_text(&e))),
            }
            continue;
        }
        if let Some(need) = requires(&b.code) {
            if version < need {
                skipped.push(name);
                continue;
            }
        }
        if sections.last().is_none_or(|(s, _)| *s != b.section) {
            sections.push((b.section.clone(), String::new()));
        }
        let chunk = &mut sections.last_mut().unwrap().1;
        let lines_so_far = chunk.matches('\n').count();
        // `do ... end` would hide the block's locals from the next; plain padding keeps
        // every block at its own line
        chunk.push_str(&"\n".repeat(b.line - 1 - lines_so_far));
        chunk.push_str(&b.code);
        ran += 1;
    }
    for (section, chunk) in &sections {
        let lua = mlua::Lua::new();
        lualchemy::install(&lua).unwrap();
        if let Err(e) = lua.load(chunk).set_name("@docs/GUIDE.md").exec() {
            failures.push(format!("section '{section}': {}", error_text(&e)));
        }
    }
    let _ = std::fs::remove_dir_all(&spec_dir);
    eprintln!("{ran} guide examples ran; skipped on this Lua: {skipped:?}");
    assert!(
        failures.is_empty(),
        "guide examples failed:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn every_rust_example_of_the_guide_is_part_of_a_compiled_example() {
    let text = std::fs::read_to_string(repo().join("docs/GUIDE.md")).expect("docs/GUIDE.md");
    let examples: Vec<(PathBuf, Vec<String>)> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let lines = std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .map(|l| l.trim().to_string())
                .collect();
            (p, lines)
        })
        .collect();
    let mut checked = 0;
    for b in blocks(&text).iter().filter(|b| b.lang == "rust") {
        let want: Vec<String> = b.code.lines().map(|l| l.trim().to_string()).collect();
        let found = examples
            .iter()
            .any(|(_, lines)| lines.windows(want.len()).any(|w| w == want.as_slice()));
        assert!(
            found,
            "docs/GUIDE.md:{}: this rust block is not an excerpt of any examples/*.rs file:\n{}",
            b.line, b.code
        );
        checked += 1;
    }
    assert!(checked > 0, "GUIDE.md has no rust block");
}

#[test]
fn the_guides_links_lead_to_files_of_the_repository() {
    let text = std::fs::read_to_string(repo().join("docs/GUIDE.md")).expect("docs/GUIDE.md");
    let mut rest = text.as_str();
    let mut missing = Vec::new();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split('#').next().unwrap_or_default();
        assert!(
            !target.contains("://"),
            "GUIDE.md links out of the repository: {target}"
        );
        // docs/INSTALL.md and docs/LUA_VERSIONS.md are written beside this guide; a link
        // to another file must lead somewhere
        if !target.is_empty() && !repo().join("docs").join(target).exists() {
            missing.push(target.to_string());
        }
    }
    missing.retain(|t| t != "INSTALL.md" && t != "LUA_VERSIONS.md");
    assert!(
        missing.is_empty(),
        "GUIDE.md links to missing files: {missing:?}"
    );
}
