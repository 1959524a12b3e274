"""Differences between lualchemy and SQLAlchemy 2.0.58 that the differential test knows of.

DELIBERATE: differences the API (docs/API.md) chooses on purpose. Each is
modelled in exactly one place (named here, referenced by name where it is applied) so that
nothing else is tolerated.

KNOWN_OPEN: divergences found by the test that are bugs still being fixed. Each names the
op kinds / generator features it excludes from the fixed CI seed set (gen.py --exclude);
remove the entry once the bug is fixed. Details and repros: docs/TESTING.md.
"""
import os

DELIBERATE = {
    # API.md, "Session and unit of work" (line ~150): "after rollback, objects added in that
    # transaction are transient again with their generated keys cleared (a deliberate
    # difference from SQLAlchemy, which leaves the stale key on the object ...)".
    # Applied in sa_runner.py (contract_clear_generated_keys): after every step, a transient
    # object whose primary key SQLAlchemy left in its __dict__ loses it, as lualchemy does;
    # and its "read" op reads nil for a key a rollback expired on a transient or pending
    # object, where SQLAlchemy raises "cannot be refreshed" (seeds 644, 1943).
    "KEY_CLEARED_AFTER_ROLLBACK": "API.md: keys of objects added in a rolled-back transaction are cleared",
    # docs/BEHAVIOUR.md, Relationships (line ~35): "Appending an object to a collection that
    # already holds it raises InvalidRequestError naming the collection. SQLAlchemy's plain
    # list would hold it twice". Applied in both runners' "append" op (APPEND_TWICE_RAISES):
    # an append of a member is not made and observed as the result "member" on both sides.
    "APPEND_TWICE_RAISES": "BEHAVIOUR.md: appending a member again raises",
    # docs/BEHAVIOUR.md, Engines (line ~38): "An in-memory database lets no one else read or
    # write while a session or connection has written and not yet committed" (memdb has one
    # lock for the whole database; SQLAlchemy runs on a WAL file, whose readers read).
    # Applied by exclusions() through DELIBERATE_EXCLUDE below: on --db memory the generator makes
    # no readers in other sessions / connections ("multi_session") and keeps none open
    # across the writer's commit ("linger"). (Issue item 1, the sessions' isolation, is
    # fixed and checked by these features on --db file.)
    "MEMORY_WRITER_LOCKS_READERS": "BEHAVIOUR.md: an in-memory database's writer locks out readers",
    # docs/BEHAVIOUR.md item 10: a flush whose DELETE matches no row raises StaleDataError
    # where SQLAlchemy warns ("DELETE statement on table ... expected to delete 1 row(s); 0
    # were matched") and goes on. Applied through DELIBERATE_WARNINGS: the comparison stops
    # at the step where SQLAlchemy warned so (the two sessions differ from there on by
    # design: one failed its flush). Reached when an object detached with the key of a row
    # a rollback took back is deleted (seeds 6 and 84 at 200 ops).
    "STALE_DELETE_RAISES": "BEHAVIOUR.md 10: a DELETE matching no row raises StaleDataError",
    # lualchemy's session holds the objects of its identity map (orm/session.rs) until they
    # leave it (expunge, close, a rollback); SQLAlchemy's identity map is weak, so an object
    # nothing else references (a member of a collection that a commit or rollback expired)
    # is forgotten, and a detached object of the same key can then be attached where
    # lualchemy raises "another instance with key ... is already present" (seeds 44, 180 at
    # 200 ops). Applied in sa_runner.py (contract_strong_identity_map): each session keeps a
    # reference to every object that becomes persistent in it, until it closes.
    "STRONG_IDENTITY_MAP": "BEHAVIOUR.md 17: a session holds the objects of its identity map",
    # docs/BEHAVIOUR.md item 2 (Relationships): a collection holds an object once. Where a
    # many-to-one's old value is unknown (expired, or detached by commit expiry), setting
    # it fires SQLAlchemy's backref append even when the collection already holds the
    # object, and its list then holds it twice; lualchemy's keeps one. Applied in
    # sa_runner.py (duplicate_member): the comparison stops at the step where SQLAlchemy's
    # collection first holds a duplicate (seeds 71, 81, 102, 117 at 200 ops).
    "COLLECTION_HOLDS_ONCE": "BEHAVIOUR.md 2: a collection holds an object once, also through a backref",
}

# SQLAlchemy warnings at which a DELIBERATE difference begins: the comparison stops there.
DELIBERATE_WARNINGS = {
    "expected to delete": "STALE_DELETE_RAISES",
}

# Generator features left out because of a DELIBERATE difference, always (not only with
# --exclude): name -> {"exclude": [...], "db": database it applies to}.
DELIBERATE_EXCLUDE = {
    "MEMORY_WRITER_LOCKS_READERS": {"exclude": ["multi_session", "linger"], "db": "memory"},
}


# Behaviours of SQLAlchemy (or pysqlite) under it that are not what it means to do; the
# runners avoid them, each in one named place.
ORACLE_QUIRKS = {
    # sa_runner.py Runner.__init__: pysqlite's own transaction handling (no BEGIN before a
    # SELECT, so a RELEASE SAVEPOINT outside a transaction commits) is replaced by
    # SQLAlchemy's documented recipe for SQLite: isolation_level=None and BEGIN emitted in
    # the "begin" event. Without it a released savepoint commits for good (seen: seed 24).
    "PYSQLITE_TRANSACTIONS": "SQLAlchemy docs, pysqlite: Serializable isolation / Savepoints",
    # both runners' "delete" op: session.delete() of an object already deleted (flushed) is
    # accepted by SQLAlchemy, whose next rollback() then raises InvalidRequestError
    # "Instance is not persisted"; the runners do not delete an object in the deleted state
    # (result "deleted").
    # Extended to an object whose deletion was flushed and committed (was_deleted): SQLAlchemy
    # attaches it again in the deleted state and its next flush DELETEs no row (a warning;
    # lualchemy raises StaleDataError, docs/BEHAVIOUR.md).
    "DELETE_OF_DELETED": "SQLAlchemy 2.0.58: delete() twice, flush between, breaks rollback()",
    # sa_runner.py oracle_reset_stale_deleted: an object inserted and deleted in one
    # transaction and made transient by the rollback keeps its deleted flag; inserted again,
    # SQLAlchemy reports it deleted while its row exists. Reset, as make_transient() does.
    "STALE_DELETED_FLAG": "SQLAlchemy 2.0.58: a rolled-back insert+delete leaves state._deleted set",
    # known.py _m2o_loaded_for_first_deleted_state (ORACLE_TOLERANCES): a flush that deletes
    # objects asks each many-to-one's dependency processor whether it has changes
    # (DependencyProcessor.prop_has_changes); for deleted objects that reads the
    # many-to-one's history with PASSIVE_NO_FETCH_RELATED, which puts the object of the
    # identity map into the attribute, and it stops at the first object whose history is
    # not empty, in the iteration order of a set of InstanceState objects (memory
    # addresses). Which deleted objects end up with the reference loaded is therefore
    # arbitrary; lualchemy loads it (without SQL) for the first deleted object whose
    # history is not empty, in the order of deletion (orm/dependency.rs load_for_deletes):
    # one of SQLAlchemy's answers.
    "M2O_HISTORY_OF_FIRST_DELETED_STATE": "SQLAlchemy 2.0.58: prop_has_changes stops at the first state, in set order",
    # sa_runner.py "close" op: an object whose deletion was flushed reports `deleted` after
    # close() for as long as the closed Session object lives (its state keeps the session's
    # id, and `_attached` looks the id up among live sessions), then `detached`. A Session
    # is freed by CPython's cyclic collector, so when that happens is arbitrary; the runner
    # collects right after dropping the closed session, as a program that closes a session
    # and lets it go sees. lualchemy's close() detaches such objects at once.
    "SESSION_LIFETIME": "SQLAlchemy 2.0.58: deleted objects stay deleted while the closed session lives",
}

# Errors that are SQLAlchemy failing its own internal checks, not an answer about the ORM's
# semantics: run.py compares a sequence up to the step where SQLAlchemy raised one and stops
# there (the summary line counts such seeds).
ORACLE_ERRORS = {
    # attributes.py CollectionAttributeImpl.get_history: `assert self.key not in
    # state._pending_mutations`, reached when a flush reads the history of a collection that
    # holds pending mutations of an object a rollback made transient (seen: seed 4 at 200
    # ops, docs/TESTING.md).
    "AssertionError": "SQLAlchemy 2.0.58: assert in CollectionAttributeImpl.get_history",
    # attributes.py CollectionAttributeImpl.set_committed_value: loading a collection replays
    # the appends and removals recorded while it was unloaded (state._pending_mutations), and
    # list.remove() raises ValueError for a recorded removal of an object the loaded rows do
    # not hold (removed through a backref while unloaded, its row's key changed or gone
    # since). The load fails and the removal stays recorded; SQLAlchemy does not mean to
    # answer so (seen: seed 1204 at 200 ops). Named by oracle_error() below.
    "ValueError in CollectionAttributeImpl.set_committed_value":
        "SQLAlchemy 2.0.58: a pending removal of an object the loaded collection does not hold",
    # persistence.py delete_obj binding LoaderCallableStatus.NO_VALUE as a primary key: a
    # parent a rollback made transient keeps its collection's committed state, so when it is
    # added again the delete-orphan rule reads a member removed before the rollback as a
    # removal and registers that member (pending, transient again after the same rollback)
    # for a DELETE. SQLAlchemy alone sends `DELETE ... WHERE id = <the key the rolled-back
    # INSERT gave it>`, a row that is not there, and leaves the object pending; the contract
    # cleared that key (KEY_CLEARED_AFTER_ROLLBACK, sa_runner.py), so SQLAlchemy binds its
    # NO_VALUE sentinel and the driver refuses it. lualchemy drops the pending orphan (seed
    # 1635 at 200 ops, memory). Named by oracle_error() below.
    "ProgrammingError binding NO_VALUE":
        "SQLAlchemy 2.0.58: a DELETE of a pending object by a key the contract cleared",
    # session.py SessionTransaction._restore_snapshot: the rollback of a failed flush reverts
    # every deletion of the session (`_update_impl(revert_deletion=True)`), and raises
    # "Instance ... is not persisted" for one whose row the failed flush found gone (its
    # refresh took the key away): an object whose DELETE was flushed, marked again by a
    # delete cascade, then expired. The rollback stops midway and that error replaces the
    # flush's own (ObjectDeletedError, lualchemy's answer); SQLAlchemy does not mean to
    # answer so (seed 4284 at 200 ops, memory; difftest/open/seed4284.json). Named by
    # oracle_error() below.
    "InvalidRequestError in _restore_snapshot":
        "SQLAlchemy 2.0.58: the rollback of a failed flush fails on a deletion it reverts",
}

# Steps at which SQLAlchemy's answer is one of several it gives by chance (sa_runner.py sets
# the step's "oracle_stop"): where lualchemy's objects differ from SQLAlchemy's at such a
# step (and nothing else does: the error raised, results), the comparison stops there, as
# for ORACLE_ERRORS; where they agree, it goes on.
ORACLE_ARBITRARY = {
    # unitofwork.py UOWTransaction.execute: with cycles among its actions (a
    # self-referential mapper with rows in the flush) SQLAlchemy executes each subset of
    # its topological sort by popping a set of actions, in the order of their memory
    # addresses. A flush that succeeds ends the same whatever that order; one that fails
    # midway (a constraint, a circular dependency) has run an arbitrary part of the
    # cycle's key copies and statements, and the objects keep those copies after the
    # rollback (seeds 307, 456, 575 at 200 ops: a foreign key copied to a transient object
    # or not). lualchemy runs them in one fixed order. Applied in sa_runner.py
    # (_execute_noting_cycles). Where lualchemy's order meets first a DELETE that matches
    # no row (STALE_DELETE_RAISES: lualchemy raises, SQLAlchemy would warn and stop the
    # comparison there) the comparison stops too, whatever the errors (run.py
    # first_divergence; seed 1689 at 200 ops: SQLAlchemy's order failed first on another
    # table's DELETE).
    "CYCLE_FLUSH_FAILED": "SQLAlchemy 2.0.58: a failed flush with cycles ran its actions in set order",
}


def oracle_error(e):
    """The ORACLE_ERRORS name of exception `e` raised by SQLAlchemy, or None: the errors that
    are not named by their type alone (a ValueError is also an answer SQLAlchemy means to
    give), by where they were raised."""
    import traceback
    if isinstance(e, ValueError):
        frames = [(os.path.basename(f.filename), f.name) for f in traceback.extract_tb(e.__traceback__)]
        if ("attributes.py", "set_committed_value") in frames and \
                frames[-1][1] == "remove" and "not in list" in str(e):
            return "ValueError in CollectionAttributeImpl.set_committed_value"
    if type(e).__name__ == "ProgrammingError" and "type 'LoaderCallableStatus'" in str(e):
        return "ProgrammingError binding NO_VALUE"
    if type(e).__name__ == "InvalidRequestError" and "is not persisted" in str(e):
        frames = [(os.path.basename(f.filename), f.name) for f in traceback.extract_tb(e.__traceback__)]
        if ("session.py", "_restore_snapshot") in frames and ("session.py", "_update_impl") in frames:
            return "InvalidRequestError in _restore_snapshot"
    return None

# Warnings with which SQLAlchemy says the session is in a state it does not support; the
# comparison stops at the step that emitted one, as for ORACLE_ERRORS.
ORACLE_WARNINGS = [
    # session.py _register_persistent: a flush inserted a row whose key an object of the
    # identity map still holds (SQLite reused the id of a row a rollback took back, the old
    # object detached by close() and attached again with it). SQLAlchemy replaces it in the
    # identity map and the old object is left half-attached: it reports persistent, but its
    # changes are never flushed, and expiry, close() and commit() pass it by. lualchemy
    # detaches it (docs/BEHAVIOUR.md). SQLAlchemy warns only when the old object's key
    # attribute is loaded; sa_runner.py's half_attached() finds the other cases (an object
    # that reports persistent and is not in its session's identity map).
    "Identity map already had an identity for",
    # session.py _restore_snapshot after a flush that failed as it registered the objects
    # it inserted (a parent's expired key loaded, its row gone: ObjectDeletedError, seed
    # 9833 at 200 ops): the objects it inserted are made transient (no key) but its
    # identity map still holds them, and the rollback's expiry of the identity map then
    # expires them whole; SQLAlchemy's answer for them is not one it means to give (they
    # report transient and are in the session). sa_runner.py's transient_held() names the
    # step "transient in identity map"; the comparison stops there. lualchemy leaves them
    # transient with their values.
]

def _m2o_loaded_for_first_deleted_state(sa, lua):
    """ORACLE_QUIRKS M2O_HISTORY_OF_FIRST_DELETED_STATE: a many-to-one of a deleted (or, after
    the commit, detached) object is loaded on one side only. Forgiven both ways for
    Child.parent and Node.parent; where both sides loaded it, the values still compare."""
    for h, lo in lua.get("objs", {}).items():
        so = sa.get("objs", {}).get(h)
        if not so or so["st"] not in ("deleted", "detached") or lo["st"] != so["st"]:
            continue
        if "parent" in so["a"] and "parent" not in lo["a"]:
            lo["a"]["parent"] = so["a"]["parent"]
        elif "parent" in lo["a"] and "parent" not in so["a"]:
            del lo["a"]["parent"]
    _m2o_loaded_before_failed_flush(sa, lua)


_RESTORED = set()   # (seed, handle) whose reference the tolerance below forgives


def _m2o_loaded_before_failed_flush(sa, lua):
    """The same quirk on the objects a failed flush deleted and its rollback made persistent
    again (the savepoint's, which expires only the objects the program changed): each side
    loaded the many-to-one for one of them (SQLAlchemy the first in set order, lualchemy the
    first deleted). Forgiven where a step raised and an object persistent before and after
    it holds the reference loaded on one side only, and at the following steps for that
    object while it stays so (a rollback making it transient keeps the reference on both
    sides; forgiving ends when both sides hold it or neither does)."""
    seed = sa.get("seed")
    for h, lo in lua.get("objs", {}).items():
        so = sa.get("objs", {}).get(h)
        key = (seed, h)
        one_sided = so and lo["st"] == so["st"] and (("parent" in lo["a"]) != ("parent" in so["a"]))
        if not one_sided:
            _RESTORED.discard(key)
        elif key in _RESTORED or (sa.get("err") and so["st"] == "persistent"):
            _RESTORED.add(key)
            if "parent" in lo["a"]:
                del lo["a"]["parent"]
            else:
                lo["a"]["parent"] = so["a"]["parent"]


# applied to every comparison (the quirks are SQLAlchemy's, whatever the generator makes)
ORACLE_TOLERANCES = [_m2o_loaded_for_first_deleted_state]


# name -> {"item": issue item or NEW, "exclude": generator features left out while it is
# open, "tolerate": a function (sa_obs, lua_obs) that edits the lua observation in place to
# forgive exactly this difference, or None}
KNOWN_OPEN = {}


def exclusions(names, db):
    out = set()
    for d in DELIBERATE_EXCLUDE.values():
        if d["db"] == db:
            out.update(d["exclude"])
    for n in names:
        if KNOWN_OPEN[n].get("db", db) == db:
            out.update(KNOWN_OPEN[n]["exclude"])
    return out


def tolerances(names):
    return ORACLE_TOLERANCES + [KNOWN_OPEN[n]["tolerate"] for n in names
                                if KNOWN_OPEN[n]["tolerate"]]
