"""Random, valid sequences of ORM operations for the differential test.

An op is a JSON object with "op" (its kind) and the handles it works on: objects are
referred to by handle numbers ("h", "t"), sessions by number ("s"). Handles are bound by the
op that makes the object ("new") or finds it ("get", "query", "read" bind the objects they
return, in order, from "h0"); an op whose handle is not bound on a side is skipped (result
"skip"), identically on both sides. The generator keeps a rough model (which handles exist,
which session is current) so that most ops are meaningful; everything else is the runners'
business and is compared.

Features (names usable with --exclude): every op kind, plus
  "multi_session"  readers in other sessions and connections while the current one writes
  "linger"         a reader session kept open across the writer's commit
  "nested"         begin_nested blocks ("nested" op)
  "nested_fail"    begin_nested blocks ending in an error
  "unique_fail"    duplicate Parent.name (UNIQUE)
  "null_fail"      Child.label = nil (NOT NULL)
  "sync_<mode>"    bulk statements with synchronize_session = <mode> (auto fetch evaluate false)
  "node"           the self-referential Node model
  "tags"           the many-to-many Child.tags
  "delete_cascade" session.delete of a Parent (delete cascade to its children)
  "core"           Core statements on the plain tables through the session (no autoflush)
"""
import random

NAMES = ["p%d" % i for i in range(8)]
LABELS = ["a", "b", "c", "d", "e"]
TAGNAMES = ["t%d" % i for i in range(5)]
SYNC = ["auto", "fetch", "evaluate", False]

PARENT_ATTRS = ["id", "name", "score", "children"]
CHILD_ATTRS = ["id", "parent_id", "label", "parent", "tags"]
TAG_ATTRS = ["id", "name", "children"]
NODE_ATTRS = ["id", "name", "parent_id", "parent", "children"]
ATTRS = {"Parent": PARENT_ATTRS, "Child": CHILD_ATTRS, "Tag": TAG_ATTRS, "Node": NODE_ATTRS}

QUERIES = ["parents_score", "children_of", "count_children", "group_children", "sum_score",
           "top_parents", "tags_of", "name_of", "root_nodes", "parents_with_label"]


class Gen:
    def __init__(self, seed, exclude=()):
        self.r = random.Random(seed)
        self.ex = set(exclude)
        self.next_h = 1
        self.kind = {}          # handle -> class name (maybe-bound handles included)
        self.next_s = 1
        self.cur = None         # current (writing) session
        self.linger = None      # a reader session left open
        self.sure = set()       # handles certainly bound (by "new")

    def ok(self, feature):
        return feature not in self.ex

    def handle(self, cls=None):
        pool = self.kind.items()
        if self.r.random() < 0.75:
            pool = [(h, k) for h, k in pool if h in self.sure] or pool
        hs = [h for h, k in pool if cls is None or k == cls]
        if not hs:
            return None
        # prefer recent handles a little
        if self.r.random() < 0.5:
            hs = hs[-8:]
        return self.r.choice(hs)

    def bind(self, cls, n=1):
        h0 = self.next_h
        for i in range(n):
            self.kind[h0 + i] = cls
        self.next_h += n
        return h0

    def value(self, cls, attr):
        r = self.r
        if attr == "name" and cls == "Parent":
            if self.ok("unique_fail") and r.random() < 0.15:
                return r.choice(NAMES)
            return r.choice(NAMES) + "_" + str(r.randrange(1000))
        if attr == "score":
            return r.choice([None, r.randrange(-3, 10)])
        if attr == "label":
            if self.ok("null_fail") and r.random() < 0.06:
                return None
            return r.choice(LABELS)
        if attr == "name" and cls == "Tag":
            return r.choice(TAGNAMES) + "_" + str(r.randrange(100))
        if attr == "name" and cls == "Node":
            return "n%d" % r.randrange(100)
        raise ValueError(attr)

    def new_session(self):
        s = self.next_s
        self.next_s += 1
        return {"op": "session", "s": s, "expire_on_commit": self.r.random() < 0.8,
                "autoflush": self.r.random() < 0.9}

    def mutating(self):
        """One op that changes objects (used alone and inside nested blocks)."""
        r = self.r
        s = self.cur
        classes = ["Parent", "Child"]
        if self.ok("tags"):
            classes.append("Tag")
        if self.ok("node"):
            classes.append("Node")
        choices = [("new", 6), ("add", 1), ("delete", 2), ("set", 4), ("append", 3),
                   ("remove", 1.5), ("setref", 2)]
        if self.ok("tags"):
            choices.append(("link", 2))
        choices = [(k, w) for k, w in choices if self.ok(k)]
        kind = weighted(r, choices)
        if kind == "new":
            cls = r.choice(classes)
            if cls == "Parent":
                vals = {"name": self.value("Parent", "name"), "score": self.value("Parent", "score")}
            elif cls == "Child":
                vals = {"label": self.value("Child", "label")}
            elif cls == "Tag":
                vals = {"name": self.value("Tag", "name")}
            else:
                vals = {"name": self.value("Node", "name")}
            op = {"op": "new", "cls": cls, "vals": vals}
            if cls == "Child" and r.random() < 0.7:
                p = self.handle("Parent")
                if p:
                    op["parent"] = p
            if cls == "Node" and r.random() < 0.6:
                p = self.handle("Node")
                if p:
                    op["parent"] = p
            if r.random() < 0.85 or "parent" in op:
                op["s"] = s
            op["h"] = self.bind(cls)
            self.sure.add(op["h"])
            return op
        if kind == "add":
            h = self.handle()
            return h and {"op": "add", "s": s, "h": h}
        if kind == "delete":
            h = self.handle()
            if h and self.kind[h] == "Parent" and not self.ok("delete_cascade"):
                h = self.handle("Child")
            return h and {"op": "delete", "s": s, "h": h}
        if kind == "set":
            h = self.handle()
            if not h:
                return None
            cls = self.kind[h]
            attr = {"Parent": r.choice(["name", "score", "score"]), "Child": "label",
                    "Tag": "name", "Node": "name"}[cls]
            return {"op": "set", "h": h, "attr": attr, "val": self.value(cls, attr)}
        if kind in ("append", "remove"):
            if self.ok("node") and r.random() < 0.25:
                p, c, rel = self.handle("Node"), self.handle("Node"), "children"
            else:
                p, c, rel = self.handle("Parent"), self.handle("Child"), "children"
            return p and c and {"op": kind, "h": p, "rel": rel, "t": c}
        if kind == "setref":
            if self.ok("node") and r.random() < 0.25:
                c, rel = self.handle("Node"), "parent"
                p = self.handle("Node") if r.random() < 0.8 else None
            else:
                c, rel = self.handle("Child"), "parent"
                p = self.handle("Parent") if r.random() < 0.85 else None
            return c and {"op": "setref", "h": c, "rel": rel, "t": p}
        if kind == "link":
            c, t = self.handle("Child"), self.handle("Tag")
            return c and t and {"op": r.choice(["append", "append", "remove"]), "h": c, "rel": "tags", "t": t}
        return None

    def query(self, s):
        r = self.r
        qs = [q for q in QUERIES if self.ok(q)
              and (q != "root_nodes" or self.ok("node")) and (q != "tags_of" or self.ok("tags"))]
        q = r.choice(qs)
        op = {"op": "query", "s": s, "q": q}
        if q in ("parents_score", "top_parents", "parents_with_label"):
            op["h0"] = self.bind("Parent", 3)
        elif q == "children_of":
            op["h0"] = self.bind("Child", 3)
        elif q == "root_nodes":
            op["h0"] = self.bind("Node", 3)
        if q == "parents_score":
            op["arg"] = r.randrange(-2, 8)
        elif q in ("children_of", "name_of"):
            op["arg"] = r.choice(NAMES)
        elif q in ("tags_of", "parents_with_label"):
            op["arg"] = r.choice(LABELS)
        elif q == "top_parents":
            op["arg"] = r.randrange(1, 4)
        return op

    def bulk(self):
        r = self.r
        modes = [m for m in SYNC if self.ok("sync_%s" % str(m).lower())]
        if not modes:
            return None
        sync = r.choice(modes)
        if r.random() < 0.6 and self.ok("bulk_update"):
            if r.random() < 0.5:
                where = ["score_gt", r.randrange(-2, 8)]
            else:
                where = ["name_in", r.sample(NAMES, 3)]
            val = r.choice([["const", r.randrange(0, 9)], ["plus", 1], ["null"]])
            return {"op": "bulk_update", "s": self.cur, "cls": "Parent", "where": where,
                    "val": val, "sync": sync}
        if not self.ok("bulk_delete"):
            return None
        if r.random() < 0.7:
            return {"op": "bulk_delete", "s": self.cur, "cls": "Child",
                    "where": ["label_eq", r.choice(LABELS)], "sync": sync}
        return {"op": "bulk_delete", "s": self.cur, "cls": "Parent",
                "where": ["score_gt", r.randrange(3, 10)], "sync": sync}

    def core(self):
        """A Core statement on a plain Table run by the current session: SQLAlchemy does
        not autoflush before it, nor synchronize the session's objects."""
        r = self.r
        kind = weighted(r, [("count", 3), ("sum", 1), ("update", 2), ("delete", 1.5),
                            ("insert", 1.5)])
        op = {"op": "core", "s": self.cur, "stmt": kind}
        if kind == "count":
            op["table"] = r.choice(["parents", "children"])
            if r.random() < 0.4:
                op["label"] = r.choice(LABELS)
        elif kind == "update":
            op["arg"] = r.randrange(-2, 8)
            op["val"] = r.choice([None, r.randrange(0, 9)])
        elif kind == "delete":
            op["label"] = r.choice(LABELS)
        elif kind == "insert":
            op["labels"] = [self.value("Child", "label") for _ in range(r.randrange(1, 3))]
        return op

    def step(self):
        r = self.r
        out = []
        if self.cur is None:
            op = self.new_session()
            self.cur = op["s"]
            return [op]
        s = self.cur
        choices = [("mutating", 30), ("read", 8), ("expire", 3), ("refresh", 1.5),
                   ("expire_all", 0.7), ("flush", 4), ("commit", 5), ("rollback", 2),
                   ("close", 1), ("nested", 2.5), ("get", 3), ("query", 6), ("bulk", 2.5),
                   ("peek", 2), ("conn_count", 1), ("linger", 0.7), ("switch", 0.8),
                   ("core", 1.5)]
        feat = {"peek": "multi_session", "conn_count": "multi_session", "linger": "linger",
                "switch": "switch", "bulk": "bulk", "mutating": "mutating"}
        choices = [(k, w) for k, w in choices if self.ok(k) and self.ok(feat.get(k, k))]
        kind = weighted(r, choices)
        if kind == "mutating":
            op = self.mutating()
            return [op] if op else []
        if kind == "read":
            h = self.handle()
            if not h:
                return []
            attr = r.choice(ATTRS[self.kind[h]])
            op = {"op": "read", "h": h, "attr": attr}
            if attr in ("children", "tags", "parent"):
                tcls = {"Parent": "Child", "Tag": "Child", "Node": "Node", "Child": None}[self.kind[h]]
                if attr == "tags":
                    tcls = "Tag"
                if attr == "parent":
                    tcls = "Parent" if self.kind[h] == "Child" else "Node"
                op["h0"] = self.bind(tcls, 3)
            return [op]
        if kind == "expire":
            h = self.handle()
            if not h:
                return []
            op = {"op": "expire", "s": s, "h": h}
            if r.random() < 0.5:
                op["attrs"] = r.sample(ATTRS[self.kind[h]], r.randrange(1, 3))
            return [op]
        if kind == "refresh":
            h = self.handle()
            return [{"op": "refresh", "s": s, "h": h}] if h else []
        if kind in ("expire_all", "flush", "commit", "rollback"):
            return [{"op": kind, "s": s}]
        if kind == "close":
            self.cur = None
            return [{"op": "close", "s": s}]
        if kind == "nested":
            fail = self.ok("nested_fail") and r.random() < 0.5
            inner = [o for o in (self.mutating() for _ in range(r.randrange(1, 4))) if o]
            if r.random() < 0.3:
                inner.append({"op": "flush", "s": s})
            return [{"op": "nested", "s": s, "ops": inner, "fail": fail}]
        if kind == "get":
            cls = r.choice(["Parent", "Child"] + (["Node"] if self.ok("node") else []))
            return [{"op": "get", "s": s, "cls": cls, "id": r.randrange(1, 9), "h": self.bind(cls)}]
        if kind == "query":
            return [self.query(s)]
        if kind == "bulk":
            op = self.bulk()
            return [op] if op else []
        if kind == "core":
            return [self.core()]
        if kind == "peek":
            op = self.new_session()
            q = self.query(op["s"])
            return [op, q, {"op": "close", "s": op["s"]}]
        if kind == "conn_count":
            return [{"op": "conn_count", "table": r.choice(["parents", "children"])}]
        if kind == "linger":
            if self.linger is None:
                op = self.new_session()
                self.linger = op["s"]
                return [op, self.query(op["s"])]
            ls = self.linger
            if r.random() < 0.5:
                return [self.query(ls)]
            self.linger = None
            return [self.query(ls), {"op": "close", "s": ls}]
        if kind == "switch":
            # the old session ends (so that it never writes beside the new one)
            end = r.choice(["commit", "rollback", "close"])
            op = self.new_session()
            self.cur = op["s"]
            out = [{"op": end, "s": s}]
            if end != "close":
                out.append({"op": "close", "s": s})
            return out + [op]
        return []


def weighted(r, choices):
    total = sum(w for _, w in choices)
    x = r.random() * total
    for k, w in choices:
        x -= w
        if x < 0:
            return k
    return choices[-1][0]


def generate(seed, n_ops, exclude=()):
    g = Gen(seed, exclude)
    ops = []
    while len(ops) < n_ops:
        ops.extend(g.step())
    return ops[:n_ops]


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(generate(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 50), indent=1))
