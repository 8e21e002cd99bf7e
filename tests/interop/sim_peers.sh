#!/usr/bin/env bash
# Issue 3 interop: third-party SMPP clients against our simulator smsc-sim.
#   python smpplib 2.2.4  -> sim_smpplib.py   (1000 submits + receipts, long MO, auth errors)
#   node smpp 0.5.1       -> sim_node.js      (500 submits + receipts, enquire_link, long MO, window)
#   Kannel 1.4.5          -> sim_kannel.py    (bearerbox+smsbox transceiver: sendsms -> handsets,
#                                               DLRs -> dlr-url, MO -> get-url -> reply MT)
# Builds smsc-sim (debug: `cargo test --workspace` has built it already in CI), starts three
# simulators on 127.0.0.1 (ports chosen by the OS), bearerbox and smsbox, runs the peers, and stops
# everything it started by saved PID. Every wait is bounded.
#   bash tests/interop/sim_peers.sh
# SIM_HEX_LOG=1 also writes every PDU each simulator read or sent to out/sim_peers/NAME.hex
# (`smsc-sim --hex-log`): fixtures/pdus/capture.sh takes its third-party PDUs from there.
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
# Logs: tests/interop/out/sim_peers/ (simulator, Kannel, per-peer output).
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/sim_peers"
rm -rf "$out"
mkdir -p "$out"
log="$out/result.log"
: >"$log"
N_SMPPLIB=${N_SMPPLIB:-1000}
N_NODE=${N_NODE:-500}
N_KANNEL=${N_KANNEL:-200}
WINDOW=4

. "$here/lib.sh"

# Tools are installed by install.sh; run it only when something is missing.
py="$here/.venv/bin/python"
if ! "$py" -c 'import smpplib, gsm0338' 2>/dev/null || [ ! -f "$here/node_modules/smpp/package.json" ] \
   || [ ! -x /usr/sbin/bearerbox ] || [ ! -x /usr/sbin/smsbox ] || ! command -v node >/dev/null; then
  bash "$here/install.sh"
fi

echo "[sim_peers] cargo build -p smsc-sim"
t0=$SECONDS
if (cd "$root" && cargo build --quiet -p smsc-sim) >"$out/build.log" 2>&1; then
  pass "build: smsc-sim built ($((SECONDS - t0))s)"
else
  cat "$out/build.log" >&2
  fail "build: smsc-sim built (cargo build failed, see above)"
  finish
fi
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
sim="${target_dir:-$root/target}/debug/smsc-sim"

# start_sim NAME ARGS... : start `smsc-sim serve` on OS-chosen ports; sets SIM_SMPP, SIM_HTTP.
start_sim() {
  local name=$1
  shift
  local hex=()
  [ "${SIM_HEX_LOG:-0}" = 1 ] && hex=(--hex-log "$out/$name.hex")
  "$sim" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 "${hex[@]}" "$@" >"$out/$name.log" 2>"$out/$name.err" &
  pids+=($!)
  SIM_SMPP="" SIM_HTTP=""
  for _ in $(seq 100); do
    SIM_SMPP=$(sed -n 's/^smsc-sim: SMPP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/$name.err")
    SIM_HTTP=$(sed -n 's/^smsc-sim: control API and console on \(http:\/\/127\.0\.0\.1:[0-9]*\).*$/\1/p' "$out/$name.err")
    [ -n "$SIM_SMPP" ] && [ -n "$SIM_HTTP" ] && return 0
    sleep 0.1
  done
  return 1
}

# main simulator (smpplib, node), one with a small window and delayed responses (node), and one
# for Kannel (so that MO round-robin never mixes peers and Kannel starts while the others run)
common=(--max-records 100000)
if start_sim sim_main "${common[@]}" --account smpplib:secret1 --account nodesmpp:secret2; then
  main_smpp=$SIM_SMPP main_http=$SIM_HTTP
  pass "sim_main: smsc-sim serving SMPP on 127.0.0.1:$main_smpp, HTTP on $main_http"
else
  fail "sim_main: smsc-sim started (no listen line in $out/sim_main.err)"
  finish
fi
if start_sim sim_window "${common[@]}" --account nodesmpp:secret2 --window $WINDOW --delay 500; then
  win_smpp=$SIM_SMPP
  pass "sim_window: smsc-sim --window $WINDOW --delay 500 serving SMPP on 127.0.0.1:$win_smpp"
else
  fail "sim_window: smsc-sim started (no listen line in $out/sim_window.err)"
  finish
fi
kannel_ok=0
if start_sim sim_kannel "${common[@]}" --account kannel:kannel; then
  k_smpp=$SIM_SMPP k_http=$SIM_HTTP
  pass "sim_kannel: smsc-sim serving SMPP on 127.0.0.1:$k_smpp, HTTP on $k_http"
  # four free loopback ports for bearerbox admin, bearerbox<->smsbox, sendsms, and our sink
  read -r p_admin p_box p_sendsms p_sink < <("$py" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()')
  sed -e "s|@ADMIN_PORT@|$p_admin|g" -e "s|@SMSBOX_PORT@|$p_box|g" -e "s|@SENDSMS_PORT@|$p_sendsms|g" \
      -e "s|@SINK_PORT@|$p_sink|g" -e "s|@SIM_SMPP_PORT@|$k_smpp|g" -e "s|@OUT@|$out|g" \
      "$here/sim_kannel.conf" >"$out/kannel.conf"
  /usr/sbin/bearerbox -v 2 "$out/kannel.conf" >"$out/bearerbox.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p_box") 2>/dev/null && break
    sleep 0.1
  done
  /usr/sbin/smsbox -v 2 "$out/kannel.conf" >"$out/smsbox.out" 2>&1 &
  pids+=($!)
  kannel_ok=1
else
  fail "sim_kannel: smsc-sim started (no listen line in $out/sim_kannel.err)"
fi

# run_peer NAME TIMEOUT CMD... : run a peer, tee its PASS/FAIL lines, fail it if it dies silently
run_peer() {
  local name=$1 limit=$2 rc t0=$SECONDS
  shift 2
  echo "[sim_peers] $name: $*"
  timeout -k 5 "$limit" "$@" 2>"$out/$name.stderr" | tee "$out/$name.out" | tee -a "$log"
  rc=${PIPESTATUS[0]}
  echo "[sim_peers] $name: exit $rc after $((SECONDS - t0))s"
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out/$name.out"; then
    tail -n 20 "$out/$name.stderr" >&2
    fail "$name run: exited 0 (exit $rc, see $out/$name.stderr)"
  fi
}

run_peer smpplib 150 "$py" "$here/sim_smpplib.py" --port "$main_smpp" --http "$main_http" \
  --n "$N_SMPPLIB" --timeout 140
run_peer node 150 node "$here/sim_node.js" --port "$main_smpp" --http "$main_http" \
  --window-port "$win_smpp" --window-size $WINDOW --n "$N_NODE" --timeout 140
if [ "$kannel_ok" -eq 1 ]; then
  run_peer kannel 200 "$py" "$here/sim_kannel.py" --http "$k_http" --admin-port "$p_admin" \
    --sendsms-port "$p_sendsms" --sink-port "$p_sink" --n "$N_KANNEL" --timeout 190
fi

# the simulators must have survived everything the peers sent
for name in sim_main sim_window sim_kannel; do
  if grep -qi 'panick' "$out/$name.err" "$out/$name.log" 2>/dev/null; then
    fail "$name: no panic in the simulator log (see $out/$name.err)"
  fi
done
finish
