#!/usr/bin/env bash
# Runs every examples/*.lua under an interpreter and compares each one's output (stdout and
# stderr, exit status) with the lualchemy binary's, which is the reference.
#
#   scripts/run_examples.sh [-m MODULE.so] [-b BINARY] INTERPRETER
#
#   INTERPRETER  a stock interpreter that loads the module (lua5.4, lua5.1, luajit...), or
#                the lualchemy binary itself
#   -m MODULE    the module built for that interpreter (default target/release/liblualchemy.so),
#                put on package.cpath as lualchemy.so
#   -b BINARY    the reference binary (default target/debug/lualchemy)
#
# An example whose first line is `-- requires: Lua 5.3` (or 5.4) uses that version's syntax
# and is skipped, with a note, on an older interpreter (LuaJIT counts as 5.1). Addresses
# printed by tostring (0x...) and times measured in seconds differ from run to run and are
# masked. Runs from the
# repository root, as the examples expect. Exit status 1 when any example differs.
set -uo pipefail
cd "$(dirname "$0")/.."

module=target/release/liblualchemy.so
reference=target/debug/lualchemy
while getopts "m:b:" opt; do
  case $opt in
    m) module=$OPTARG ;;
    b) reference=$OPTARG ;;
    *) echo "usage: $0 [-m MODULE.so] [-b BINARY] INTERPRETER" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
  echo "usage: $0 [-m MODULE.so] [-b BINARY] INTERPRETER" >&2
  exit 2
fi
interpreter=$1
if [ ! -x "$reference" ]; then
  echo "$0: no reference binary at $reference (cargo build first)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the module goes on package.cpath ahead of anything installed
if [ -f "$module" ]; then
  cp "$module" "$work/lualchemy.so"
fi
export LUA_CPATH="$work/?.so;;"
unset LUA_INIT LUA_INIT_5_4 LUA_INIT_5_3 LUA_PATH_5_4 LUA_CPATH_5_4 LUA_CPATH_5_3 LUA_CPATH_5_2

version=$("$interpreter" -e 'io.write((_VERSION:gsub("^Lua ", "")))') || {
  echo "$0: cannot run $interpreter" >&2
  exit 2
}
if ! "$interpreter" -e 'require("lualchemy")' 2>"$work/load.err"; then
  echo "$0: $interpreter cannot require(\"lualchemy\") (module $module):" >&2
  cat "$work/load.err" >&2
  exit 2
fi
name=$("$interpreter" -e 'io.write(jit and jit.version or _VERSION)')

# what differs from run to run: addresses (tostring of a table or object) and times
# measured by a script (events.lua's "0.000628 s") or by echo's log ("cached since 0.0012s ago")
mask() { sed -E 's/0x[0-9a-fA-F]+/0xADDR/g; s/[0-9]+\.[0-9]+ s$/TIME s/; s/cached since [0-9.]+s ago/cached since TIME ago/'; }
# "5.10" > "5.4" compares right as version numbers
older() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }

ran=0 skipped=0 failed=0
for example in examples/*.lua; do
  needs=$(head -n1 "$example" | sed -nE 's/^-- requires: Lua ([0-9.]+).*/\1/p')
  if [ -n "$needs" ] && older "$version" "$needs"; then
    echo "skip  $example (requires Lua $needs; $name is $version)"
    skipped=$((skipped + 1))
    continue
  fi
  "$reference" "$example" >"$work/want.out" 2>"$work/want.err"
  want_status=$?
  "$interpreter" "$example" >"$work/got.out" 2>"$work/got.err"
  got_status=$?
  mask <"$work/want.out" >"$work/want.txt"
  mask <"$work/got.out" >"$work/got.txt"
  # stderr: the program's name differs (lua5.4: ... / lualchemy: ...)
  sed -E 's/^[^ :]+: //' "$work/want.err" | mask >>"$work/want.txt"
  sed -E 's/^[^ :]+: //' "$work/got.err" | mask >>"$work/got.txt"
  echo "status $want_status" >>"$work/want.txt"
  echo "status $got_status" >>"$work/got.txt"
  ran=$((ran + 1))
  if cmp -s "$work/want.txt" "$work/got.txt"; then
    echo "same  $example ($(wc -l <"$work/got.out") lines)"
  else
    failed=$((failed + 1))
    echo "DIFF  $example (lualchemy binary <, $name with the module >):"
    diff "$work/want.txt" "$work/got.txt" | head -n 40
  fi
done
echo "$name: $ran examples run, $failed differ from the binary, $skipped skipped"
[ "$failed" -eq 0 ]
