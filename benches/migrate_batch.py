#!/usr/bin/env python3
"""Issue 18's measurement: a batch-mode column change on a 1,000,000-row SQLite table, by
`lualchemy migrate upgrade head` and by `alembic upgrade head`, each on its own copy of the
same database, timed as whole processes (the batch rebuild copies every row).

  python3 benches/migrate_batch.py [--rows N] [--lualchemy target/release/lualchemy]

Needs alembic (pip install alembic sqlalchemy==2.0.58).
"""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

REVISION_LUA = '''local orm = require("lualchemy")
return {
  revision = "a1b2c3d4e5f6",
  down_revision = nil,
  message = "qty not null, name longer",
  upgrade = function(op)
    op.batch_alter_table("items", function(b)
      b.alter_column("qty", { existing_type = orm.Integer, nullable = false })
      b.alter_column("name", { existing_type = orm.String(50), type_ = orm.String(100) })
    end)
  end,
  downgrade = function(op) end,
}
'''

REVISION_PY = '''from alembic import op
import sqlalchemy as sa
revision = "a1b2c3d4e5f6"
down_revision = None
def upgrade():
    with op.batch_alter_table("items") as b:
        b.alter_column("qty", existing_type=sa.Integer(), nullable=False)
        b.alter_column("name", existing_type=sa.String(50), type_=sa.String(100))
def downgrade():
    pass
'''

ENV_PY = '''from alembic import context
from sqlalchemy import create_engine
url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url)
with engine.connect() as conn:
    context.configure(connection=conn, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
'''


def seed(path, rows):
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50), qty INTEGER)")
    c.executemany("INSERT INTO items (name, qty) VALUES (?, ?)",
                  (("item %d" % i, i % 100) for i in range(rows)))
    c.commit()
    c.close()


def timed(cmd, cwd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit("%s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return dt


def check(path, rows):
    c = sqlite3.connect(path)
    n = c.execute("SELECT count(*), sum(qty) FROM items").fetchone()
    ddl = c.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()[0]
    c.close()
    assert n[0] == rows, n
    assert n[1] == sum(i % 100 for i in range(rows)), n
    assert "VARCHAR(100)" in ddl and "qty INTEGER NOT NULL" in ddl, ddl
    return ddl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--lualchemy", default=os.path.join("target", "release", "lualchemy"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    lualchemy = os.path.abspath(a.lualchemy)
    work = tempfile.mkdtemp(prefix="migrate_batch")
    base = os.path.join(work, "base.db")
    seed(base, a.rows)
    # lualchemy's folder
    lua_dir = os.path.join(work, "lua")
    os.makedirs(os.path.join(lua_dir, "migrations", "versions"))
    with open(os.path.join(lua_dir, "migrations", "env.lua"), "w") as f:
        f.write('return { url = "sqlite:///%s" }\n' % os.path.join(work, "lua.db"))
    with open(os.path.join(lua_dir, "migrations", "versions", "a1b2c3d4e5f6_batch.lua"), "w") as f:
        f.write(REVISION_LUA)
    # Alembic's
    al_dir = os.path.join(work, "alembic")
    os.makedirs(os.path.join(al_dir, "migrations", "versions"))
    with open(os.path.join(al_dir, "alembic.ini"), "w") as f:
        f.write("[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///%s\n"
                % os.path.join(work, "alembic.db"))
    with open(os.path.join(al_dir, "migrations", "env.py"), "w") as f:
        f.write(ENV_PY)
    with open(os.path.join(al_dir, "migrations", "versions", "a1b2c3d4e5f6_batch.py"), "w") as f:
        f.write(REVISION_PY)
    times = {"lualchemy": [], "alembic": []}
    for _ in range(a.rounds):
        for name, cwd, db, cmd in (
                ("lualchemy", lua_dir, "lua.db", [lualchemy, "migrate", "upgrade", "head"]),
                ("alembic", al_dir, "alembic.db", [sys.executable, "-m", "alembic", "upgrade", "head"])):
            path = os.path.join(work, db)
            shutil.copy(base, path)
            times[name].append(timed(cmd, cwd))
            check(path, a.rows)
    shutil.rmtree(work, ignore_errors=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print("batch-mode column change on %d rows (SQLite), whole process, median of %d:" % (a.rows, a.rounds))
    print("| | seconds | rounds |")
    print("|---|---:|---|")
    for k in ("lualchemy", "alembic"):
        print("| %s | %.2f | %s |" % (k, med[k], ", ".join("%.2f" % t for t in times[k])))
    print("Alembic / lualchemy: %.1f" % (med["alembic"] / med["lualchemy"]))


if __name__ == "__main__":
    main()
