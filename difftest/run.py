#!/usr/bin/env python3
"""The differential test: runs random ORM op sequences (gen.py) through SQLAlchemy 2.0
(sa_runner.py) and lualchemy (lua_runner.lua) and compares what each observes after every
step. See docs/TESTING.md.

  python3 difftest/run.py --seeds 0-1999 --ops 200 [--lualchemy PATH] [--db memory|file]
  python3 difftest/run.py --shrink SEED [--ops 200]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402
import known  # noqa: E402

PINNED = "2.0.58"


def parse_seeds(spec):
    out = []
    for part in spec.split(","):
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def to_lua(v):
    if v is None:
        return "NULL"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "{" + ",".join(to_lua(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ",".join("[%s]=%s" % (json.dumps(k), to_lua(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def default_lualchemy():
    root = os.path.dirname(HERE)
    for d in (os.environ.get("CARGO_TARGET_DIR"), os.path.join(root, "target")):
        if d:
            for prof in ("debug", "release"):
                p = os.path.join(d, prof, "lualchemy")
                if os.path.exists(p):
                    return p
    return shutil.which("lualchemy")


class Job:
    """One SQLAlchemy process and one lualchemy process for a batch of cases."""

    def __init__(self, cases, args, workdir):
        self.cases = cases
        n = id(self)
        self.sa_in = os.path.join(workdir, "job%d.json" % n)
        self.lua_in = os.path.join(workdir, "job%d.lua" % n)
        with open(self.sa_in, "w") as f:
            json.dump({"dir": workdir, "cases": cases}, f)
        with open(self.lua_in, "w") as f:
            f.write("return { db = %s, dir = %s, cases = %s }\n"
                    % (json.dumps(args.db), json.dumps(workdir), to_lua(cases)))
        self.sa = subprocess.Popen([sys.executable, os.path.join(HERE, "sa_runner.py"), self.sa_in],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lua = subprocess.Popen([args.lualchemy, os.path.join(HERE, "lua_runner.lua"), self.lua_in],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def results(self):
        sa_out, sa_err = self.sa.communicate()
        lua_out, lua_err = self.lua.communicate()
        for p in (self.sa_in, self.lua_in):
            os.remove(p)
        if os.environ.get("DIFFTEST_ECHO"):
            sys.stderr.write(sa_err.decode(errors="replace") + lua_err.decode(errors="replace"))
        if self.sa.returncode != 0:
            raise RuntimeError("sa_runner.py failed:\n" + sa_err.decode(errors="replace")[-3000:])
        sa = split(sa_out)
        lua = split(lua_out)
        out = {}
        for c in self.cases:
            seed = c["seed"]
            if seed not in lua:
                lua[seed] = []
            out[seed] = (sa.get(seed, []), lua[seed])
        crash = None
        if self.lua.returncode != 0:
            crash = "lualchemy exited with %s:\n%s" % (self.lua.returncode,
                                                       lua_err.decode(errors="replace")[-3000:])
        return out, crash


def split(data):
    out = {}
    for line in data.decode(errors="replace").splitlines():
        if not line.strip():
            continue
        o = json.loads(line)
        out.setdefault(o["seed"], []).append(o)
    return out


def norm(v):
    """Numbers compare by value (an integer-valued float equals the integer)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def diff_obs(a, b):
    """The keys where two observations differ (None when equal)."""
    a, b = norm(a), norm(b)
    if a == b:
        return None
    d = {}
    for k in sorted(set(a) | set(b)):
        if k in ("seed", "oracle_stop", "deliberate"):
            continue
        if a.get(k) != b.get(k):
            if k == "objs" and isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
                sub = {}
                for h in sorted(set(a[k]) | set(b[k]), key=lambda x: (len(x), x)):
                    if a[k].get(h) != b[k].get(h):
                        sub[h] = {"sqlalchemy": a[k].get(h), "lualchemy": b[k].get(h)}
                d[k] = sub
            elif k == "tables":
                sub = {}
                for t in sorted(set(a[k]) | set(b[k])):
                    if a[k].get(t) != b[k].get(t):
                        sub[t] = {"sqlalchemy": a[k].get(t), "lualchemy": b[k].get(t)}
                d[k] = sub
            else:
                d[k] = {"sqlalchemy": a.get(k), "lualchemy": b.get(k)}
    return d


TOLERATE = []   # known.tolerances(--exclude names), set in main()
STOPPED = {}  # seed -> why its comparison stopped (an ORACLE_ERRORS error, an oracle_stop)
SA_VARIES = set()  # seeds where lualchemy matched another of SQLAlchemy's runs (sa_rerun)


def first_divergence(ops, sa, lua, crash=None):
    """(step index, diff) of the first step where the two sides differ, or None."""
    n = max(len(sa), len(lua))
    for a, b in zip(sa, lua):
        for fn in TOLERATE:
            fn(a, b)
    for j in range(n):
        a = sa[j] if j < len(sa) else None
        b = lua[j] if j < len(lua) else None
        if a is None or b is None:
            return j, {"missing": {"sqlalchemy": a is not None, "lualchemy": b is not None,
                                   "crash": crash}}
        if a.get("err") in known.ORACLE_ERRORS or (a.get("oracle_stop") and
                                                   a["oracle_stop"] not in known.ORACLE_ARBITRARY):
            STOPPED[a["seed"]] = a.get("err") if a.get("err") in known.ORACLE_ERRORS else a.get("oracle_stop")
            return None  # the oracle has no answer from here on (known.py ORACLE_ERRORS)
        d = diff_obs(a, b)
        if d and a.get("oracle_stop") == "CYCLE_FLUSH_FAILED" and a.get("err") and \
                b.get("deliberate") == "STALE_DELETE_RAISES":
            # the flush's statements ran in an order SQLAlchemy picked by chance, and
            # lualchemy's order met first a DELETE matching no row, which raises where
            # SQLAlchemy only warns (a deliberate difference, where its comparison stops)
            STOPPED[a["seed"]] = "CYCLE_FLUSH_FAILED, then STALE_DELETE_RAISES"
            return None
        if d and a.get("oracle_stop") in known.ORACLE_ARBITRARY and set(d) <= {"objs"}:
            # one of the answers SQLAlchemy picks by chance (known.py ORACLE_ARBITRARY): where
            # lualchemy's objects differ from the one it picked, nothing after compares
            STOPPED[a["seed"]] = a["oracle_stop"]
            return None
        if d:
            return j, d
    return None


def signature(ops, div):
    j, d = div
    op = ops[j]["op"] if j < len(ops) else "final"
    return (op, tuple(sorted(d)))


def run_cases(cases, args, workdir):
    """Runs cases in batches (one process per side and batch, args.jobs batches at once);
    yields (case, divergence or None)."""
    batches = [cases[i:i + args.batch] for i in range(0, len(cases), args.batch)]
    running = []
    while batches or running:
        while batches and len(running) < args.jobs:
            b = batches.pop(0)
            running.append((b, Job(b, args, workdir)))
        b, job = running.pop(0)
        res, crash = job.results()
        for c in b:
            sa, lua = res[c["seed"]]
            div = first_divergence(c["ops"], sa, lua, crash)
            if div and not crash and sa_rerun(c, lua, args, workdir):
                SA_VARIES.add(c["seed"])
                div = None
            yield c, div


def sa_rerun(case, lua, args, workdir):
    """SQLAlchemy does not always answer one sequence the same way: the order in which it
    walks a set of objects follows their addresses, and its weak identity map drops objects
    when the garbage collector runs. When lualchemy diverges, the sequence runs again through
    SQLAlchemy alone (args.sa_reruns times, each in a fresh process with its own hash seed);
    True when one of those runs agrees with lualchemy from start to end: lualchemy gave an
    answer SQLAlchemy itself gives. Counted and listed apart in the summary."""
    path = os.path.join(workdir, "rerun%d.json" % case["seed"])
    with open(path, "w") as f:
        json.dump({"dir": workdir, "cases": [case]}, f)
    try:
        for k in range(args.sa_reruns):
            env = dict(os.environ, PYTHONHASHSEED=str(1000 + k), DIFFTEST_PAD=str(k))
            p = subprocess.run([sys.executable, os.path.join(HERE, "sa_runner.py"), path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            if p.returncode != 0:
                continue
            sa = split(p.stdout).get(case["seed"], [])
            if first_divergence(case["ops"], sa, lua) is None:
                return True
    finally:
        os.remove(path)
    return False


def fmt_op(op):
    """A readable line for one op (Lua-like)."""
    k = op["op"]
    s = "s%s" % op.get("s")
    h = "h%s" % op.get("h")
    t = "nil" if op.get("t") is None else "h%s" % op.get("t")
    if k == "session":
        return "%s = orm.Session(engine, { expire_on_commit = %s, autoflush = %s })" % (
            s, str(op["expire_on_commit"]).lower(), str(op["autoflush"]).lower())
    if k == "new":
        vals = ", ".join("%s = %s" % (key, to_lua(v).replace("NULL", "nil"))
                         for key, v in sorted(op["vals"].items()))
        line = "%s = %s{ %s }" % (h, op["cls"], vals)
        if "parent" in op:
            line += "; %s.parent = h%s" % (h, op["parent"])
        if "s" in op:
            line += "; %s:add(%s)" % (s, h)
        return line
    if k in ("add", "delete", "refresh"):
        return "%s:%s(%s)" % (s, k, h)
    if k == "set":
        return "%s.%s = %s" % (h, op["attr"], to_lua(op["val"]).replace("NULL", "nil"))
    if k in ("append", "remove"):
        return "%s.%s:%s(%s)" % (h, op["rel"], k, t)
    if k == "setref":
        return "%s.%s = %s" % (h, op["rel"], t)
    if k == "read":
        return "_ = %s.%s%s" % (h, op["attr"], "  -- binds h%s.." % op["h0"] if "h0" in op else "")
    if k == "expire":
        return "%s:expire(%s%s)" % (s, h, ", " + to_lua(op["attrs"]) if op.get("attrs") else "")
    if k in ("expire_all", "flush", "commit", "rollback", "close"):
        return "%s:%s()" % (s, k)
    if k == "nested":
        inner = "; ".join(fmt_op(o) for o in op["ops"])
        return "%s:begin_nested(function() %s%s end)" % (s, inner, "; error('boom')" if op["fail"] else "")
    if k == "get":
        return "%s = %s:get(%s, %s)" % (h, s, op["cls"], op["id"])
    if k == "query":
        return "%s query %s(%s)%s" % (s, op["q"], to_lua(op.get("arg")).replace("NULL", ""),
                                      "  -- binds h%s.." % op["h0"] if "h0" in op else "")
    if k in ("bulk_update", "bulk_delete"):
        return "%s:execute(%s %s where %s%s, { synchronize_session = %s })" % (
            s, k.replace("bulk_", ""), op["cls"], op["where"],
            " set score = %s" % op["val"] if "val" in op else "", to_lua(op["sync"]))
    if k == "conn_count":
        return "engine:connect() count(*) from %s" % op["table"]
    return json.dumps(op)


def report(case, div, out=sys.stdout):
    j, d = div
    ops = case["ops"]
    out.write("seed %s diverges at step %s: %s\n" % (case["seed"], j,
                                                     fmt_op(ops[j]) if j < len(ops) else "final tables"))
    out.write(json.dumps(d, indent=1, sort_keys=True, default=str)[:6000] + "\n")


def shrink(case, args, workdir):
    """Delta debugging over the ops (nested blocks' inner ops included) while the first
    divergence keeps its signature. Candidates of one round run as one batch."""
    ops = case["ops"]
    # a candidate diverging only from some of SQLAlchemy's runs is one where SQLAlchemy's
    # answer varies: checked against args.shrink_reruns more runs (each costs a run of
    # SQLAlchemy only for candidates that diverged)
    args.sa_reruns = args.shrink_reruns
    _, div = next(run_cases([case], args, workdir))
    if div is None:
        print("seed %s does not diverge" % case["seed"])
        return None
    sig = signature(ops, div)
    ops = ops[:div[0] + 1]   # what follows the divergence plays no part

    def test_many(cands):
        cs = [{"seed": i, "ops": c} for i, c in enumerate(cands)]
        ok = []
        for c, d in run_cases(cs, args, workdir):
            ok.append(d is not None and signature(c["ops"], d) == sig)
        return ok

    def ddmin(items, rebuild):
        n = 2
        while len(items) >= 2:
            size = max(1, len(items) // n)
            chunks = [items[i:i + size] for i in range(0, len(items), size)]
            comps = [[x for k, c in enumerate(chunks) if k != i for x in c] for i in range(len(chunks))]
            cands = chunks + comps
            res = test_many([rebuild(c) for c in cands])
            hit = next((i for i, r in enumerate(res) if r), None)
            if hit is not None:
                if hit < len(chunks):
                    items, n = chunks[hit], 2
                else:
                    items, n = comps[hit - len(chunks)], max(n - 1, 2)
                continue
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
        return items

    ops = ddmin(list(ops), lambda c: c)
    # then the inner ops of nested blocks, one block at a time
    for idx, op in enumerate(ops):
        if op["op"] == "nested" and len(op["ops"]) > 0:
            def rebuild(inner, idx=idx):
                new = [dict(o) for o in ops]
                new[idx] = dict(ops[idx], ops=inner)
                return new
            res = test_many([rebuild([])])
            inner = [] if res[0] else ddmin(list(op["ops"]), rebuild)
            ops = rebuild(inner)
    case2 = {"seed": case["seed"], "ops": ops}
    _, div = next(run_cases([case2], args, workdir))
    print(json.dumps(ops))
    print()
    for i, op in enumerate(ops):
        print("%3d  %s" % (i, fmt_op(op)))
    print()
    if div is None:
        print("the shrunk sequence did not diverge when run again: the divergence is not "
              "deterministic (timing, or an order that varies between runs)")
    else:
        report(case2, div)
    return ops


def check_sqlalchemy():
    try:
        import sqlalchemy
    except ImportError:
        return "SQLAlchemy is not installed for %s" % sys.executable
    if sqlalchemy.__version__ != PINNED:
        return "SQLAlchemy %s is installed, the test needs %s" % (sqlalchemy.__version__, PINNED)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-99")
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--lualchemy", default=None)
    ap.add_argument("--db", choices=["memory", "file"], default="memory",
                    help="lualchemy's database (SQLAlchemy always uses a file: its sqlite:// "
                         "shares one connection between sessions)")
    ap.add_argument("--exclude", default="",
                    help="comma-separated known.py KNOWN_OPEN names (or 'all') whose features the generator leaves out")
    ap.add_argument("--shrink", type=int, default=None, metavar="SEED")
    ap.add_argument("--ops-file", default=None, help="run this op list (JSON) instead of a seed")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--max-report", type=int, default=5)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--events", action="store_true",
                    help="also compare the session events each step fires (after_begin, "
                         "before_commit, after_commit, after_rollback, the flush events)")
    ap.add_argument("--sa-reruns", type=int, default=8,
                    help="when lualchemy diverges, run SQLAlchemy alone this many more times; "
                         "a seed where one of them agrees counts apart (SQLAlchemy varies)")
    ap.add_argument("--shrink-reruns", type=int, default=2,
                    help="while shrinking, a candidate counts only if this many more runs of "
                         "SQLAlchemy alone all disagree with lualchemy too (keeps the shrunk "
                         "sequence one SQLAlchemy answers the same way)")
    args = ap.parse_args()
    if args.events:
        os.environ["DIFFTEST_EVENTS"] = "1"  # read by both runners
    problem = check_sqlalchemy()
    if problem:
        print("difftest: %s; pip install sqlalchemy==%s" % (problem, PINNED), file=sys.stderr)
        return 3
    args.lualchemy = args.lualchemy or default_lualchemy()
    if not args.lualchemy:
        print("difftest: no lualchemy binary (build it, or pass --lualchemy)", file=sys.stderr)
        return 2
    names = list(known.KNOWN_OPEN) if args.exclude == "all" else [x for x in args.exclude.split(",") if x]
    excl = known.exclusions(names, args.db)
    TOLERATE[:] = known.tolerances(names)
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    workdir = tempfile.mkdtemp(prefix="difftest", dir=base)
    try:
        if args.ops_file:
            with open(args.ops_file) as f:
                case = {"seed": 0, "ops": json.load(f)}
            if args.shrink is not None:
                shrink(case, args, workdir)
                return 0
            _, div = next(run_cases([case], args, workdir))
            if div:
                report(case, div)
                return 1
            print("no divergence")
            return 0
        if args.shrink is not None:
            shrink({"seed": args.shrink, "ops": gen.generate(args.shrink, args.ops, excl)}, args, workdir)
            return 0
        seeds = parse_seeds(args.seeds)
        t0 = time.time()
        cases = ({"seed": s, "ops": gen.generate(s, args.ops, excl)} for s in seeds)
        cases = list(cases)
        bad = []
        for case, div in run_cases(cases, args, workdir):
            if div:
                bad.append((case, div))
                if len(bad) <= args.max_report:
                    report(case, div)
        dt = time.time() - t0
        if bad:
            groups = {}
            for c, d in bad:
                groups.setdefault(signature(c["ops"], d), []).append(c["seed"])
            print("divergences by (op, what differs): seeds")
            for sig, ss in sorted(groups.items(), key=lambda x: -len(x[1])):
                print("  %-50s %d: %s" % (sig, len(ss), " ".join(map(str, ss[:12]))))
        stopped = sorted(STOPPED)
        if stopped:
            why = {}
            for sd in stopped:
                why.setdefault(STOPPED[sd], []).append(sd)
            print("stopped where SQLAlchemy has no answer or a deliberate difference begins: "
                  + "; ".join("%s: %d" % (k, len(v)) for k, v in sorted(why.items())))
        varies = sorted(SA_VARIES)
        if varies:
            print("difftest: %d seeds agreed with another of SQLAlchemy's runs, not its first "
                  "(SQLAlchemy's answer varies between runs; --sa-reruns): %s"
                  % (len(varies), " ".join(map(str, varies))))
        print("difftest: %d seeds x %d ops (%s, lualchemy db %s, excluded: %s): %d diverged%s, "
              "%d compared up to where SQLAlchemy has no answer or a deliberate difference begins (known.py ORACLE_ERRORS, ORACLE_ARBITRARY, ORACLE_WARNINGS, DELIBERATE_WARNINGS)%s, %.1fs"
              % (len(seeds), args.ops, args.seeds, args.db, ",".join(names) or "none", len(bad),
                 (" (seeds " + " ".join(str(c["seed"]) for c, _ in bad) + ")") if bad else "",
                 len(stopped), (" (seeds " + " ".join(map(str, stopped)) + ")") if stopped else "",
                 dt))
        return 1 if bad else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
