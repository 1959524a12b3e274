"""SQLAlchemy's reference workloads W1-W8 on a database server, beside
examples/server_workloads.rs: imports the reference script unchanged
(../shared/bench/sqlalchemy_ref.py, or $SQLALCHEMY_REF) and points its `fresh()` at the
server, dropping and creating the tables for each workload.

usage: python3 benches/sqlalchemy_server.py SCALE W1,W2,... URL
       (URL e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test; needs psycopg)
"""
import gc
import importlib.util
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
ref_path = os.environ.get(
    "SQLALCHEMY_REF", os.path.join(here, "..", "..", "shared", "bench", "sqlalchemy_ref.py"))
scale = sys.argv[1] if len(sys.argv) > 1 else "1"
only = sys.argv[2] if len(sys.argv) > 2 else "W1,W2,W3,W4"
url = sys.argv[3] if len(sys.argv) > 3 else "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# the reference reads its scale and workload list from argv when imported
sys.argv = [ref_path, scale, only]
spec = importlib.util.spec_from_file_location("sqlalchemy_ref", ref_path)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def fresh(_url=None):
    engine = ref.create_engine(url)
    ref.Base.metadata.drop_all(engine)
    ref.Base.metadata.create_all(engine)
    return engine


ref.fresh = fresh

for k, (label, fn) in enumerate(ref.WORKLOADS, start=1):
    if f"W{k}" not in only.split(",") or k > 8:
        continue
    gc.collect()
    rows, t = fn()
    print(f"W{k} {label} rows={rows} seconds={t.wall:.4f} "
          f"rows_per_s={rows / max(t.wall, 1e-9):.0f} cpu_seconds={t.cpu:.4f}", flush=True)
