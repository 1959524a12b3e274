-- lualchemy as a loadable module for the Lua luarocks is configured for:
--   luarocks make                      (Lua luarocks defaults to)
--   luarocks --lua-version 5.4 make    (or 5.1 for LuaJIT / Lua 5.1, as configured)
-- builds liblualchemy.so with cargo (a Rust toolchain on PATH: https://rustup.rs) and
-- installs it as lualchemy.so, so that `require("lualchemy")` finds it on package.cpath.
-- The cargo feature is picked from the interpreter luarocks runs: `luajit` when it is
-- LuaJIT, else lua51 ... lua54 from its _VERSION. LUALCHEMY_FEATURES (default
-- "postgres,mysql") adds or removes the database drivers. See docs/INSTALL.md.
rockspec_format = "3.0"
package = "lualchemy"
version = "scm-1"
source = {
   url = "git+https://github.com/lualchemy/lualchemy.git",
}
description = {
   summary = "SQLAlchemy 2.0's ORM for Lua, on SQLite, PostgreSQL and MySQL/MariaDB",
   detailed = [[
      Declarative models, sessions with a unit of work and an identity map, select() queries,
      relationships with lazy, joined and selectin loading, events. A Rust core (rusqlite,
      the pure-Rust PostgreSQL and MySQL clients) exposed through mlua.
   ]],
   license = "MIT",
   labels = { "orm", "sql", "database", "sqlite", "postgresql", "mysql" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "command",
   build_command = [[
set -e
command -v cargo >/dev/null 2>&1 || { echo "lualchemy: building needs cargo (Rust): https://rustup.rs" >&2; exit 1; }
runtime=$("$(LUA)" -e 'io.write(jit and "luajit" or "lua" .. (_VERSION:sub(5):gsub("%.", "")))')
features="module,$runtime,${LUALCHEMY_FEATURES-postgres,mysql}"
features=$(echo "$features" | sed 's/,,*/,/g; s/,$//')
echo "lualchemy: cargo build --release --features $features (for $runtime)"
CARGO_TARGET_DIR=target cargo build --release -p lualchemy --lib --no-default-features --features "$features"
# Lua looks for lualchemy.so; luarocks installs a library under its file's own name
mkdir -p target/rock
cp target/release/liblualchemy.so target/rock/lualchemy.so
]],
   install = {
      lib = {
         lualchemy = "target/rock/lualchemy.so",
      },
   },
   -- the LuaLS (lua-language-server) stubs, in the rock's directory
   -- (luarocks show --rock-dir lualchemy)/types: add it to Lua.workspace.library
   copy_directories = { "types" },
}
