#!/usr/bin/env bash
# Tests the set-up of scripts/dev.sh as a newcomer's machine meets it, on a copy of this tree:
#   1. another Python first on PATH (one whose ssl import fails, as a half-built pyenv one):
#      the set-up picks its interpreter deliberately, says which, and builds a working virtualenv;
#   2. a broken virtualenv is rebuilt from scratch, not layered over;
#   3. a `run` killed midway (no trap can run) leaves a half-made database and a simulator: the
#      next `run` stops that simulator, makes the database again, and stops what it started when
#      it is stopped itself.
# Ends with "setup: N passed, N failed". Uses the Odoo cache and PostgreSQL of the real set-up;
# its own database, ports and virtualenv.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
COPY=$WORK/gelato_connector
export GELATO_VENV=$WORK/venv GELATO_DEV_DB=gelato_setup_test GELATO_HTTP_PORT=${GELATO_SETUP_HTTP_PORT:-8369}
export GELATO_SIM_PORT=${GELATO_SETUP_SIM_PORT:-8370}
passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

cleanup() {
    [ -n "${RUN_PID:-}" ] && kill -- -"$RUN_PID" 2>/dev/null
    pkill -f "simulator --host 127.0.0.1 --port $GELATO_SIM_PORT" 2>/dev/null
    dropdb --if-exists "$GELATO_DEV_DB" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# The copy: what git tracks, and what it would track, of this tree.
mkdir -p "$COPY"
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$COPY")

# Another Python first on PATH: its ssl cannot be imported.
mkdir -p "$WORK/bin" "$WORK/nossl"
echo 'raise ImportError("ssl is missing from this Python (set-up test)")' > "$WORK/nossl/ssl.py"
real=$(command -v python3)
for name in python3 python3.13 python3.12 python3.11 python3.10; do
    printf '#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' "$WORK/nossl" "$real" > "$WORK/bin/$name"
    chmod +x "$WORK/bin/$name"
done
export PATH=$WORK/bin:$PATH
dropdb --if-exists "$GELATO_DEV_DB" >/dev/null 2>&1

# 1. The interpreter is chosen deliberately, and said.
log=$WORK/setup1.log
bash "$COPY/scripts/dev.sh" setup >"$log" 2>&1
check "set-up with another Python first on PATH succeeds" grep -q "ready" "$log"
check "the set-up says which Python it took" grep -q "Python: /" "$log"
check "the Python taken is not the one first on PATH" bash -c "! grep -q 'Python: $WORK/bin' '$log'"
check "the virtualenv imports ssl" "$GELATO_VENV/bin/python" -c 'import ssl, psycopg2, werkzeug'

# 2. A broken virtualenv is rebuilt from scratch.
site=$("$GELATO_VENV/bin/python" -c 'import werkzeug, os; print(os.path.dirname(os.path.dirname(werkzeug.__file__)))')
rm -rf "$site/werkzeug"
touch "$GELATO_VENV/left-by-the-broken-one"
log=$WORK/setup2.log
bash "$COPY/scripts/dev.sh" setup >"$log" 2>&1
check "a broken virtualenv is noticed" grep -q "is broken" "$log"
check "it is rebuilt and works" "$GELATO_VENV/bin/python" -c 'import ssl, psycopg2, werkzeug'
check "it is rebuilt from scratch" test ! -e "$GELATO_VENV/left-by-the-broken-one"

# Waits until a run's log shows a line, or the run ended; 600 s at most.
wait_for() {
    local log=$1 text=$2
    for _ in $(seq 1 1200); do
        grep -q "$text" "$log" && return 0
        kill -0 "$RUN_PID" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# 3. A run killed midway, then a run that repairs what it left.
log=$WORK/run1.log
setsid bash "$COPY/scripts/dev.sh" run >"$log" 2>&1 &
RUN_PID=$!
if wait_for "$log" "configuring the company"; then
    # The run itself dies at once (an OOM kill, a closed terminal): no trap runs, its Odoo
    # crashes with it, and its simulator is left running.
    kill -KILL "$RUN_PID" 2>/dev/null
    pkill -KILL -f "odoo-bin.* -d $GELATO_DEV_DB" 2>/dev/null
    sleep 1
    pass "a run reached the database set-up, then was killed"
else
    fail "a run reached the database set-up"; tail -20 "$log"
fi
RUN_PID=
pidfile=${XDG_CACHE_HOME:-$HOME/.cache}/gelato_connector/simulator-$GELATO_SIM_PORT.pid
stale=$(cat "$pidfile" 2>/dev/null)
check "the killed run left its simulator running" bash -c "[ -n '$stale' ] && kill -0 $stale"
check "the killed run left a half-made database" \
    bash -c "psql -d postgres -tAc \"select 1 from pg_database where datname='$GELATO_DEV_DB'\" | grep -q 1"

log=$WORK/run2.log
setsid bash "$COPY/scripts/dev.sh" run >"$log" 2>&1 &
RUN_PID=$!
if wait_for "$log" "Odoo: http://localhost"; then
    pass "the next run gets the server up"
else
    fail "the next run gets the server up"; tail -30 "$log"
fi
check "it stops the simulator the killed run left" grep -q "stopping the simulator a previous run left" "$log"
check "that simulator is gone" bash -c "! ps -o stat= -p $stale | grep -qv Z"
check "it makes the half-made database again" grep -q "left half-made" "$log"
check "the database is marked ready" bash -c "psql -d postgres -tAc \"select shobj_description(oid, 'pg_database') from pg_database where datname='$GELATO_DEV_DB'\" | grep -q ready"
sim=$(cat "$pidfile" 2>/dev/null)
kill -TERM -- -"$RUN_PID" 2>/dev/null
for _ in $(seq 1 40); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.5; done
RUN_PID=
sleep 1
# Gone, or a zombie its killed parent left to be reaped: either way it serves nothing.
check "a stopped run stops its simulator" \
    bash -c "[ -n '$sim' ] && ! ps -o stat= -p $sim | grep -qv Z && ! curl -fs http://127.0.0.1:$GELATO_SIM_PORT/_simulator/state >/dev/null"

echo "setup: $passed passed, $failed failed"
[ "$failed" = 0 ]
