#!/usr/bin/env bash
# The multi-node fault suite (#16, docs/SCALING.md): `bash deploy/faults.sh [--short]`.
#
# Starts a PostgreSQL of its own (initdb in a temporary directory, its own port) and a NATS of
# its own (its own port and store), never the machine's shared servers; on them two API nodes
# (`convo serve --role api`) and two workers (`--role worker`, publishing to NATS). Then, one
# phase per fault, 32 clients (deploy/faults.py) send commands to both API nodes, each with an
# Idempotency-Key of its own, record every answer (2xx, 4xx, 5xx, unknown) and retry the 5xx
# and unknown ones with the same key; the fault is injected while they run:
#   1. kill -9 of an API node (started again on its port);
#   2. SIGSTOP of the worker holding the followers' leases: the other takes them over
#      (measured), and the stalled one, woken by SIGCONT, writes nothing;
#   3. kill -9 of the worker holding the leases: the other takes them over (measured);
#   4. SIGTERM of the worker holding the leases (a rolling deploy): it lets them go as it stops
#      and a new worker takes over within a renewal period (measured); one worker from here on;
#   5. PostgreSQL `pg_ctl restart -m fast`;
#   6. kill -9 of the PostgreSQL postmaster, then a start (crash recovery);
#   7. kill -9 of NATS, then a start on the same store;
#   8. SIGTERM of one of the two API nodes (the clients go on with the other).
# After each phase: every acknowledged command is in the log once and no retried one twice
# (faults.py report), every read model equals a rebuild (`convo projections verify`), the
# JetStream stream holds exactly the log's events in log order (`convo bus verify`), and every
# inbound message so far has reached a webhook receiver, verified by the Python Standard
# Webhooks library (faults.py webhooks; repeats are retries of the same webhook-id). Prints one
# table row per phase; exits non-zero on the first failure. --short (CI) runs every phase with
# less load around each fault.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convo-target}"
before=5 after=8
if [ "${1:-}" = "--short" ]; then before=2 after=3; fi
cargo build --quiet -p convo-cli
convo="$CARGO_TARGET_DIR/debug/convo"
here="$(pwd)"
work="$(mktemp -d)"
chmod 755 "$work"
pids=()
pgbin="$(find /usr/lib/postgresql -maxdepth 2 -name bin | sort -V | tail -n 1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -5 "$f"; done; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL of our own.
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres -N >/dev/null
pg_port="$(port)"
pg_start() { # after a crash its old backends may hold the shared memory for a moment
    for _ in $(seq 1 150); do
        as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/server.log" \
            -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 && return
        sleep 0.2
    done
    fail "PostgreSQL did not start"
}
pg_start
psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -qc "CREATE DATABASE convo" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/convo"
# One key for every node, as a deployment gives them: it seals the webhook secrets at rest.
CONVO_SECRETS_KEY="$(head -c 32 /dev/urandom | base64)"
export CONVO_SECRETS_KEY
sql() { psql "$DATABASE_URL" -AtXc "$1"; }

# NATS of our own.
nats_port="$(port)"
export NATS_URL="nats://127.0.0.1:$nats_port"
nats_start() {
    nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >>"$work/nats.log" 2>&1 &
    pids+=("$!"); echo "$!" >"$work/nats.pid"; disown "$!"
    for _ in $(seq 1 100); do listening "$nats_port" && return; sleep 0.1; done
    fail "NATS did not start"
}
nats_start

"$convo" migrate >/dev/null 2>&1
ws="$("$convo" workspaces create faults 2>/dev/null | tail -n 1)"
key="$("$convo" keys create --workspace "$ws" --scope admin 2>/dev/null | tail -n 1)"

start() { # role, name[, port]: a `convo serve` node, recorded in $work/<name>.{pid,port}
    local p="${3:-$(port)}"
    CONVO_RATE_LIMIT_PER_SEC=0 CONVO_LOG=warn CONVO_WEBHOOK_ALLOW_INSECURE=true \
        "$convo" serve --role "$1" --listen "127.0.0.1:$p" >>"$work/$2.log" 2>&1 &
    pids+=("$!"); echo "$!" >"$work/$2.pid"; echo "$p" >"$work/$2.port"
    disown "$!" # its kill -9 is the point, not news
    for _ in $(seq 1 100); do curl -sf "127.0.0.1:$p/healthz" >/dev/null && return; sleep 0.1; done
    fail "$2 did not start"
}
pid() { cat "$work/$1.pid"; }
# The followers' leases: every read model's, the publisher's and the webhooks' (the hourly key
# purge's has a two-hour TTL and is left out). Each takeover increments a lease's fencing token.
leases() { sql "SELECT string_agg(name || '=' || token, ' ' ORDER BY name) FROM follower_leases WHERE name <> 'idempotency_purge'"; }
# Fifteen: the twelve read models' runners (ReadModels::NAMES), the publisher, the webhooks'
# fan-out and their sender.
followers=19
all_at() { [ "$(sql "SELECT count(*) FILTER (WHERE token <> $1) = 0 AND count(*) = $followers FROM follower_leases WHERE name <> 'idempotency_purge'")" = t ]; }
takeover() { # token, what → "first–last ms" once every lease is at that token (each lease's
    # time is also written to $work/takeovers.log, with when the old holder's leases expired)
    local started n=0 seen=0 first="" last; started="$(now_ms)"
    local expiry; expiry="$(sql "SELECT max(expires_at_ms) FROM follower_leases WHERE name <> 'idempotency_purge'")"
    if [ "$expiry" -gt 0 ]; then expiry="expire at +$(( expiry - started )) ms"; else expiry="were let go"; fi
    echo "$2: the old holder's leases $expiry" >>"$work/takeovers.log"
    for _ in $(seq 1 400); do
        n="$(sql "SELECT count(*) FROM follower_leases WHERE name <> 'idempotency_purge' AND token = $1")"
        if [ "$n" -gt 0 ] && [ -z "$first" ]; then first=$(( $(now_ms) - started )); fi
        if [ "$n" != "$seen" ]; then
            echo "  +$(( $(now_ms) - started )) ms: $(sql "SELECT string_agg(name, ' ' ORDER BY name) FROM follower_leases WHERE name <> 'idempotency_purge' AND token = $1")" >>"$work/takeovers.log"
            seen="$n"
        fi
        if [ "$n" = "$followers" ]; then last=$(( $(now_ms) - started )); echo "$2: $first–$last ms" >>"$work/takeovers.log"; echo "$first–$last ms"; return; fi
        sleep 0.05
    done
    fail "$2: the leases are at $(leases)"
}

start worker a
for _ in $(seq 1 100); do all_at 1 && break; sleep 0.1; done
all_at 1 || fail "worker a did not take the leases: $(leases)"
start worker b
start api api1
start api api2
api1="http://127.0.0.1:$(cat "$work/api1.port")" api2="http://127.0.0.1:$(cat "$work/api2.port")"
inbox="$(curl -sf "$api1/v1/inboxes" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"name": "Faults", "channel_type": "sms"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["inbox_id"])')"

# A webhook receiver nobody here wrote (the Python Standard Webhooks library verifies each
# delivery), and an endpoint for every inbound message: after each phase every one of them has
# reached it, whatever the fault did to the worker delivering them.
bash deploy/python-deps.sh
echo '{"default": {"status": 200}}' >"$work/behaviour.json"
python3 tests/fixtures/webhook_receiver.py --port 0 --secret-file "$work/secret" --behaviour "$work/behaviour.json" \
    --log "$work/received.jsonl" >"$work/receiver.out" 2>>"$work/receiver.log" &
pids+=("$!"); disown "$!"
for _ in $(seq 1 100); do grep -q listening "$work/receiver.out" && break; sleep 0.1; done
receiver="http://127.0.0.1:$(awk '/listening/ {print $2}' "$work/receiver.out")/hooks"
curl -sf "$api1/v1/webhooks" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"url": "'"$receiver"'", "event_types": ["InboundMessageReceived"]}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' >"$work/secret" \
    || fail "the webhook endpoint was not created"

rows=()
phase() { # number, title, the function that injects the fault (it may set $took)
    local n="$1" title="$2" inject="$3" fault_ms verify delivered
    rm -f "$work/stop"
    python3 deploy/faults.py clients --nodes "$api1,$api2" --key "$key" --inbox "$inbox" --phase "p$n" \
        --stop "$work/stop" --out "$work/p$n.jsonl" &
    local clients=$!
    sleep "$before"
    took="–"
    fault_ms="$(now_ms)"
    "$inject"
    sleep "$after"
    touch "$work/stop"
    wait "$clients" || fail "$title: the clients failed"
    verify="$("$convo" projections verify 2>&1)" || fail "$title: $verify"
    verify="$("$convo" bus verify --wait-secs 30 2>&1)" || fail "$title: $verify"
    delivered="$(python3 deploy/faults.py webhooks --received "$work/received.jsonl" --database-url "$DATABASE_URL")" \
        || fail "$title: webhooks: see above"
    rows+=("$(python3 deploy/faults.py report --attempts "$work/p$n.jsonl" --phase "p$n" --title "$n. $title" \
        --database-url "$DATABASE_URL" --fault-ms "$fault_ms" --verify clean --takeover "$took" --webhooks "$delivered")") \
        || fail "$title: see above"
    echo "ok $n: $title (${rows[-1]})"
}

kill_api() { kill -9 "$(pid api1)"; sleep 1; start api api1 "$(cat "$work/api1.port")"; }
stop_worker() {
    kill -STOP "$(pid a)"
    took="$(takeover 2 "after SIGSTOP of a")"
    kill -CONT "$(pid a)"
    sleep 2 # its renewals come due within a second of waking: give it two to misbehave
    all_at 2 || fail "a woke up and took leases back: $(leases)"
}
kill_worker() { kill -9 "$(pid b)"; took="$(takeover 3 "after kill -9 of b")"; }
term_worker() {
    start worker c
    kill -TERM "$(pid a)"
    took="$(takeover 4 "after SIGTERM of a")"
    [ "$(echo "${took##*–}" | tr -dc 0-9)" -lt 2500 ] || fail "after SIGTERM of a, c took the leases only in $took: they were not let go"
}
restart_pg() { as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w restart >/dev/null; }
crash_pg() {
    kill -9 "$(head -n 1 "$work/pg/data/postmaster.pid")"
    sleep 1
    pg_start
}
crash_nats() { kill -9 "$(cat "$work/nats.pid")"; sleep 1; nats_start; }
term_api() { kill -TERM "$(pid api2)"; }

phase 1 "kill -9 of an API node" kill_api
phase 2 "SIGSTOP of the worker holding the leases" stop_worker
phase 3 "kill -9 of the worker holding the leases" kill_worker
phase 4 "SIGTERM of the worker holding the leases" term_worker
phase 5 "PostgreSQL restart -m fast" restart_pg
phase 6 "kill -9 of the PostgreSQL postmaster" crash_pg
phase 7 "kill -9 of NATS, restarted on its store" crash_nats
phase 8 "SIGTERM of one of two API nodes" term_api

echo
echo "| fault | commands | acknowledged | retried | answers 2xx / 4xx / 5xx / unknown | lost | duplicated | read models and stream verified | first 2xx after the fault | longest wait for a 2xx | leases taken over after | webhooks so far |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
echo; echo "Takeovers (from the fault):"; sed "s/^/  /" "$work/takeovers.log"
