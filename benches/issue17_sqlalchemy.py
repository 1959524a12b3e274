"""Issue 17's measured workloads on SQLAlchemy 2.0 (benches/issue17.lua does the same).

usage: python3 benches/issue17_sqlalchemy.py [scale] [U,H]
"""
import gc
import sys
import time
from typing import Optional

from sqlalchemy import String, create_engine, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ONLY = sys.argv[2] if len(sys.argv) > 2 else "U,H"
N = int(100000 * SCALE)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(50), unique=True)
    value: Mapped[Optional[str]] = mapped_column(String(50))


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    hp: Mapped[Optional[int]]
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "unit"}


class Archer(Unit):
    range: Mapped[Optional[int]] = mapped_column(nullable=True)
    __mapper_args__ = {"polymorphic_identity": "archer"}


class Knight(Unit):
    armor: Mapped[Optional[int]] = mapped_column(nullable=True)
    __mapper_args__ = {"polymorphic_identity": "knight"}


def run(name, label, setup, body):
    if name not in ONLY:
        return
    state = setup()
    gc.collect()
    t0 = time.process_time()
    rows = body(state)
    dt = time.process_time() - t0
    print("%s %s rows=%d seconds=%.4f" % (name, label, rows, dt))


def upsert_setup():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.execute(insert(Setting), [{"key": "k%d" % i, "value": "old"} for i in range(1, N // 2 + 1)])
        s.commit()
    rows = [{"key": "k%d" % (N // 4 + i), "value": "v%d" % i} for i in range(1, N + 1)]
    return engine, rows


def upsert_body(st):
    engine, rows = st
    with Session(engine) as s:
        stmt = sqlite_insert(Setting)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
        s.execute(stmt, rows)
        s.commit()
        n = s.scalar(select(func.count()).select_from(Setting))
    assert n == N // 4 + N, n
    return len(rows)


def hierarchy_setup():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    kinds = ["unit", "archer", "knight"]
    seed = []
    for i in range(1, N + 1):
        k = kinds[i % 3]
        seed.append({"name": "u%d" % i, "kind": k, "hp": i % 100,
                     "range": i % 50 if k == "archer" else None,
                     "armor": i % 7 if k == "knight" else None})
    with Session(engine) as s:
        s.execute(insert(Unit.__table__), seed)
        s.commit()
    return engine


def hierarchy_body(engine):
    with Session(engine) as s:
        all_ = s.scalars(select(Unit)).all()
        archers = sum(1 for u in all_ if type(u) is Archer)
        assert len(all_) == N and archers == (N + 2) // 3, archers
    return len(all_)


run("U", "upsert", upsert_setup, upsert_body)
run("H", "hierarchy-load", hierarchy_setup, hierarchy_body)
