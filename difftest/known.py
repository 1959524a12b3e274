"""Differences between lualchemy and SQLAlchemy 2.0.58 that the differential test knows of.

DELIBERATE: differences the API (docs/API.md) chooses on purpose. Each is
modelled in exactly one place (named here, referenced by name where it is applied) so that
nothing else is tolerated.

KNOWN_OPEN: divergences found by the test that are bugs still being fixed. Each names the
op kinds / generator features it excludes from the fixed CI seed set (gen.py --exclude);
remove the entry once the bug is fixed. Details and repros: docs/TESTING.md.
"""

DELIBERATE = {
    # API.md, "Session and unit of work" (line ~150): "after rollback, objects added in that
    # transaction are transient again with their generated keys cleared (a deliberate
    # difference from SQLAlchemy, which leaves the stale key on the object ...)".
    # Applied in sa_runner.py (contract_clear_generated_keys): after every step, a transient
    # object whose primary key SQLAlchemy left in its __dict__ loses it, as lualchemy does.
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
}

COLUMNS = {"Parent": ["id", "name", "score"], "Child": ["id", "parent_id", "label"],
           "Tag": ["id", "name"], "Node": ["id", "name", "parent_id"]}


def _update_of_expired_loads_first(sa, lua):
    """SQLAlchemy's flush loads every expired object it reads a key from. lualchemy does so
    for an object it UPDATEs or DELETEs and for the target of a many-to-one set (D4 fixed),
    not yet for the parent of a one-to-many or either side of a many-to-many link whose key
    the flush copies. Forgiven: SQLAlchemy has every column loaded, lualchemy a
    subset (its loaded values still compared)."""
    for h, lo in lua.get("objs", {}).items():
        so = sa.get("objs", {}).get(h)
        if not so or so["st"] not in ("persistent", "detached", "deleted") or lo["st"] != so["st"]:
            continue
        cols = [k for k in ("id", "name", "score", "parent_id", "label") if k in so["a"]]
        if not any(set(cols) == set(c) for c in COLUMNS.values()):
            continue
        missing = [k for k in cols if k not in lo["a"]]
        if missing:
            for k in missing:
                lo["a"][k] = so["a"][k]


def _delete_loads_relationships(sa, lua):
    """SQLAlchemy's flush of a DELETE loads the deleted object's relationships (Node.parent,
    Child.parent, Child.tags to delete the association rows); lualchemy leaves them
    unloaded. Forgiven: a relationship missing on the lualchemy side of a deleted or
    detached object."""
    for h, lo in lua.get("objs", {}).items():
        so = sa.get("objs", {}).get(h)
        if not so or so["st"] not in ("deleted", "detached") or lo["st"] != so["st"]:
            continue
        for k in ("parent", "children", "tags"):
            if k in so["a"] and k not in lo["a"]:
                lo["a"][k] = so["a"][k]


# name -> {"item": issue item or NEW, "exclude": generator features left out while it is
# open, "tolerate": a function (sa_obs, lua_obs) that edits the lua observation in place to
# forgive exactly this difference, or None}
KNOWN_OPEN = {
    "DELETE_LOADS_RELATIONSHIPS": {
        "item": "NEW (divergences.md D3)",
        "exclude": [],
        "tolerate": _delete_loads_relationships,
    },
    "SYNC_SOURCE_LOADS_FIRST": {
        "item": "NEW (divergences.md D4, remainder)",
        "exclude": [],
        "tolerate": _update_of_expired_loads_first,
    },
    # Item 2 is fixed for the relationships changed inside the savepoint; still open: the
    # object whose collection changed (through a backref) keeps its columns loaded, where
    # SQLAlchemy expires the whole object (divergences.md D5, seed 23 on --db memory).
    "SAVEPOINT_ROLLBACK_KEEPS_RELATIONSHIPS": {
        "item": "issue item 2 (divergences.md D5)",
        "exclude": ["nested_fail"],
        "tolerate": None,
    },
}


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
    return [KNOWN_OPEN[n]["tolerate"] for n in names if KNOWN_OPEN[n]["tolerate"]]
