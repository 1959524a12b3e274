"""Runs op lists (gen.py) through SQLAlchemy 2.0 and prints one JSON observation per step.

Input: a JSON file {"db": "file", "dir": DIR, "cases": [{"seed": N, "ops": [...]}, ...]}.
Output (stdout): one JSON line per step {"seed", "i", "err", "res", "objs"} and one line per
case {"seed", "i": "final", "tables"}. The observation shape is documented in
docs/TESTING.md and produced identically by lua_runner.lua.
"""
import gc
import json
import os
import sqlite3
import sys
import warnings

import known

from sqlalchemy import (Column, ForeignKey, Integer, String, Table, create_engine, delete,
                        event, func, insert, inspect, select, update)
from sqlalchemy.orm import Session, declarative_base, relationship
from sqlalchemy.orm import attributes, unitofwork
from sqlalchemy.orm.attributes import flag_modified

# known.py ORACLE_ARBITRARY "CYCLE_FLUSH_FAILED": a flush whose unit of work found cycles runs
# each subset of its sort in the order of a set (memory addresses); when it fails midway,
# which of the cycle's actions already ran (key copies, rows written) is arbitrary.
_uow_execute = unitofwork.UOWTransaction.execute
CYCLE_FLUSH_FAILED = [False]


def _execute_noting_cycles(self):
    try:
        return _uow_execute(self)
    except Exception:
        if getattr(self, "cycles", None):
            CYCLE_FLUSH_FAILED[0] = True
        raise


unitofwork.UOWTransaction.execute = _execute_noting_cycles

# known.py COLLECTION_HOLDS_ONCE: a collection that loads with pending appends of the other
# side puts them on the rows as they are (set_committed_value), so one whose row is already
# among them is held twice, even if the same step then removes one (seed 980: a remove
# loads the list, then drops one of the two); noted here, the end of the step may not see it
_set_committed_value = attributes.CollectionAttributeImpl.set_committed_value
DUPLICATE_LOADED = [False]


def _set_committed_value_noting_duplicates(self, state, dict_, value):
    coll = _set_committed_value(self, state, dict_, value)
    if len(set(map(id, coll))) != len(coll):
        DUPLICATE_LOADED[0] = True
    return coll


attributes.CollectionAttributeImpl.set_committed_value = _set_committed_value_noting_duplicates

# and a backref's append to a loaded collection that holds the object already, which a later
# removal within the same step can undo before the step's end looks (seed 7214)
_collection_append = attributes.CollectionAttributeImpl.append


def _append_noting_duplicates(self, state, dict_, value, initiator, passive=attributes.PASSIVE_OFF):
    held = self.key in dict_ and any(x is value for x in dict_[self.key])
    _collection_append(self, state, dict_, value, initiator, passive)
    if held:
        DUPLICATE_LOADED[0] = True


attributes.CollectionAttributeImpl.append = _append_noting_duplicates

# known.py ORACLE_WARNINGS "identity replaced" (BEHAVIOUR 14): a flush registering a row whose
# key an object of the identity map holds replaces that object, warning only when the old
# one's key is loaded; an expired one (SQLite gave its rolled-back id to the new row) is
# replaced silently and, marked deleted, taken back by a savepoint's rollback (seed 7431)
from sqlalchemy.orm import identity as _identity, session as _session
_register_persistent = _session.Session._register_persistent
_replace = _identity.WeakInstanceDict.replace
IDENTITY_REPLACED = [False]
_REGISTERING = [False]


def _register_persistent_noting(self, states):
    _REGISTERING[0] = True
    try:
        return _register_persistent(self, states)
    finally:
        _REGISTERING[0] = False


def _replace_noting(self, state):
    old = _replace(self, state)
    if _REGISTERING[0] and old is not None and old is not state and old.obj() is not None:
        IDENTITY_REPLACED[0] = True
    return old


_session.Session._register_persistent = _register_persistent_noting
_identity.WeakInstanceDict.replace = _replace_noting

Base = declarative_base()

child_tag = Table(
    "child_tag", Base.metadata,
    Column("child_id", Integer, ForeignKey("children.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id"), primary_key=True),
)


class Parent(Base):
    __tablename__ = "parents"
    id = Column(Integer, primary_key=True)
    name = Column(String(30), unique=True, nullable=False)
    score = Column(Integer)
    children = relationship("Child", back_populates="parent", cascade="all, delete-orphan",
                            order_by="Child.id")


class Child(Base):
    __tablename__ = "children"
    id = Column(Integer, primary_key=True)
    parent_id = Column(Integer, ForeignKey("parents.id"))
    label = Column(String(30), nullable=False)
    parent = relationship("Parent", back_populates="children")
    tags = relationship("Tag", secondary=child_tag, back_populates="children", order_by="Tag.id")


class Tag(Base):
    __tablename__ = "tags"
    id = Column(Integer, primary_key=True)
    name = Column(String(30), nullable=False)
    children = relationship("Child", secondary=child_tag, back_populates="tags",
                            order_by="Child.id")


class Node(Base):
    __tablename__ = "nodes"
    id = Column(Integer, primary_key=True)
    name = Column(String(30))
    parent_id = Column(Integer, ForeignKey("nodes.id"))
    parent = relationship("Node", remote_side=[id], back_populates="children")
    children = relationship("Node", back_populates="parent", order_by="Node.id")


CLASSES = {"Parent": Parent, "Child": Child, "Tag": Tag, "Node": Node}

TABLES = ["parents", "children", "tags", "child_tag", "nodes"]
COLS = {"Parent": ["id", "name", "score"], "Child": ["id", "parent_id", "label"],
        "Tag": ["id", "name"], "Node": ["id", "name", "parent_id"]}
RELS = {"Parent": {"children": True}, "Child": {"parent": False, "tags": True},
        "Tag": {"children": True}, "Node": {"parent": False, "children": True}}


# --events (run.py): the session events compared, in the order fired
EVENTS = bool(os.environ.get("DIFFTEST_EVENTS"))
SESSION_EVENTS = ["after_begin", "before_commit", "after_commit", "after_rollback",
                  "before_flush", "after_flush", "after_flush_postexec"]


class Boom(Exception):
    """The error a failing nested block raises."""


class Skip(Exception):
    pass


def err_kind(e):
    if isinstance(e, Boom):
        return "Boom"
    return known.oracle_error(e) or type(e).__name__


class Runner:
    def __init__(self, path):
        self.path = path
        self.engine = create_engine("sqlite:///" + path, connect_args={"timeout": 1})

        # pysqlite's own transaction handling breaks SAVEPOINT (a RELEASE outside its BEGIN
        # commits) and reads outside transactions: SQLAlchemy's documented remedy for SQLite
        # (disable pysqlite's, emit BEGIN from the "begin" event) makes each session one
        # real transaction, as lualchemy's are; WAL and foreign keys as lualchemy sets them
        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn, rec):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")

        Base.metadata.create_all(self.engine)
        if os.environ.get("DIFFTEST_ECHO"):
            # every statement on stderr (the observations go to stdout)
            @event.listens_for(self.engine, "before_cursor_execute")
            def _echo(conn, cursor, statement, parameters, context, executemany):
                sys.stderr.write("sa:  %s  %r\n" % (statement, parameters))
        self.h = {}     # handle -> object
        self.rev = {}   # id(object) -> handle
        self.s = {}     # session number -> Session
        self.events = []  # --events: what the current step fired

    # -- handles -------------------------------------------------------------------------
    def obj(self, h):
        if h is None:
            return None
        if h not in self.h:
            raise Skip()
        return self.h[h]

    def bind(self, h0, objs):
        """Binds the objects not yet bound to handles h0, h0+1, ... in order."""
        n = 0
        for o in objs:
            if id(o) not in self.rev and h0 is not None and n < 3:
                self.h[h0 + n] = o
                self.rev[id(o)] = h0 + n
                n += 1

    def ref(self, o):
        if o is None:
            return None
        if id(o) in self.rev:
            return "h%d" % self.rev[id(o)]
        ident = inspect(o).identity
        return "%s:%s" % (type(o).__name__, ident[0] if ident else "?")

    def sess(self, n):
        if n not in self.s:
            raise Skip()
        return self.s[n]

    # -- observation -------------------------------------------------------------------
    def observe(self):
        out = {}
        for h, o in self.h.items():
            st = inspect(o)
            state = ("transient" if st.transient else "pending" if st.pending else
                     "persistent" if st.persistent else "deleted" if st.deleted else "detached")
            cls = type(o).__name__
            d = st.dict
            a = {}
            exp = st.expired_attributes
            new = state in ("transient", "pending")
            for k in COLS[cls]:
                if k in d:
                    # a new object's None equals an unset column (no column has a default)
                    if not (new and d[k] is None):
                        a[k] = d[k]
                elif st.has_identity and k not in exp:
                    # a column an INSERT did not name: SQLAlchemy leaves it out of __dict__
                    # but reads it as None without loading, which is lualchemy's loaded nil
                    a[k] = None
            for k, many in RELS[cls].items():
                if k in d:
                    v = d[k]
                    a[k] = sorted(self.ref(x) for x in v) if many else self.ref(v)
            out["h%d" % h] = {"st": state, "id": list(st.identity) if st.identity else None, "a": a}
        return out

    def half_attached(self):
        """known.py ORACLE_WARNINGS: an object that reports persistent but that its session's
        identity map no longer holds (a flush replaced it there; SQLAlchemy warns only when
        the old object's key attribute is loaded)."""
        for o in self.h.values():
            st = inspect(o)
            if st.persistent and not st.session.identity_map.contains_state(st):
                return True
        return False

    def transient_held(self):
        """known.py ORACLE_WARNINGS "transient in identity map": an object that reports
        transient (no key) that a session's identity map still holds: a flush that failed
        as it registered the objects it inserted (a parent's key load finding its row gone,
        seed 9833) leaves them there after the rollback made them transient, and the
        rollback's expiry of the identity map then expires them whole."""
        held = set()
        for sess in self.s.values():
            held.update(id(st) for st in sess.identity_map.all_states() if st.key is None)
        return any(id(inspect(o)) in held for o in self.h.values())

    def duplicate_member(self):
        """known.py COLLECTION_HOLDS_ONCE: a loaded collection that holds one object twice
        (a backref appended it again where the old reference was unknown)."""
        for o in self.h.values():
            d = inspect(o).dict
            for k, many in RELS[type(o).__name__].items():
                if many and k in d and len(set(map(id, d[k]))) != len(d[k]):
                    return True
        return False

    # -- deliberate differences (known.py DELIBERATE) ---------------------------------
    def contract_clear_generated_keys(self):
        """KEY_CLEARED_AFTER_ROLLBACK: an object a rollback made transient again has its
        generated key cleared in lualchemy (API.md, Session and unit of work)."""
        cleared = set()
        for o in self.h.values():
            st = inspect(o)
            if st.transient and "id" in st.dict:
                del st.dict["id"]
                cleared.add(id(o))
        # the foreign key a transient object copied from a key cleared here is stale:
        # lualchemy counts its many-to-one as changed (its original unknown), so the next
        # flush copies the new key. An original recorded as that very object (set again to
        # what it held) would read as no change: it becomes unknown too (seed 1141)
        for o in self.h.values():
            st = inspect(o)
            if not st.transient or "parent" not in st.dict:
                continue
            t = st.dict["parent"]
            if t is None or id(t) not in cleared:
                continue
            if st.committed_state.get("parent", attributes.NO_VALUE) is t:
                del st.committed_state["parent"]
            if "parent" not in st.committed_state:
                flag_modified(o, "parent")

    def contract_strong_identity_map(self, sess):
        """known.py DELIBERATE STRONG_IDENTITY_MAP: lualchemy's session holds the objects of
        its identity map until they leave it; SQLAlchemy's holds them weakly and forgets an
        object nothing else references (a member of a collection that expired). The session
        keeps a reference to each object that becomes persistent in it, dropped when it
        closes."""
        held = sess.info.setdefault("strong", [])

        def hold(session, instance):
            held.append(instance)
        for name in ("pending_to_persistent", "detached_to_persistent",
                     "loaded_as_persistent", "deleted_to_persistent"):
            event.listen(sess, name, hold)

    def oracle_reset_stale_deleted(self):
        """known.py ORACLE_QUIRKS STALE_DELETED_FLAG: an object inserted and deleted in one
        transaction that a rollback made transient keeps SQLAlchemy's deleted flag, so that
        once inserted again it reports deleted (and add() refuses it) while its row exists;
        the flag is reset here, as make_transient() would."""
        for o in self.h.values():
            st = inspect(o)
            if st.key is None and st.was_deleted:
                del st._deleted

    def record_events(self, sess, n):
        """--events: the session events each step fires, as "s<n> <name>"."""
        for name in SESSION_EVENTS:
            event.listen(sess, name, (lambda name: lambda *a, **kw:
                                      self.events.append("s%d %s" % (n, name)))(name))

    # -- ops ---------------------------------------------------------------------------
    def run_op(self, op):
        k = op["op"]
        if k == "session":
            sess = Session(self.engine, expire_on_commit=op["expire_on_commit"],
                           autoflush=op["autoflush"])
            self.contract_strong_identity_map(sess)
            if EVENTS:
                self.record_events(sess, op["s"])
            self.s[op["s"]] = sess
            return None
        if k == "new":
            cls = CLASSES[op["cls"]]
            parent = self.obj(op["parent"]) if "parent" in op else None
            s = self.sess(op["s"]) if "s" in op else None
            # the constructor gets the non-null values; nulls are set after, in key order,
            # then the parent (as lua_runner.lua does: a Lua table cannot hold nil)
            o = cls(**{k: v for k, v in op["vals"].items() if v is not None})
            for key in sorted(op["vals"]):
                if op["vals"][key] is None:
                    setattr(o, key, None)
            if parent is not None:
                o.parent = parent
            self.h[op["h"]] = o
            self.rev[id(o)] = op["h"]
            if s is not None:
                s.add(o)
            return None
        if k == "add":
            self.sess(op["s"]).add(self.obj(op["h"]))
            return None
        if k == "delete":
            s, o = self.sess(op["s"]), self.obj(op["h"])
            if inspect(o).deleted or inspect(o).was_deleted:
                return "deleted"   # known.py ORACLE_QUIRKS DELETE_OF_DELETED
            s.delete(o)
            return None
        if k == "set":
            setattr(self.obj(op["h"]), op["attr"], op["val"])
            return None
        if k in ("append", "remove"):
            p, c = self.obj(op["h"]), self.obj(op["t"])
            coll = getattr(p, op["rel"])
            if k == "remove" and c not in coll:
                return "absent"
            if k == "append" and c in coll:
                return "member"   # known.py DELIBERATE APPEND_TWICE_RAISES
            getattr(coll, k)(c)
            return None
        if k == "setref":
            setattr(self.obj(op["h"]), op["rel"], self.obj(op["t"]))
            return None
        if k == "read":
            o = self.obj(op["h"])
            st = inspect(o)
            if op["attr"] == "id" and (st.transient or st.pending) and "id" not in st.dict:
                # KEY_CLEARED_AFTER_ROLLBACK: the key a rollback cleared reads as nil in
                # lualchemy, also where SQLAlchemy expired it (it raises there: no session
                # to load it from; the other expired attributes raise on both sides), and
                # still once the object is added again, until its INSERT (SQLAlchemy raises
                # "cannot be refreshed", as for its other expired attributes: seed 644)
                return None
            v = getattr(o, op["attr"])
            if op["attr"] in ("children", "tags"):
                v = list(v)
                self.bind(op.get("h0"), v)
                return [self.ref(x) for x in v]
            if op["attr"] == "parent":
                self.bind(op.get("h0"), [v] if v is not None else [])
                return self.ref(v)
            return v
        if k == "expire":
            self.sess(op["s"]).expire(self.obj(op["h"]), op.get("attrs"))
            return None
        if k == "refresh":
            self.sess(op["s"]).refresh(self.obj(op["h"]))
            return None
        if k in ("expire_all", "flush", "commit", "rollback"):
            getattr(self.sess(op["s"]), k)()
            return None
        if k == "close":
            self.sess(op["s"]).close()
            del self.s[op["s"]]
            # known.py ORACLE_QUIRKS SESSION_LIFETIME: the closed session is gone now
            gc.collect()
            return None
        if k == "nested":
            s = self.sess(op["s"])
            inner = []
            with s.begin_nested():
                for o in op["ops"]:
                    try:
                        self.run_op(o)
                        inner.append(None)
                    except Skip:
                        inner.append("skip")
                if op["fail"]:
                    raise Boom()
            return inner
        if k == "get":
            s = self.sess(op["s"])
            o = s.get(CLASSES[op["cls"]], op["id"])
            if o is not None and id(o) not in self.rev:
                self.h[op["h"]] = o
                self.rev[id(o)] = op["h"]
            return self.ref(o)
        if k == "query":
            return self.query(self.sess(op["s"]), op)
        if k == "bulk_update":
            s = self.sess(op["s"])
            val = op["val"]
            v = {"const": lambda: val[1], "plus": lambda: Parent.score + 1,
                 "null": lambda: None}[val[0]]()
            stmt = update(Parent).where(self.where(op["where"])).values(score=v)
            r = s.execute(stmt, execution_options={"synchronize_session": op["sync"]})
            return r.rowcount
        if k == "bulk_delete":
            s = self.sess(op["s"])
            stmt = delete(CLASSES[op["cls"]]).where(self.where(op["where"]))
            r = s.execute(stmt, execution_options={"synchronize_session": op["sync"]})
            return r.rowcount
        if k == "core":
            return self.core(self.sess(op["s"]), op)
        if k == "conn_count":
            with self.engine.connect() as c:
                return c.exec_driver_sql("SELECT count(*) FROM " + op["table"]).scalar()
        raise ValueError("unknown op " + k)

    def core(self, s, op):
        """A Core statement on the plain tables (no ORM attribute in it)."""
        parents, children = Parent.__table__, Child.__table__
        kind = op["stmt"]
        if kind == "count":
            t = parents if op["table"] == "parents" else children
            stmt = select(func.count()).select_from(t)
            if "label" in op:
                stmt = stmt.where(children.c.label == op["label"])
            return s.execute(stmt).scalar()
        if kind == "sum":
            return s.execute(select(func.sum(parents.c.score))).scalar()
        if kind == "update":
            stmt = update(parents).where(parents.c.score > op["arg"]).values(score=op["val"])
            return s.execute(stmt).rowcount
        if kind == "delete":
            return s.execute(delete(children).where(children.c.label == op["label"])).rowcount
        if kind == "insert":
            return s.execute(insert(children), [{"label": x} for x in op["labels"]]).rowcount
        raise ValueError(kind)

    def where(self, w):
        if w[0] == "score_gt":
            return Parent.score > w[1]
        if w[0] == "name_in":
            return Parent.name.in_(w[1])
        if w[0] == "label_eq":
            return Child.label == w[1]
        raise ValueError(w[0])

    def query(self, s, op):
        q, arg = op["q"], op.get("arg")
        if q == "parents_score":
            objs = s.scalars(select(Parent).where(Parent.score >= arg).order_by(Parent.id)).all()
        elif q == "children_of":
            objs = s.scalars(select(Child).join(Child.parent).where(Parent.name == arg)
                             .order_by(Child.id)).all()
        elif q == "top_parents":
            objs = s.scalars(select(Parent).order_by(Parent.name.desc()).limit(arg)).all()
        elif q == "parents_with_label":
            objs = s.scalars(select(Parent).where(Parent.children.any(Child.label == arg))
                             .order_by(Parent.id)).all()
        elif q == "root_nodes":
            objs = s.scalars(select(Node).where(Node.parent_id.is_(None)).order_by(Node.id)).all()
        elif q == "count_children":
            return s.scalar(select(func.count()).select_from(Child))
        elif q == "group_children":
            rows = s.execute(select(Child.parent_id, func.count(Child.id))
                             .group_by(Child.parent_id).order_by(Child.parent_id)).all()
            return [list(r) for r in rows]
        elif q == "sum_score":
            return s.scalar(select(func.sum(Parent.score)))
        elif q == "tags_of":
            return s.scalars(select(Tag.name).join(Tag.children).where(Child.label == arg)
                             .order_by(Tag.name)).all()
        elif q == "name_of":
            return s.scalar(select(Parent.score).where(Parent.name == arg))
        else:
            raise ValueError(q)
        self.bind(op.get("h0"), objs)
        return [self.ref(o) for o in objs]

    def finish(self):
        for n in sorted(self.s):
            try:
                self.s[n].close()
            except Exception:
                pass
        self.s.clear()
        self.engine.dispose()
        c = sqlite3.connect(self.path)
        tables = {}
        for t in TABLES:
            tables[t] = [list(r) for r in c.execute("SELECT * FROM %s ORDER BY 1, 2" % t)]
        c.close()
        return tables


def run_case(case, directory, emit):
    seed = case["seed"]
    path = os.path.join(directory, "sa_%s.db" % seed)
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    r = Runner(path)
    for i, op in enumerate(case["ops"]):
        if os.environ.get("DIFFTEST_ECHO"):
            sys.stderr.write("sa:  -- step %d %s\n" % (i, op["op"]))
        err, res = None, None
        CYCLE_FLUSH_FAILED[0] = False
        DUPLICATE_LOADED[0] = False
        IDENTITY_REPLACED[0] = False
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                res = r.run_op(op)
            except Skip:
                res = "skip"
            except Exception as e:  # every error is an observation
                err = err_kind(e)
                if os.environ.get("DIFFTEST_ECHO"):
                    sys.stderr.write("sa:  -- error %s: %s\n" % (err, (str(e).splitlines() or [""])[0]))
        r.contract_clear_generated_keys()
        r.oracle_reset_stale_deleted()
        obs = {"seed": seed, "i": i, "err": err, "res": res, "objs": r.observe()}
        if EVENTS:
            obs["ev"] = r.events
            r.events = []
        messages = [str(x.message) for x in seen]
        stop = [w for w in known.ORACLE_WARNINGS if any(w in m for m in messages)]
        deliberate = [n for w, n in known.DELIBERATE_WARNINGS.items()
                      if any(w in m for m in messages)]
        if stop or r.half_attached() or IDENTITY_REPLACED[0]:
            obs["oracle_stop"] = "identity replaced"
        elif r.transient_held():
            obs["oracle_stop"] = "transient in identity map"
        elif deliberate:
            obs["oracle_stop"] = deliberate[0]
        elif r.duplicate_member() or DUPLICATE_LOADED[0]:
            obs["oracle_stop"] = "COLLECTION_HOLDS_ONCE"
        elif err and CYCLE_FLUSH_FAILED[0]:
            obs["oracle_stop"] = "CYCLE_FLUSH_FAILED"
        emit(obs)
    emit({"seed": seed, "i": "final", "tables": r.finish()})
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def main():
    warnings.simplefilter("ignore")
    # run.py's reruns shift where objects land in memory (SQLAlchemy's set order follows it)
    pad = [object() for _ in range(37 * int(os.environ.get("DIFFTEST_PAD", "0")))]
    with open(sys.argv[1]) as f:
        job = json.load(f)
    out = sys.stdout

    def emit(o):
        out.write(json.dumps(o, sort_keys=True, default=str))
        out.write("\n")

    for case in job["cases"]:
        run_case(case, job["dir"], emit)
    out.flush()
    del pad


if __name__ == "__main__":
    main()
