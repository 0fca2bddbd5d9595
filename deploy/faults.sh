#!/usr/bin/env bash
# The multi-node fault suite (#16, decision 0003): two `convo serve --role worker` processes and
# one `--role api` on one PostgreSQL (a scratch database on the server at CONVO_FAULTS_PG, default
# the local one; the processes are this script's own). It stops the workers the two ways they die
# in production and checks what a user would notice:
#   1. one worker holds every follower's lease;
#   2. SIGSTOP of the holder: the other takes every lease over within TTL + TTL/5 (measured),
#      and the API node keeps taking commands and reading its own writes;
#   3. SIGCONT: the stalled worker wakes up and writes nothing (the leases stay where they are);
#   4. kill -9 of the new holder: the first takes over again (measured);
#   5. SIGTERM of the holder (a rolling deploy): it lets its leases go as it stops, and a new
#      worker takes over within a renewal period, without waiting for them to expire;
#   6. every acknowledged command is in the log once, and every read model equals a rebuild.
# Prints one line per check and the takeover times; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convo-target}"
cargo build --quiet -p convo-cli
convo="$CARGO_TARGET_DIR/debug/convo"
server="${CONVO_FAULTS_PG:-postgres://postgres@127.0.0.1:5432}"
db="convo_faults_$$"
export DATABASE_URL="$server/$db"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -5 "$f"; done; exit 1; }
sql() { psql "$DATABASE_URL" -AtXc "$1"; }
now_ms() { date +%s%3N; }

psql "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
"$convo" migrate >/dev/null 2>&1
ws="$("$convo" workspaces create faults 2>/dev/null | tail -n 1)"
key="$("$convo" keys create --workspace "$ws" --scope admin 2>&1 | grep -o 'cvk_[A-Za-z0-9_]*' | head -n 1)"
auth="Authorization: Bearer $key"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # role, name → pid
    local p; p="$(port)"
    "$convo" serve --role "$1" --listen "127.0.0.1:$p" >"$work/$2.log" 2>&1 &
    pids+=("$!"); echo "$!" >"$work/$2.pid"; echo "$p" >"$work/$2.port"
    disown "$!" # its kill -9 is the point, not news
    for _ in $(seq 1 100); do curl -sf "127.0.0.1:$p/healthz" >/dev/null && return; sleep 0.1; done
    fail "$2 did not start"
}
# The followers' leases (the hourly key purge's has a two-hour TTL and is left out).
tokens() { sql "SELECT string_agg(name || '=' || token, ' ' ORDER BY name) FROM follower_leases WHERE name <> 'idempotency_purge'"; }
all_tokens_are() { [ "$(sql "SELECT count(*) FROM follower_leases WHERE name <> 'idempotency_purge' AND token = $1")" = 6 ]; }
wait_for_tokens() { # token, what → milliseconds it took
    local started; started="$(now_ms)"
    for _ in $(seq 1 300); do all_tokens_are "$1" && { echo $(( $(now_ms) - started )); return; }; sleep 0.05; done
    fail "$2: the leases are at $(tokens)"
}

start worker a
for _ in $(seq 1 100); do all_tokens_are 1 && break; sleep 0.1; done
all_tokens_are 1 || fail "worker a did not take the leases: $(tokens)"
start worker b
start api api
api="127.0.0.1:$(cat "$work/api.port")"
inbox="$(curl -sf "$api/v1/inboxes" -H "$auth" -H 'content-type: application/json' \
    -d '{"name": "Faults", "channel_type": "sms"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["inbox_id"])')"
sent=0
send_and_read() { # n commands, each followed by a read of its own write on the API node
    for _ in $(seq 1 "$1"); do
        sent=$((sent + 1))
        local answer position
        answer="$(curl -sf "$api/v1/inbound-messages" -H "$auth" -H 'content-type: application/json' \
            -d '{"inbox_id": "'"$inbox"'", "contact_id": "+49170000'"$((sent % 7))"'", "sent_at": "'"$(date -u +%FT%TZ)"'",
                 "content": {"type": "text", "body": "message '"$sent"'"}}')" || fail "command $sent was refused"
        position="$(echo "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["position"])')"
        curl -sf "$api/v1/conversations?min_position=$position" -H "$auth" >/dev/null \
            || fail "the API node did not read its write at $position"
    done
}
send_and_read 20
echo "ok 1: worker a holds every lease ($(tokens)); 20 commands read back on the API node"

kill -STOP "$(cat "$work/a.pid")"
took="$(wait_for_tokens 2 "after SIGSTOP of a")"
send_and_read 20
echo "ok 2: SIGSTOP of a: b took every lease over in $took ms (bound: TTL 5 s + 1 s); 20 more commands read back"

kill -CONT "$(cat "$work/a.pid")"
sleep 3 # a's renewals come due within a second of waking; give it three to misbehave
all_tokens_are 2 || fail "a woke up and took leases back: $(tokens)"
send_and_read 10
echo "ok 3: a woke up and wrote nothing: the leases stay with b ($(tokens))"

kill -9 "$(cat "$work/b.pid")"
took="$(wait_for_tokens 3 "after kill -9 of b")"
send_and_read 20
echo "ok 4: kill -9 of b: a took every lease over in $took ms; 20 more commands read back"

start worker c
kill -TERM "$(cat "$work/a.pid")"
took="$(wait_for_tokens 4 "after SIGTERM of a")"
[ "$took" -lt 2500 ] || fail "after SIGTERM of a, c took the leases over only in $took ms: they were not released"
send_and_read 10
echo "ok 5: SIGTERM of a: it let its leases go, c took them over in $took ms; 10 more commands read back"

inbound="$(sql "SELECT count(*) FROM events WHERE event_type = 'InboundMessageReceived'")"
[ "$inbound" = "$sent" ] || fail "$sent commands acknowledged, $inbound in the log"
verify="$("$convo" projections verify 2>/dev/null)" || fail "verify: $verify"
echo "ok 6: all $sent acknowledged commands are in the log once; every read model equals a rebuild"
