#!/usr/bin/env bash
# Sets up everything the addon needs on a fresh machine, then runs Odoo or the test suite.
#
#   scripts/dev.sh run     set up, then serve Odoo on http://localhost:8069 with the addon and the
#                          Gelato simulator (http://127.0.0.1:8070)
#   scripts/dev.sh test    set up, then run the whole test suite (ends with "N passed, N failed")
#   scripts/dev.sh screenshots
#                          set up, then run only the tests that take the README's screenshots,
#                          writing them into static/description/screenshots (a plain `test` run
#                          writes them to $GELATO_SCREENSHOT_DIR, else a temporary directory)
#   scripts/dev.sh pytest  set up, then run the same suite with pytest (pytest-odoo)
#   scripts/dev.sh lint    set up, then run the code checks (pre-commit: ruff, pylint-odoo)
#   scripts/dev.sh setup   set up only
#   scripts/dev.sh bench   set up, then run the benchmark scripts (benchmarks/)
#
# Odoo 19 is looked for, in this order: an importable `odoo` (python3 -c 'import odoo');
# $ODOO_SRC (a source tree holding odoo-bin, odoo/ and addons/); the per-user cache
# ${XDG_CACHE_HOME:-~/.cache}/gelato_connector/odoo-19.0; the official Odoo 19 source download,
# unpacked into that cache. Every step is safe to repeat and is skipped when already done.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${GELATO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gelato_connector}
ODOO_CACHE=$CACHE/odoo-19.0
ODOO_DOWNLOAD_URL=${ODOO_DOWNLOAD_URL:-https://nightly.odoo.com/19.0/nightly/src/odoo_19.0.latest.tar.gz}
VENV=${GELATO_VENV:-$REPO/.venv}
# Odoo's data directory (filestores, sessions) for the databases the script makes.
DATA_DIR=${GELATO_DATA_DIR:-$CACHE/data}
DEV_DB=${GELATO_DEV_DB:-gelato_dev}
HTTP_PORT=${GELATO_HTTP_PORT:-8069}
SIM_PORT=${GELATO_SIM_PORT:-8070}
BENCH_PORT=${GELATO_BENCH_PORT:-8269}
DEPENDS=sale_management,sale_margin,stock_delivery,website_sale,payment_demo

say() { printf '\033[1m[gelato]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[gelato] error:\033[0m %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi; }
hash_of() { sha1sum | cut -c1-10; }

# --- Python ------------------------------------------------------------------------------------
# A Python Odoo 19 can use: 3.10 or newer, with ssl (pip, HTTPS), venv and ensurepip, sqlite3.
python_fit() {
    "$1" -c 'import sys, ssl, venv, ensurepip, sqlite3; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

# The interpreter is chosen deliberately, whatever comes first on PATH (a pyenv shim, say):
# GELATO_PYTHON when given; else the one the virtualenv was built with, while it still works; else
# the system's /usr/bin/python3; else the first fit one on PATH. Prints "path<TAB>why".
find_python() {
    local py why
    if [ -n "${GELATO_PYTHON:-}" ]; then
        py=$(command -v "$GELATO_PYTHON" 2>/dev/null) && python_fit "$py" \
            || die "GELATO_PYTHON=$GELATO_PYTHON is not a Python 3.10+ with ssl, venv and sqlite3."
        printf '%s\tGELATO_PYTHON\n' "$py"; return
    fi
    local built; built=$(sed -n 's/^executable = //p' "$VENV/pyvenv.cfg" 2>/dev/null || true)
    for py in "$built" /usr/bin/python3 python3.13 python3.12 python3.11 python3.10 python3; do
        [ -n "$py" ] || continue
        case $py in "$built") why="the virtualenv's own" ;; /usr/bin/python3) why="the system's" ;; *) why="first fit one on PATH" ;; esac
        py=$(command -v "$py" 2>/dev/null) || continue
        if python_fit "$py"; then printf '%s\t%s\n' "$py" "$why"; return; fi
        say "skipping $py: not a Python 3.10+ with ssl, venv and sqlite3"
    done
    die "Odoo 19 needs Python 3.10 or newer with ssl and venv: install python3 and python3-venv, or set GELATO_PYTHON."
}

# --- Odoo 19 -----------------------------------------------------------------------------------
is_odoo19_tree() { [ -f "$1/odoo/release.py" ] && grep -q "^version_info = (19, 0" "$1/odoo/release.py"; }

find_odoo() {
    local py=$1 root
    # 1. An importable odoo.
    if root=$("$py" -c 'import odoo, os; print(os.path.dirname(os.path.dirname(os.path.abspath(odoo.__file__))))' 2>/dev/null) \
        && is_odoo19_tree "$root"; then
        ODOO_ROOT=$root; ODOO_IMPORTABLE=1; say "Odoo 19: importable from $py ($root)"; return
    fi
    ODOO_IMPORTABLE=0
    # 2. ODOO_SRC.
    if [ -n "${ODOO_SRC:-}" ]; then
        is_odoo19_tree "$ODOO_SRC" || die "ODOO_SRC=$ODOO_SRC is not an Odoo 19 source tree (no odoo/release.py of version 19.0)."
        ODOO_ROOT=$(cd "$ODOO_SRC" && pwd); say "Odoo 19: ODOO_SRC ($ODOO_ROOT)"; return
    fi
    # 3. The per-user cache.
    if is_odoo19_tree "$ODOO_CACHE"; then ODOO_ROOT=$ODOO_CACHE; say "Odoo 19: cache ($ODOO_ROOT)"; return; fi
    # 4. The official source download.
    say "Odoo 19 not found; downloading $ODOO_DOWNLOAD_URL"
    local tmp; tmp=$(mktemp -d)
    if curl -fsSL --retry 2 --connect-timeout 20 "$ODOO_DOWNLOAD_URL" -o "$tmp/odoo.tar.gz" \
        && mkdir -p "$tmp/src" && tar -xzf "$tmp/odoo.tar.gz" -C "$tmp/src" --strip-components=1 \
        && is_odoo19_tree "$tmp/src"; then
        mkdir -p "$(dirname "$ODOO_CACHE")"; rm -rf "$ODOO_CACHE"; mv "$tmp/src" "$ODOO_CACHE"; rm -rf "$tmp"
        ODOO_ROOT=$ODOO_CACHE; say "Odoo 19: downloaded into $ODOO_ROOT"; return
    fi
    rm -rf "$tmp"
    die "Odoo 19 was not found. Provide it in one of these ways, then run this command again:
  - make 'import odoo' work for $py (pip install an Odoo 19 source tree), or
  - export ODOO_SRC=/path/to/odoo-19.0 (a tree holding odoo-bin, odoo/ and addons/), or
  - unpack Odoo 19 Community into $ODOO_CACHE (that folder must hold odoo/release.py), or
  - allow the download of $ODOO_DOWNLOAD_URL"
}

odoo_addons_path() {
    local paths=()
    [ -d "$ODOO_ROOT/addons" ] && paths+=("$ODOO_ROOT/addons")
    paths+=("$ODOO_ROOT/odoo/addons" "$ADDONS_LINK_DIR")
    (IFS=,; echo "${paths[*]}")
}

# --- PostgreSQL --------------------------------------------------------------------------------
pg_ok() { psql -d postgres -tAc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
    if pg_ok; then return; fi
    if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        say "installing PostgreSQL from the OS packages"
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
    fi
    if ! pg_isready -q 2>/dev/null; then
        say "starting PostgreSQL"
        as_root service postgresql start >/dev/null 2>&1 || as_root pg_ctlcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main start || true
        for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
    fi
    if ! pg_ok; then
        say "creating the PostgreSQL role '$(id -un)'"
        as_root su postgres -c "createuser --superuser $(id -un)" 2>/dev/null || true
    fi
    pg_ok || die "PostgreSQL is not reachable as role '$(id -un)' (tried: psql -d postgres)."
}

# --- Virtualenv --------------------------------------------------------------------------------
ensure_python_env() {
    local py=$1
    if [ "$ODOO_IMPORTABLE" = 1 ]; then PYTHON=$py; return; fi
    local stamp req
    req=$(mktemp)
    # psycopg2 and python-ldap compile against system libraries: the binary wheel replaces the
    # first, the second (LDAP login) is not needed by this addon.
    sed -e 's/^psycopg2==/psycopg2-binary==/' -e '/^python-ldap/d' "$ODOO_ROOT/requirements.txt" > "$req"
    cat "$REPO/requirements.txt" >> "$req"
    # gevent (Odoo's --gevent-port process) needs a setuptools that resolves zope.interface.
    echo 'setuptools>=75,<81' >> "$req"
    stamp=$( (cat "$req"; "$py" --version) | hash_of)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.gelato-stamp" 2>/dev/null)" = "$stamp" ] \
        && ! "$VENV/bin/python" -c 'import ssl, psycopg2, werkzeug, requests' >/dev/null 2>&1; then
        say "the virtualenv $VENV is broken (its Python cannot import ssl or Odoo's packages): rebuilding it"
        rm -f "$VENV/.gelato-stamp"
    fi
    if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.gelato-stamp" 2>/dev/null)" != "$stamp" ]; then
        say "building the virtualenv $VENV with $py (Odoo's requirements + requirements.txt)"
        # From scratch: a virtualenv made over another interpreter's keeps pieces of both.
        rm -rf "$VENV"
        "$py" -m venv "$VENV" || die "$py could not create a virtualenv (install python3-venv)."
        # Old sdists among Odoo's pins still import pkg_resources in their build step.
        local build_constraints; build_constraints=$(mktemp)
        echo 'setuptools<81' > "$build_constraints"
        PIP_CONSTRAINT=$build_constraints "$VENV/bin/pip" install -q --disable-pip-version-check -r "$req" \
            || die "pip could not install Odoo's requirements (see above)."
        rm -f "$build_constraints"
        echo "$stamp" > "$VENV/.gelato-stamp"
    fi
    rm -f "$req"
    PYTHON=$VENV/bin/python
}

ensure_addons_link() {
    # Odoo finds an addon by its folder name: link this checkout as gelato_connector.
    ADDONS_LINK_DIR=$CACHE/addons/$(printf '%s' "$REPO" | hash_of)
    mkdir -p "$ADDONS_LINK_DIR"
    ln -sfn "$REPO" "$ADDONS_LINK_DIR/gelato_connector"
}

ensure_chromium() {
    # The browser tours (HttpCase.start_tour) need Chromium.
    if command -v chromium >/dev/null || command -v google-chrome >/dev/null; then return; fi
    if command -v apt-get >/dev/null; then
        say "installing Chromium from the OS packages (browser tests)"
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
            || say "Chromium could not be installed: browser tours will be skipped"
    fi
}

ensure_wkhtmltopdf() {
    # Odoo renders PDFs (the quotation attached to the confirmation email of a paid webshop
    # order) with wkhtmltopdf: without it, that confirmation fails.
    if ! command -v wkhtmltopdf >/dev/null && command -v apt-get >/dev/null; then
        say "installing wkhtmltopdf from the OS packages (PDF reports)"
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wkhtmltopdf >/dev/null \
            || say "wkhtmltopdf could not be installed"
    fi
    local tmp; tmp=$(mktemp -d)
    echo '<html><body><p>gelato_connector</p></body></html>' > "$tmp/check.html"
    if command -v wkhtmltopdf >/dev/null && wkhtmltopdf -q "$tmp/check.html" "$tmp/check.pdf" >/dev/null 2>&1 \
        && head -c 4 "$tmp/check.pdf" | grep -q '%PDF'; then
        rm -rf "$tmp"; return
    fi
    rm -rf "$tmp"
    die "wkhtmltopdf cannot render a PDF: install it (apt-get install wkhtmltopdf), then run this command again."
}

setup() {
    local found py; found=$(find_python) || exit 1
    py=${found%%$'\t'*}
    say "Python: $py, $("$py" --version 2>&1) (${found#*$'\t'})"
    find_odoo "$py"
    ensure_postgres
    ensure_wkhtmltopdf
    ensure_python_env "$py"
    ensure_addons_link
    # ODOO_CMD takes a subcommand (`shell`) next; ODOO is the server, with the data directory.
    ODOO_CMD=("$PYTHON" "$ODOO_ROOT/odoo-bin" --addons-path="$(odoo_addons_path)")
    [ -f "$ODOO_ROOT/odoo-bin" ] || ODOO_CMD=("$PYTHON" -m odoo --addons-path="$(odoo_addons_path)")
    ODOO=("${ODOO_CMD[@]}" --data-dir="$DATA_DIR")
}

# A database and its filestore (attachments installed with the modules live there) go together.
clone_db() {
    createdb -T "$1" "$2"
    rm -rf "${DATA_DIR:?}/filestore/$2"
    if [ -d "$DATA_DIR/filestore/$1" ]; then
        mkdir -p "$DATA_DIR/filestore"
        cp -a "$DATA_DIR/filestore/$1" "$DATA_DIR/filestore/$2"
    fi
}

drop_db() {
    dropdb --if-exists "$1" || true
    rm -rf "${DATA_DIR:?}/filestore/$1"
}

db_exists() { psql -d postgres -tAc "select 1 from pg_database where datname='$1'" | grep -q 1; }

# A database with the dependencies installed, kept as a template so that each test run starts
# from a fresh copy in seconds. Its name changes with Odoo's source and the dependency list.
ensure_template_db() {
    local key; key=$( (echo "$DEPENDS filestore:$DATA_DIR"; cat "$ODOO_ROOT/odoo/release.py"; ls "$ODOO_ROOT/addons" 2>/dev/null) | hash_of)
    TEMPLATE_DB=gelato_tmpl_$key
    if db_exists "$TEMPLATE_DB"; then return; fi
    say "creating the template database $TEMPLATE_DB (dependencies only, once)"
    local attempt
    for attempt in 1 2; do
        drop_db "$TEMPLATE_DB.tmp"
        if "${ODOO[@]}" -d "$TEMPLATE_DB.tmp" -i "$DEPENDS" --stop-after-init \
            --log-level=warn --http-port="$HTTP_PORT" --http-interface=127.0.0.1 >/dev/null 2>"$CACHE/template-db.log"; then
            break
        fi
        # Seen once: a serialization failure while installing; a second attempt goes through.
        [ "$attempt" = 2 ] && { tail -30 "$CACHE/template-db.log" >&2; drop_db "$TEMPLATE_DB.tmp"; die "could not create the template database"; }
        say "the template database could not be created; trying once more"
    done
    psql -d postgres -qc "ALTER DATABASE \"$TEMPLATE_DB.tmp\" RENAME TO \"$TEMPLATE_DB\""
    rm -rf "${DATA_DIR:?}/filestore/$TEMPLATE_DB"
    if [ -d "$DATA_DIR/filestore/$TEMPLATE_DB.tmp" ]; then
        mv "$DATA_DIR/filestore/$TEMPLATE_DB.tmp" "$DATA_DIR/filestore/$TEMPLATE_DB"
    fi
}

# The set-up's own test (scripts/test_setup.sh: another Python first on PATH, a broken
# virtualenv, a run killed midway), on a copy of the tree; skipped when GELATO_TEST_TAGS picks
# some tests or GELATO_SKIP_SETUP_TEST=1. A failure fails the command, after the suite ran.
SETUP_RC=0
run_setup_test() {
    if [ -n "${GELATO_TEST_TAGS:-}" ] || [ "${GELATO_SKIP_SETUP_TEST:-}" = 1 ]; then return; fi
    say "testing the set-up itself (scripts/test_setup.sh)"
    bash "$REPO/scripts/test_setup.sh" >"$CACHE/setup-test.log" 2>&1 || SETUP_RC=1
    tail -1 "$CACHE/setup-test.log"
    [ "$SETUP_RC" = 0 ] || { grep -a "FAILED" "$CACHE/setup-test.log" >&2; say "set-up test log: $CACHE/setup-test.log"; }
}

# The switch from Odoo's own Gelato modules (scripts/test_switch.py: a database made with Odoo's
# website_sale_gelato and sale_gelato_stock, filled through them against the simulator, switched
# by `odoo-bin gelato_switch`); skipped like the set-up's test. A failure fails the command.
SWITCH_RC=0
run_switch_test() {
    if [ -n "${GELATO_TEST_TAGS:-}" ] || [ "${GELATO_SKIP_SWITCH_TEST:-}" = 1 ]; then return; fi
    ensure_template_db
    say "testing the switch from Odoo's Gelato modules (scripts/test_switch.py)"
    "$PYTHON" "$REPO/scripts/test_switch.py" "$ODOO_ROOT/odoo-bin" "$(odoo_addons_path)" "$DATA_DIR" \
        "$TEMPLATE_DB" >"$CACHE/switch-test.log" 2>&1 || SWITCH_RC=1
    tail -1 "$CACHE/switch-test.log"
    [ "$SWITCH_RC" = 0 ] || { grep -a "FAILED" "$CACHE/switch-test.log" >&2; say "switch test log: $CACHE/switch-test.log"; }
}

# The whole suite (GELATO_TEST_TAGS picks some), then the code checks unless --no-lint is given.
run_tests() {
    ensure_chromium
    ensure_template_db
    local db=gelato_test_$$ log rc=0
    log=$CACHE/test-$(date +%Y%m%d-%H%M%S).log
    drop_db "$db"; clone_db "$TEMPLATE_DB" "$db"
    say "running the test suite in database $db (log: $log)"
    set +e
    "${ODOO[@]}" -d "$db" -i gelato_connector --test-tags "${GELATO_TEST_TAGS:-/gelato_connector}" \
        --stop-after-init --http-port="${GELATO_TEST_HTTP_PORT:-8169}" --http-interface=127.0.0.1 --log-level=test \
        --db-filter="^$db\$" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    drop_db "$db"
    "$PYTHON" "$REPO/scripts/test_summary.py" "$log" || rc=1
    [ "${1:-}" = --no-lint ] || run_lint || rc=1
    [ "$SETUP_RC" = 0 ] || rc=1
    [ "$SWITCH_RC" = 0 ] || rc=1
    return $rc
}

# The test tags of the tests that take the README's screenshots: the test methods whose body
# calls self._screenshot(...), found in tests/test_*.py.
screenshot_test_tags() {
    "$PYTHON" - "$REPO/tests" <<'PY'
import ast
import pathlib
import sys

tags = []
for path in sorted(pathlib.Path(sys.argv[1]).glob('test_*.py')):
    for cls in ast.parse(path.read_text(), str(path)).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for method in cls.body:
            if isinstance(method, ast.FunctionDef) and method.name.startswith('test_') and any(
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == '_screenshot' and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == 'self'
                    for node in ast.walk(method)):
                tags.append(f'/gelato_connector:{cls.name}.{method.name}')
print(','.join(tags))
PY
}

# Renew the README's screenshots: only the tests that take them, writing into the repository.
run_screenshots() {
    local dir=$REPO/static/description/screenshots tags stamp stale rc=0
    tags=$(screenshot_test_tags) || die "could not list the screenshot tests"
    [ -n "$tags" ] || die "no test calls self._screenshot( in $REPO/tests"
    mkdir -p "$dir"
    stamp=$(mktemp)
    say "screenshots into $dir, taken by: ${tags//,/ }"
    GELATO_TEST_TAGS=$tags GELATO_SCREENSHOT_DIR=$dir run_tests --no-lint || rc=1
    # A browser test skipped (no Chromium) or failed leaves its picture as it was.
    stale=$(find "$dir" -maxdepth 1 -name '*.png' ! -newer "$stamp" -printf '%f ')
    rm -f "$stamp"
    if [ -n "$stale" ]; then
        say "not renewed: $stale"; rc=1
    fi
    return $rc
}

# The code checks of .pre-commit-config.yaml (ruff, pylint-odoo), as CI runs them.
run_lint() {
    if ! git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        say "lint skipped: $REPO is not a git checkout"; return 0
    fi
    say "lint: pre-commit run --all-files (ruff, pylint-odoo)"
    if (cd "$REPO" && "$PYTHON" -m pre_commit run --all-files --show-diff-on-failure >"$CACHE/lint.log" 2>&1); then
        echo "lint: passed"
    else
        tail -40 "$CACHE/lint.log" >&2
        echo "lint: failed (log: $CACHE/lint.log)"
        return 1
    fi
}

# The same suite through pytest (pytest-odoo), in a database where the addon is installed.
run_pytest() {
    ensure_chromium
    ensure_template_db
    local db=gelato_pytest_$$ rc=0
    drop_db "$db"; clone_db "$TEMPLATE_DB" "$db"
    "${ODOO[@]}" -d "$db" -i gelato_connector --stop-after-init --log-level=warn \
        --http-port="${GELATO_TEST_HTTP_PORT:-8169}" --http-interface=127.0.0.1 >/dev/null
    say "running the test suite with pytest in database $db"
    set +e
    # From the addon's link, named gelato_connector: pytest-odoo imports the tests as
    # odoo.addons.gelato_connector.tests, whatever this checkout's folder is called.
    (cd "$ADDONS_LINK_DIR/gelato_connector" && PYTHONPATH="$ODOO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
        "$PYTHON" -m pytest "$ADDONS_LINK_DIR/gelato_connector/tests" -p no:cacheprovider --odoo-database="$db" \
        --odoo-addons-path="$(odoo_addons_path)" --odoo-http --odoo-log-level=warn \
        --odoo-extra data-dir="$DATA_DIR" --odoo-extra http-port="${GELATO_TEST_HTTP_PORT:-8169}" \
        --odoo-extra http-interface=127.0.0.1 "$@")
    rc=$?
    set -e
    drop_db "$db"
    return $rc
}

# The dev database is marked ready (a comment on the database) once its set-up went through: a
# database without the mark was left by a run that failed or was killed, and is made again.
DEV_READY='gelato_connector dev database: ready'
dev_db_ready() {
    [ "$(psql -d postgres -tAc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DEV_DB'")" = "$DEV_READY" ]
}

run_server() {
    local simlog=$CACHE/simulator.log simpid=$CACHE/simulator-$SIM_PORT.pid
    # A simulator left by a run that was killed (no trap ran then) is stopped first.
    if [ -f "$simpid" ] && kill -0 "$(cat "$simpid")" 2>/dev/null; then
        say "stopping the simulator a previous run left (pid $(cat "$simpid"))"
        kill "$(cat "$simpid")" 2>/dev/null || true; sleep 0.5
    fi
    say "starting the Gelato simulator on http://127.0.0.1:$SIM_PORT (log: $simlog)"
    (cd "$REPO" && exec "$PYTHON" -m simulator --host 127.0.0.1 --port "$SIM_PORT" --api-key dev-gelato-key \
        --webhook-url "http://127.0.0.1:$HTTP_PORT/gelato/webhook" --webhook-secret dev-gelato-secret \
        --auto-advance 20) >"$simlog" 2>&1 &
    local sim_pid=$!
    echo "$sim_pid" > "$simpid"
    # Whatever ends this run (a failure, Ctrl-C), what it started stops with it.
    trap "kill $sim_pid 2>/dev/null || true; rm -f '$simpid'" EXIT INT TERM
    for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$SIM_PORT/_simulator/state" >/dev/null 2>&1 && break; sleep 0.2; done
    if db_exists "$DEV_DB" && ! dev_db_ready; then
        say "the database $DEV_DB was left half-made by an earlier run: making it again"
        drop_db "$DEV_DB"
    fi
    if db_exists "$DEV_DB"; then
        "${ODOO[@]}" -d "$DEV_DB" -u gelato_connector --stop-after-init --log-level=warn --http-port="$HTTP_PORT" --http-interface=127.0.0.1
    else
        ensure_template_db
        clone_db "$TEMPLATE_DB" "$DEV_DB"
        "${ODOO[@]}" -d "$DEV_DB" -i gelato_connector --stop-after-init --log-level=warn --http-port="$HTTP_PORT" --http-interface=127.0.0.1
    fi
    say "configuring the company for the simulator and loading demo products"
    "${ODOO_CMD[@]}" shell --data-dir="$DATA_DIR" -d "$DEV_DB" --log-level=warn --http-port="$HTTP_PORT" --http-interface=127.0.0.1 --no-http \
        < <(printf 'SIMULATOR_URL = "http://127.0.0.1:%s"\n' "$SIM_PORT"; cat "$REPO/scripts/dev_data.py") \
        || die "could not configure the demo database"
    psql -d postgres -qc "COMMENT ON DATABASE \"$DEV_DB\" IS '$DEV_READY'"
    say "Odoo: http://localhost:$HTTP_PORT (login admin / admin), database $DEV_DB"
    "${ODOO[@]}" -d "$DEV_DB" --http-port="$HTTP_PORT" --http-interface=127.0.0.1 --db-filter="^$DEV_DB\$"
}

run_benchmarks() {
    ensure_template_db
    # A fresh database for each run: orders, events and due scheduled actions left by an earlier
    # run would weigh on the measurements (the cron worker would work through them first).
    local db=gelato_bench addons pypath="$ODOO_ROOT${PYTHONPATH:+:$PYTHONPATH}" rc=0 server used=0
    addons=$(odoo_addons_path)
    fresh_db() {
        drop_db "$db"; clone_db "$TEMPLATE_DB" "$db"
        "${ODOO[@]}" -d "$db" -i gelato_connector --stop-after-init --log-level=warn --http-port="$HTTP_PORT" --http-interface=127.0.0.1 \
            || die "could not install gelato_connector in the benchmark database $db"
    }
    fresh_db
    # The scripts print their figures and MET / MISSED; they fail only on errors.
    bench() { used=1; PYTHONPATH=$pypath "$PYTHON" "$REPO/benchmarks/$1" -d "$db" --addons-path "$addons" "${@:2}"; }
    # GELATO_BENCH=sync,latency,webhook,reconcile,busyday picks some (all by default).
    wanted() { [ -z "${GELATO_BENCH:-}" ] || [[ ",$GELATO_BENCH," == *",$1,"* ]]; }
    if wanted sync; then
        say "benchmark: product synchronization (20 to 1,000 variants)"
        bench bench_product_sync.py || rc=1
    fi
    if wanted latency; then
        say "benchmark: latency from confirmation to Gelato (Odoo with workers on ports 8369/8371, simulator on 8370)"
        local odoo_bin=()
        [ -f "$ODOO_ROOT/odoo-bin" ] && odoo_bin=(--odoo-bin "$ODOO_ROOT/odoo-bin")
        bench bench_latency.py "${odoo_bin[@]}" --data-dir "$DATA_DIR" --log "$CACHE/bench-latency-server.log" || rc=1
    fi
    if wanted webhook; then
        say "benchmark: webhook (Odoo with 2 workers on port $BENCH_PORT)"
        "${ODOO[@]}" -d "$db" --db-filter="^$db\$" --http-port="$BENCH_PORT" --http-interface=127.0.0.1 \
            --gevent-port=$((BENCH_PORT + 1)) --workers=2 --max-cron-threads=0 --log-level=warn \
            >"$CACHE/bench-server.log" 2>&1 &
        server=$!
        for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$BENCH_PORT/web/health" >/dev/null 2>&1 && break; sleep 0.5; done
        bench bench_webhook.py --url "http://127.0.0.1:$BENCH_PORT" || rc=1
        kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
    fi
    if wanted reconcile; then
        say "benchmark: reconciliation of 1,000 quiet orders (simulator on 8370)"
        bench bench_reconcile.py || rc=1
    fi
    if wanted busyday; then
        # Its own fresh database: what the benchmarks before it left (orders, due scheduled
        # actions, products) would be part of its busy day.
        [ "$used" = 0 ] || fresh_db
        say "benchmark: a big merchant's busiest day (2 Odoo servers with workers on ports 8471/8473, simulator on 8475, logs in $CACHE)"
        local busy_bin=()
        [ -f "$ODOO_ROOT/odoo-bin" ] && busy_bin=(--odoo-bin "$ODOO_ROOT/odoo-bin")
        bench bench_busy_day.py "${busy_bin[@]}" --data-dir "$DATA_DIR" --log-dir "$CACHE" || rc=1
    fi
    [ "$rc" = 0 ] || say "a benchmark failed with an error (see above)"
    return $rc
}

main() {
    local cmd=${1:-}
    case "$cmd" in
        setup) setup; ensure_template_db; say "ready" ;;
        test) setup; run_setup_test; run_switch_test; run_tests ;;
        screenshots) setup; run_screenshots ;;
        pytest) shift; setup; run_pytest "$@" ;;
        lint) setup; run_lint ;;
        run) setup; run_server ;;
        bench) setup; run_benchmarks ;;
        *) echo "usage: $0 run|test|screenshots|pytest|lint|setup|bench" >&2; exit 2 ;;
    esac
}
main "$@"
