#!/usr/bin/env python3
"""W1-W4 and W8 on every runtime in one run: lualchemy on Lua 5.4 and on LuaJIT, the same work
written by hand on lsqlite3 (../shared/bench/lua_hand) on both runtimes, and SQLAlchemy's
reference script; prints one table (docs/PERFORMANCE.md, "Every runtime").

usage: python3 benches/run_runtimes.py [--scale S] [--rounds R] [--workloads W1,W2,...]
                                       [--mode time|instructions|memory|all]

Modes:
  time          R interleaved rounds of every program (one process each, all workloads), the
                median of each workload's `cpu_seconds`; ratios of the medians. Needs a quiet
                machine.
  instructions  every (program, workload) once under `valgrind --tool=callgrind
                --dump-before=clock`: the Lua scripts read os.clock() (C `clock()`) right before
                and right after the timed part, so the second dump holds the instructions of the
                timed part alone (load-independent). SQLAlchemy is left out (Python's clocks are
                not `clock()`, and it runs 100x longer under valgrind).
  memory        W2 once per program under /usr/bin/time -v: maximum resident set size (kB).

Programs (each skipped with a note when missing; paths relative to the repository root):
  lualchemy 5.4     target/release/lualchemy      (cargo build --release --bin lualchemy)
  lualchemy LuaJIT  target/luajit/release/lualchemy
                    (CARGO_TARGET_DIR=target/luajit cargo build --release --no-default-features
                     --features luajit,vendored --bin lualchemy)
  hand 5.4, hand LuaJIT   lua5.4 / luajit running lua_hand/lsqlite3_hand.lua with the lsqlite3.so
                    that benches/build_lsqlite3.sh built against the SQLite lualchemy bundles
                    (target/lua_hand/{lua54,luajit}-bundled); with --debian-sqlite also the copies
                    linked to Debian's libsqlite3 (target/lua_hand/*-system)
  SQLAlchemy        python3 ../shared/bench/sqlalchemy_ref.py (pip install sqlalchemy==2.0.58)
Override with LUALCHEMY_54, LUALCHEMY_JIT, LUA_HAND_DIR (the lsqlite3.so builds), SHARED_BENCH.
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^(W\d+)\s+\S+\s+rows=(\d+)\s+seconds=([\d.]+).*cpu_seconds=([\d.]+)")


def shared_bench():
    env = os.environ.get("SHARED_BENCH")
    candidates = [env] if env else []
    candidates += [os.path.join(ROOT, "..", "shared", "bench"),
                   os.path.join(ROOT, "..", "..", "shared", "bench")]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "sqlalchemy_ref.py")):
            return os.path.abspath(c)
    sys.exit("cannot find shared/bench (set SHARED_BENCH)")


def programs(args):
    bench = shared_bench()
    hand_dir = os.path.join(bench, "lua_hand")
    libs = os.environ.get("LUA_HAND_DIR", os.path.join(ROOT, "target", "lua_hand"))
    lua54 = os.environ.get("LUALCHEMY_54", os.path.join(ROOT, "target", "release", "lualchemy"))
    jit = os.environ.get("LUALCHEMY_JIT",
                         os.path.join(ROOT, "target", "luajit", "release", "lualchemy"))
    script = os.path.join(ROOT, "benches", "workloads.lua")
    progs = []

    def add(name, argv, env=None, cwd=None, needs=()):
        missing = [n for n in needs if not (os.path.exists(n) or shutil.which(n))]
        if missing:
            print(f"# skipped {name}: missing {', '.join(missing)}", file=sys.stderr)
            return
        progs.append({"name": name, "argv": argv, "env": env, "cwd": cwd})

    add("lualchemy 5.4", [lua54, script], needs=[lua54])
    add("lualchemy LuaJIT", [jit, script], needs=[jit])
    sqlites = ["bundled"] + (["system"] if args.debian_sqlite else [])
    for runtime, exe in (("5.4", "lua5.4"), ("LuaJIT", "luajit")):
        for q in sqlites:
            so_dir = os.path.join(libs, ("lua54" if runtime == "5.4" else "luajit") + "-" + q)
            label = f"hand {runtime}" + ("" if q == "bundled" else " (Debian SQLite)")
            env = dict(os.environ, LUA_PATH=os.path.join(hand_dir, "?.lua") + ";;",
                       LUA_CPATH=os.path.join(so_dir, "?.so"))
            add(label, [exe, os.path.join(hand_dir, "lsqlite3_hand.lua")], env=env,
                needs=[exe, os.path.join(so_dir, "lsqlite3.so")])
    if not args.no_sqlalchemy:
        add("SQLAlchemy", [sys.executable, os.path.join(bench, "sqlalchemy_ref.py")])
    return progs


def run_lines(prog, extra, prefix=()):
    out = subprocess.run(list(prefix) + prog["argv"] + extra, env=prog["env"], cwd=prog["cwd"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{prog['name']} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    found = {}
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if m:
            found[m.group(1)] = float(m.group(4))
    return found, out


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def table(title, wls, progs, values, fmt):
    names = [p["name"] for p in progs]
    print(f"\n{title}\n")
    print("| workload | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for w in wls:
        cells = [fmt(values.get((n, w))) for n in names]
        print(f"| {w} | " + " | ".join(cells) + " |")
    pairs = [("SQLAlchemy", "lualchemy 5.4", "SQLAlchemy / lualchemy 5.4"),
             ("SQLAlchemy", "lualchemy LuaJIT", "SQLAlchemy / lualchemy LuaJIT"),
             ("lualchemy 5.4", "hand 5.4", "lualchemy / hand, 5.4"),
             ("lualchemy LuaJIT", "hand LuaJIT", "lualchemy / hand, LuaJIT"),
             ("lualchemy LuaJIT", "lualchemy 5.4", "lualchemy LuaJIT / 5.4")]
    pairs = [p for p in pairs if p[0] in names and p[1] in names]
    if pairs:
        print("\n| workload | " + " | ".join(p[2] for p in pairs) + " |")
        print("|---|" + "---:|" * len(pairs))
        for w in wls:
            cells = [ratio(values.get((a, w)), values.get((b, w))) for a, b, _ in pairs]
            print(f"| {w} | " + " | ".join(cells) + " |")


def mode_time(args, progs, wls):
    samples = {}
    for r in range(args.rounds):
        for p in progs:
            found, _ = run_lines(p, [str(args.scale), ",".join(wls)])
            for w, s in found.items():
                samples.setdefault((p["name"], w), []).append(s)
        print(f"# round {r + 1} of {args.rounds} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in samples.items()}
    table(f"CPU seconds of the timed part, median of {args.rounds} interleaved rounds, "
          f"scale {args.scale}", wls, progs, med, lambda v: "-" if v is None else f"{v:.4f}")
    spread = {k: max(v) / min(v) for k, v in samples.items() if min(v) > 0}
    if spread:
        worst = max(spread.items(), key=lambda kv: kv[1])
        print(f"\nlargest spread (slowest / fastest round): {worst[1]:.2f} ({worst[0][0]} "
              f"{worst[0][1]})")


def callgrind_timed(prog, w, scale):
    """Instructions between the two clock() calls around the timed part of workload w."""
    d = tempfile.mkdtemp(prefix="cg_")
    try:
        out = os.path.join(d, "cg.out")
        prefix = ["valgrind", "--tool=callgrind", "--dump-before=clock",
                  f"--callgrind-out-file={out}"]
        if "LuaJIT" in prog["name"]:
            prefix.append("--smc-check=all")  # JIT-compiled machine code is written at run time
        found, res = run_lines(prog, [str(scale), w], prefix=prefix)
        if w not in found:
            sys.exit(f"{prog['name']} printed no {w} line:\n{res.stdout}\n{res.stderr}")
        dumps = {}
        for f in glob.glob(out + ".*"):
            n = f.rsplit(".", 1)[1]
            if n.isdigit():
                with open(f) as fh:
                    for line in fh:
                        if line.startswith("totals:") or line.startswith("summary:"):
                            dumps[int(n)] = int(line.split()[1])
                            break
        # dump 1: up to the first clock() (start of the timed part); dump 2: the timed part
        if 2 not in dumps:
            sys.exit(f"{prog['name']} {w}: no second callgrind dump in {sorted(dumps)}")
        return dumps[2]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def mode_instructions(args, progs, wls):
    progs = [p for p in progs if p["name"] != "SQLAlchemy"]
    counts = {}
    for p in progs:
        for w in wls:
            counts[(p["name"], w)] = callgrind_timed(p, w, args.scale)
            print(f"# {p['name']} {w}: {counts[(p['name'], w)]:,}", file=sys.stderr)
    table(f"Instructions of the timed part (millions; callgrind), scale {args.scale}", wls,
          progs, counts, lambda v: "-" if v is None else f"{v / 1e6:.1f}")


def mode_memory(args, progs):
    rss = {}
    for p in progs:
        _, res = run_lines(p, [str(args.scale), "W2"], prefix=["/usr/bin/time", "-v"])
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
        rss[(p["name"], "W2")] = int(m.group(1)) if m else None
    table(f"W2 peak memory: maximum resident set size of the whole process (kB), scale "
          f"{args.scale}", ["W2"], progs, rss, lambda v: "-" if v is None else f"{v:,}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W8")
    ap.add_argument("--mode", default="time",
                    choices=["time", "instructions", "memory", "all"])
    ap.add_argument("--debian-sqlite", action="store_true",
                    help="also run the hand-written code on Debian's libsqlite3")
    ap.add_argument("--no-sqlalchemy", action="store_true")
    args = ap.parse_args()
    wls = [w for w in args.workloads.split(",") if w]
    progs = programs(args)
    if args.mode in ("time", "all"):
        mode_time(args, progs, wls)
    if args.mode in ("memory", "all"):
        mode_memory(args, progs)
    if args.mode in ("instructions", "all"):
        mode_instructions(args, progs, wls)


if __name__ == "__main__":
    main()
