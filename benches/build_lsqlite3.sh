#!/usr/bin/env bash
# Builds lsqlite3.so (LuaSQLite3 0.9.5) for the hand-written Lua workloads of
# ../shared/bench/lua_hand, four ways, into target/lua_hand/ (benches/run_runtimes.py reads them):
#
#   lua54-bundled/  luajit-bundled/   linked to the SQLite lualchemy bundles: the sqlite3.c of the
#                                     libsqlite3-sys crate in cargo's registry, compiled at -O3 with
#                                     the defines its build script passes (as rusqlite's release
#                                     build gets it), so both sides run the same SQLite
#   lua54-system/   luajit-system/    linked to Debian's libsqlite3 (-O2, lookaside off,
#                                     secure-delete on: 15-40% slower per workload)
#
# usage: benches/build_lsqlite3.sh /path/to/lsqlite3.c
# lsqlite3's source is not in Debian's packages (nor in this repository): take lsqlite3.c from
# its 0.9.5 release (the rock's source, or a mirror of its repository).
# Needs: apt-get install -y lua5.4 luajit liblua5.4-dev libluajit-5.1-dev libsqlite3-dev
set -euo pipefail
src=${1:?usage: $0 /path/to/lsqlite3.c}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/lua_hand
mkdir -p "$out"
sqlite_dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libsqlite3-sys-*/sqlite3 | sort -V | tail -1)
version=$(grep -A1 'name = "libsqlite3-sys"' "$root/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p')
case $sqlite_dir in
  *libsqlite3-sys-$version/*) ;;
  *) echo "warning: Cargo.lock has libsqlite3-sys $version, using $sqlite_dir" >&2 ;;
esac
if [ ! -f "$out/sqlite3_bundled.o" ]; then
  echo "compiling $sqlite_dir/sqlite3.c (about a minute)"
  cc -O3 -fPIC -c "$sqlite_dir/sqlite3.c" -o "$out/sqlite3_bundled.o" \
    -DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR \
    -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_FTS3 \
    -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1 \
    -DSQLITE_ENABLE_LOAD_EXTENSION=1 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_STAT4 \
    -DSQLITE_SOUNDEX -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI -DHAVE_USLEEP=1 -DHAVE_ISNAN \
    -D_POSIX_THREAD_SAFE_FUNCTIONS -DHAVE_LOCALTIME_R
fi
for v in lua54 luajit; do
  inc=/usr/include/lua5.4
  [ $v = luajit ] && inc=/usr/include/luajit-2.1
  mkdir -p "$out/$v-bundled" "$out/$v-system"
  cc -O2 -fPIC -shared -DLSQLITE_VERSION='"0.9.5"' -I"$inc" -I"$sqlite_dir" "$src" \
    "$out/sqlite3_bundled.o" -lpthread -lm -ldl -o "$out/$v-bundled/lsqlite3.so"
  cc -O2 -fPIC -shared -DLSQLITE_VERSION='"0.9.5"' -I"$inc" "$src" -lsqlite3 \
    -o "$out/$v-system/lsqlite3.so"
done
echo "built: $(ls "$out"/*/lsqlite3.so | tr '\n' ' ')"
