#!/usr/bin/env bash
# Issue 4 interop: the gateway (`presence-gw serve`, the real binary) against an SMSC we did not
# write: node-smpp 0.5.1's server in ../shared/peers/node/smsc_server.js, with delivery receipts.
# Fills a fresh database with N queued SMS (examples/outbox_fill.rs, through the store API), runs
# the gateway on it until the node SMSC has every submit_sm and the gateway has acked every
# receipt, stops it with SIGTERM (graceful), then checks the node SMSC's counters and the
# gateway's database: every row `delivered`, every stored message id one the SMSC issued.
#   bash tests/interop/gw_node.sh            (N_GW_NODE=500 by default)
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
# Every wait is bounded; children are stopped by saved PID. Logs: tests/interop/out/gw_node/.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peers="${NODE_PEERS:-$root/../shared/peers/node}"
out="$here/out/gw_node"
rm -rf "$out"
mkdir -p "$out"
log="$out/result.log"
: >"$log"
N=${N_GW_NODE:-500}
SYSTEM_ID=presence
export PRESENCE_GW_SMSC_PASSWORD=gwnode1

. "$here/lib.sh"

# Tools are installed by install.sh; run it only when something is missing.
if [ ! -f "$here/node_modules/smpp/package.json" ] || ! command -v node >/dev/null ||
   ! command -v curl >/dev/null; then
  bash "$here/install.sh"
fi
py="$here/.venv/bin/python"
[ -x "$py" ] || py=python3
if [ ! -f "$peers/smsc_server.js" ]; then
  fail "setup: node-smpp SMSC found ($peers/smsc_server.js missing; set NODE_PEERS)"
  finish
fi

cargo_build "presence-gw and examples/outbox_fill" -p presence-gw --bin presence-gw --example outbox_fill
gw="$target_dir/debug/presence-gw"
fill="$target_dir/debug/examples/outbox_fill"

# stats : the node SMSC's counters as JSON (empty on error)
stats() { curl -s --max-time 2 "http://127.0.0.1:$stats_port/stats" || true; }
# field JSON NAME : one counter out of the stats JSON
field() { printf '%s' "$1" | "$py" -c "import json,sys; print(json.load(sys.stdin).get('$2'))" 2>/dev/null; }

# --- the node-smpp SMSC, on free loopback ports (retried if a port is taken meanwhile) --------
node_ok=0
for attempt in 1 2 3; do
  read -r smpp_port stats_port < <("$py" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()')
  NODE_PATH="$here/node_modules" node "$peers/smsc_server.js" --port "$smpp_port" \
    --stats-port "$stats_port" --dlr --max-seconds 600 >"$out/node_smsc.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
  for _ in $(seq 100); do
    [ -n "$(stats)" ] && { node_ok=1; break; }
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ "$node_ok" -eq 1 ] && break
  echo "[gw_node] node SMSC attempt $attempt failed:" >&2
  tail -n 5 "$out/node_smsc.log" >&2
done
if [ "$node_ok" -eq 1 ]; then
  pass "node-smsc: node-smpp $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$here/node_modules/smpp/package.json") SMSC on 127.0.0.1:$smpp_port (DLR on), stats on :$stats_port"
else
  fail "node-smsc: node-smpp SMSC started (see $out/node_smsc.log)"
  finish
fi

# --- a fresh database with N queued messages ------------------------------------------------
db="$out/gw.db"
if "$fill" --db "$db" --count "$N" --destinations 50 --prefix "gw_node interop #" \
  >"$out/fill.log" 2>&1; then
  pass "fill: $(cat "$out/fill.log")"
else
  fail "fill: $N messages queued (see $out/fill.log)"
  finish
fi

# --- the gateway --------------------------------------------------------------------------
t_start=$(date +%s.%N)
RUST_LOG=info,rusmpp=warn "$gw" serve --smsc "127.0.0.1:$smpp_port" --system-id "$SYSTEM_ID" \
  --db "$db" --http 127.0.0.1:0 --service-number 10658 >"$out/gw.out" 2>"$out/gw.log" &
gw_pid=$!
pids+=("$gw_pid")
http=""
for _ in $(seq 100); do
  http=$(sed -n 's|^  HTTP: *\(http://127\.0\.0\.1:[0-9]*\).*$|\1|p' "$out/gw.out")
  [ -n "$http" ] && break
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$http" ]; then
  tail -n 20 "$out/gw.log" >&2
  fail "gateway: presence-gw serve started (see $out/gw.log)"
  finish
fi
health=000
for _ in $(seq 100); do
  health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$http/health" || true)
  [ "$health" = 200 ] && break
  sleep 0.1
done
if [ "$health" = 200 ]; then
  pass "bind: gateway bound to the node SMSC (/health 200 at $http)"
else
  fail "bind: gateway bound to the node SMSC (/health answered $health; see $out/gw.log)"
fi

# wait_counter NAME TARGET SECONDS : poll the node SMSC until counter NAME >= TARGET
wait_counter() {
  local name=$1 target=$2 limit=$3 deadline=$((SECONDS + $3)) v=0
  while [ $SECONDS -lt $deadline ]; do
    v=$(field "$(stats)" "$name")
    [ "${v:-0}" != None ] && [ "${v:-0}" -ge "$target" ] 2>/dev/null && { echo "$v"; return 0; }
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "${v:-0}"
  return 1
}

if got=$(wait_counter submit_sm "$N" 60); then
  t_sent=$(date +%s.%N)
  pass "submits: node SMSC received $got submit_sm for $N queued rows ($(
    "$py" -c "print(f'{$t_sent - $t_start:.1f}')")s from gateway start)"
else
  fail "submits: node SMSC received $N submit_sm (only $got within 60s; see $out/gw.log)"
fi
if got=$(wait_counter dlr_acked "$N" 60); then
  pass "receipts: node SMSC sent $N DLRs and the gateway acked $got with status 0"
else
  fail "receipts: gateway acked $N DLRs (only $got within 60s; see $out/gw.log)"
fi

# --- graceful stop (SIGTERM): in-flight rows finished or requeued, unbind, store closed -------
kill -TERM "$gw_pid" 2>/dev/null
rc=""
for _ in $(seq 300); do
  if ! kill -0 "$gw_pid" 2>/dev/null; then
    wait "$gw_pid"
    rc=$?
    break
  fi
  sleep 0.1
done
if [ "$rc" = 0 ]; then
  pass "stop: gateway exited 0 after SIGTERM"
else
  fail "stop: gateway exited 0 after SIGTERM (exit ${rc:-none within 30s})"
fi
if grep -qi 'panick' "$out/gw.log"; then
  fail "gateway: no panic in $out/gw.log"
fi

# --- the node SMSC's view -----------------------------------------------------------------
s=$(stats)
echo "$s" >"$out/node_stats.json"
check_counter() { # check_counter NAME WANT WHAT
  local v
  v=$(field "$s" "$1")
  if [ "$v" = "$2" ]; then pass "node-stats: $1 = $2 ($3)"; else fail "node-stats: $1 = $2 ($3; got $v)"; fi
}
check_counter submit_sm "$N" "exactly one submit per row: no duplicate, none lost"
check_counter registered_delivery "$N" "every submit asked for a receipt"
check_counter dlr_sent "$N" "a receipt for every submit"
check_counter dlr_acked "$N" "every receipt acked"
check_counter binds 1 "one transceiver bind, no reconnect"
check_counter unbinds 1 "the gateway unbound on SIGTERM"
check_counter errors 0 "no session error"
check_counter other_pdus 0 "no PDU node-smpp does not expect"

# --- the gateway's database -----------------------------------------------------------------
counts=$("$gw" outbox list --db "$db" --limit 0 2>>"$out/gw.log" | head -n 1)
echo "$counts" >"$out/outbox_counts.txt"
if [[ "$counts" == *"queued 0, in_flight 0, submitted 0, delivered $N, failed 0, expired 0"* ]]; then
  pass "outbox: presence-gw outbox list: all $N rows delivered ($counts)"
else
  fail "outbox: presence-gw outbox list: all $N rows delivered (got: ${counts:-nothing})"
fi
# Directly in SQLite (read-only): one segment per row, delivered by a receipt, carrying one of
# the ids node-smpp issued (hex 1..N, one each), nothing left in pending_receipt.
"$py" - "$db" "$N" <<'EOF' | tee -a "$log"
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
def check(name, ok, what, why=""):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {what}" + ("" if ok else f" ({why})"))
states = dict(c.execute("SELECT state, count(*) FROM outbox GROUP BY state"))
check("db-rows", states == {"delivered": n}, f"{n} outbox rows, all delivered", f"got {states}")
segs = c.execute("SELECT outbox_id, seq, total, smsc_message_id_raw, state, receipt_stat, attempt "
                 "FROM outbox_segment").fetchall()
per_row = {}
for s in segs:
    per_row.setdefault(s[0], []).append(s)
one_each = len(per_row) == n and all(len(v) == 1 and v[0][1] == 1 and v[0][2] == 1 for v in per_row.values())
check("db-segments", one_each, f"one single-part segment per row ({len(segs)} segments)",
      f"{len(per_row)} rows with segments, {len(segs)} segments")
bad = [s for s in segs if s[4] != "delivered" or s[5] != "DELIVRD" or s[6] != 1]
by_id = {s[3]: s for s in segs}
def other_base(i):
    # the forms sms_wire::receipt::message_id_variants also tries: hex<->decimal
    out = []
    if i.isdigit():
        out.append(format(int(i), "x"))
    out.append(str(int(i, 16)))
    return [v for v in out if v != i]
hints = []
for s in bad[:3]:
    clash = [f"{v} (row {by_id[v][0]}, {by_id[v][4]})" for v in other_base(s[3]) if v in by_id]
    hints.append(f"row {s[0]} id {s[3]} {s[4]}" + (f"; its receipt id read in the other base is "
                 f"another row's id: {', '.join(clash)}" if clash else ""))
check("db-receipts", not bad, "every segment delivered by a DELIVRD receipt on the first attempt",
      f"{len(bad)} not: {'; '.join(hints)}")
ids = sorted(s[3] for s in segs)
want = sorted(format(i, "x") for i in range(1, n + 1))
check("db-message-ids", ids == want, "stored message ids are exactly the ids node-smpp issued (hex 1..N)",
      f"first differences: {[p for p in zip(ids, want) if p[0] != p[1]][:3]}")
pending = c.execute("SELECT count(*) FROM pending_receipt").fetchone()[0]
check("db-pending", pending == 0, "no receipt left unmatched", f"{pending} held")
EOF
finish
