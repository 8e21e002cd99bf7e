#!/usr/bin/env bash
# Deployment check: deploy/presence-gw.service judged by systemd's own tools, and its command
# lines run the way systemd runs them; deploy/prometheus/alerts.yml judged by promtool.
#   - `systemd-analyze verify` accepts the unit (paths pointed at the built binary);
#   - `systemd-analyze security --offline` rates its exposure at most 2.0 ("OK");
#   - deploy/README.md's install steps install every file the unit names;
#   - its ExecStartPre (`check-config`) passes the example config made a production one and
#     refuses a config with an unknown key, naming it;
#   - its ExecStart, run in its WorkingDirectory with its EnvironmentFile's variables, binds to
#     an SMSC (smsc-sim with an account whose password only the env file holds), creates the
#     database under the working directory, answers a subscriber's HELP, takes the operator
#     API key from the key file (api_key_file, as deploy/README.md sets it up), never logs the
#     password or a key, reloads its config on the unit's ExecReload (SIGHUP; RELOADING=1 then
#     READY=1) and runs on, rotates the API key moved into the key file on a second reload
#     (the config unchanged), and exits 0 on SIGTERM within the unit's TimeoutStopSec;
#   - run again under strace as an unprivileged user, every system call it makes is one the
#     unit's SystemCallFilter allows, none breaks MemoryDenyWriteExecute or
#     RestrictAddressFamilies.
#   bash tests/interop/deploy.sh
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
# Logs and the fake /etc and /var/lib: tests/interop/out/deploy/.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/deploy"
rm -rf "$out"
mkdir -p "$out"
log="$out/result.log"
: >"$log"

. "$here/lib.sh"

if ! command -v systemd-analyze >/dev/null || ! command -v promtool >/dev/null ||
   ! command -v strace >/dev/null || ! command -v curl >/dev/null; then
  bash "$here/install.sh"
fi

cargo_build "presence-gw and smsc-sim" -p presence-gw --bin presence-gw -p smsc-sim --bin smsc-sim
gw="$target_dir/debug/presence-gw"
sim="$target_dir/debug/smsc-sim"

# free_ports N : N free loopback TCP ports
free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()' "$1"
}
read -r smpp_port sim_http gw_http < <(free_ports 3)

# --- the unit, its paths moved under $out -------------------------------------------------
etc="$out/etc/presence-gw"
state="$out/state"
mkdir -p "$etc" "$state"
unit="$out/presence-gw.service"
# The unit alone (as an upgrade over an install without the key file has it), then with the
# key file's drop-in (deploy/presence-gw.service.d/api-key-file.conf) merged in, as systemd
# merges a drop-in's [Service] lines: the latter is what the checks below judge.
bare="$out/bare/presence-gw.service"
mkdir -p "$out/bare"
sed -e "s#/usr/local/bin/presence-gw#$gw#g" -e "s#/etc/presence-gw#$etc#g" \
  -e "s#/var/lib/presence-gw#$state#g" "$root/deploy/presence-gw.service" >"$bare"
cat "$bare" "$root/deploy/presence-gw.service.d/api-key-file.conf" >"$unit"

for u in "$bare" "$unit"; do
  what="deploy/presence-gw.service"
  [ "$u" = "$unit" ] && what="$what with its api-key-file.conf drop-in"
  if systemd-analyze verify "$u" >"$out/verify.log" 2>&1; then
    pass "verify: systemd-analyze verify accepts $what"
  else
    cat "$out/verify.log" >&2
    fail "verify: systemd-analyze verify accepts $what (see $out/verify.log)"
  fi
done
systemd-analyze security --offline=true --threshold=20 "$unit" >"$out/security.log" 2>&1
rc=$?
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$out/security.log")
if [ "$rc" -eq 0 ] && [ -n "$exposure" ]; then
  pass "security: exposure $exposure (at most 2.0)"
else
  tail -n 40 "$out/security.log" >&2
  fail "security: exposure ${exposure:-unknown} (at most 2.0; see $out/security.log)"
fi

# The Prometheus alert rules shipped beside the unit (their metric names are checked against a
# real scrape by tests/core.rs).
if promtool check rules "$root/deploy/prometheus/alerts.yml" >"$out/promtool.log" 2>&1; then
  pass "alerts: promtool check rules deploy/prometheus/alerts.yml ($(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$out/promtool.log") rules)"
else
  cat "$out/promtool.log" >&2
  fail "alerts: promtool check rules deploy/prometheus/alerts.yml (see $out/promtool.log)"
fi

# Every file the unit names (its commands, the config, the env file, the documentation) is one
# deploy/README.md's install steps put there: a unit pointing at a file the steps never install
# fails to start, or (Documentation=) sends `systemctl help` nowhere.
if missing=$(python3 - "$root/deploy/presence-gw.service" "$root/deploy/README.md" <<'PY'
import re, sys
unit, readme = (open(p).read() for p in sys.argv[1:3])
named = set()
for key, value in re.findall(r"^(\w+)=(.*)$", unit, re.M):
    if key in ("ExecStart", "ExecStartPre", "EnvironmentFile"):
        named |= {w.lstrip("-") for w in value.split() if w.lstrip("-").startswith("/")}
    elif key == "Documentation":
        named |= {w[len("file://"):] for w in value.split() if w.startswith("file://")}
block = re.search(r"## Install.*?```sh\n(.*?)```", readme, re.S).group(1)
installed = {l.split("#")[0].split()[-1] for l in block.splitlines()
             if l.strip().startswith("install ") and not re.search(r"\binstall\s+-d\b", l)}
missing = sorted(named - installed)
print(" ".join(missing) if missing else f"{len(named)} files")
sys.exit(1 if missing else 0)
PY
); then
  pass "install: deploy/README.md installs every file the unit names ($missing)"
else
  fail "install: deploy/README.md does not install what the unit names: $missing"
fi

# unit_value KEY : the value of KEY= in the unit (first one)
unit_value() { sed -n "s/^$1=//p" "$unit" | head -n 1; }

# --- config and secrets, as deploy/README.md installs them ----------------------------------
password="Dpl$RANDOM"
# The env file as deploy/env.example has it: the bind password, no API key.
sed -e "s#^PRESENCE_GW_SMSC_PASSWORD=.*#PRESENCE_GW_SMSC_PASSWORD=$password#" \
  "$root/deploy/env.example" >"$etc/env"
grep -q "^PRESENCE_GW_SMSC_PASSWORD=$password$" "$etc/env" ||
  fail "env: deploy/env.example's PRESENCE_GW_SMSC_PASSWORD line was found and replaced"
# The operator API key in its own file, 0640 (root and the service's group).
api_key="deploy-key-$RANDOM-0123456789"
install -m 0640 /dev/null "$etc/api_key"
echo "$api_key" >"$etc/api_key"
# The example config, made a production one: the SMSC's address, HTTP port, no password, the
# key file.
sed -e "s#^address = \"127.0.0.1:2775\"#address = \"127.0.0.1:$smpp_port\"#" \
  -e "s#^http = \"127.0.0.1:8080\"#http = \"127.0.0.1:$gw_http\"#" \
  -e "s#^\# api_key_file = \"/etc/presence-gw/api_key\"#api_key_file = \"$etc/api_key\"#" \
  -e '/^password = /d' "$root/presence-gw.example.toml" >"$etc/presence-gw.toml"
grep -q "127.0.0.1:$smpp_port" "$etc/presence-gw.toml" &&
  grep -q "127.0.0.1:$gw_http" "$etc/presence-gw.toml" &&
  grep -q "^api_key_file = \"$etc/api_key\"" "$etc/presence-gw.toml" ||
  fail "config: the example's [smsc] address, http and api_key_file lines were found and replaced"

# run_line KEY : become the unit's KEY= command line (no shell: split on spaces, as systemd
# does for these), in its WorkingDirectory, with its EnvironmentFile's variables. It execs:
# call it in a subshell, `(run_line KEY)`, or in the background, `run_line KEY &` (then `$!`
# is the command itself, as systemd's main PID is).
run_line() {
  local line
  line=$(unit_value "$1")
  read -r -a argv <<<"$line"
  cd "$(unit_value WorkingDirectory)" || exit 99
  set -a
  . "$(unit_value EnvironmentFile)"
  set +a
  exec "${wrap[@]}" "${argv[@]}"
}
wrap=()

if (run_line ExecStartPre) >"$out/check.log" 2>&1; then
  pass "ExecStartPre: check-config passes the production config"
else
  cat "$out/check.log" >&2
  fail "ExecStartPre: check-config passes the production config (see $out/check.log)"
fi
cp "$etc/presence-gw.toml" "$out/good.toml"
sed -i '1i retry_for_ever = true' "$etc/presence-gw.toml"
if (run_line ExecStartPre) >"$out/check-bad.log" 2>&1; then
  fail "ExecStartPre: check-config refuses an unknown key (it passed)"
elif grep -q "retry_for_ever" "$out/check-bad.log"; then
  pass "ExecStartPre: check-config refuses an unknown key and names it"
else
  cat "$out/check-bad.log" >&2
  fail "ExecStartPre: check-config refuses an unknown key and names it (see $out/check-bad.log)"
fi
cp "$out/good.toml" "$etc/presence-gw.toml"

# --- the SMSC: smsc-sim with an account only the env file's password opens -----------------
"$sim" serve --smpp "127.0.0.1:$smpp_port" --http "127.0.0.1:$sim_http" \
  --account "presence:$password" >"$out/sim.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$sim_http/" && break
  sleep 0.1
done

# --- systemd's notify socket (Type=notify): what the gateway tells it ------------------------
notify="$out/notify.sock"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], "a") as out:
    while True:
        try:
            data = s.recv(4096)
        except socket.timeout:
            break
        out.write(data.decode())
        out.flush()
' "$notify" "$out/notify.log" &
pids+=("$!")
for _ in $(seq 50); do [ -S "$notify" ] && break; sleep 0.1; done

# --- the gateway, as ExecStart ----------------------------------------------------------------
NOTIFY_SOCKET="$notify" run_line ExecStart >"$out/gw.out" 2>"$out/gw.log" &
gw_pid=$!
pids+=("$gw_pid")
health=""
for _ in $(seq 150); do
  health=$(curl -s --max-time 1 "http://127.0.0.1:$gw_http/health" || true)
  case "$health" in *'"smsc":"bound"'*) break ;; esac
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.2
done
case "$health" in
  *'"smsc":"bound"'*) pass "ExecStart: the gateway bound with the env file's password ($health)" ;;
  *)
    tail -n 20 "$out/gw.log" >&2
    fail "ExecStart: the gateway bound with the env file's password (/health: ${health:-none}; see $out/gw.log)"
    ;;
esac
if [ "$(unit_value Type)" = notify ] && grep -q '^READY=1$' "$out/notify.log" 2>/dev/null; then
  pass "Type=notify: the gateway told systemd READY=1 once up"
else
  fail "Type=notify: the gateway told systemd READY=1 once up (unit Type=$(unit_value Type); got: $(tr '\n' ' ' <"$out/notify.log" 2>/dev/null))"
fi
if [ -f "$state/data/presence-gw.db" ]; then
  pass "ExecStart: the database is in the working directory ($state/data/presence-gw.db)"
else
  fail "ExecStart: the database is in the working directory (no $state/data/presence-gw.db)"
fi

# A subscriber texts HELP; the reply reaches the handset.
curl -s --max-time 2 "http://127.0.0.1:$sim_http/mo" -H 'content-type: application/json' \
  -d '{"from":"+8613800138000","to":"10658","text":"HELP"}' >"$out/mo.log" 2>&1
reply=""
for _ in $(seq 50); do
  reply=$(curl -s --max-time 1 "http://127.0.0.1:$sim_http/handsets/+8613800138000" |
    python3 -c 'import json,sys
try:
    print(json.load(sys.stdin)["inbox"][-1]["text"])
except Exception:
    pass' 2>/dev/null)
  [ -n "$reply" ] && break
  sleep 0.2
done
case "$reply" in
  *STATUS*) pass "ExecStart: a subscriber's HELP is answered (\"${reply:0:60}...\")" ;;
  *) fail "ExecStart: a subscriber's HELP is answered (handset got: ${reply:-nothing})" ;;
esac

# The operator API, with the key file's key.
api_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer $1" \
    "http://127.0.0.1:$gw_http/api/v1/log"
}
if [ "$(api_status "$api_key")" = 200 ] && [ "$(api_status "wrong-key-0123456789abc")" = 403 ]; then
  pass "api_key_file: the operator API takes the key file's key (200), not another (403)"
else
  fail "api_key_file: the operator API takes the key file's key (got $(api_status "$api_key"))"
fi

# --- systemctl reload: ExecReload with $MAINPID, as systemd runs it ------------------------------
sed -i 's/^max_rate = .*/max_rate = 40/' "$etc/presence-gw.toml"
reload_cmd=$(unit_value ExecReload | sed "s/\$MAINPID/$gw_pid/")
if $reload_cmd; then
  for _ in $(seq 50); do
    grep -q 'config reloaded' "$out/gw.log" && break
    sleep 0.1
  done
fi
if grep -q 'smsc.max_rate applied.*to=40 msg/s' "$out/gw.log" && grep -q 'config reloaded' "$out/gw.log" &&
   kill -0 "$gw_pid" 2>/dev/null; then
  pass "ExecReload: '$reload_cmd' reloads the config (max_rate 40 applied), the gateway runs on"
else
  fail "ExecReload: '$reload_cmd' reloads the config and the gateway runs on (see $out/gw.log)"
fi
if awk '/^RELOADING=1$/ { r = 1 } r && /^READY=1$/ { ok = 1 } END { exit !ok }' "$out/notify.log" 2>/dev/null; then
  pass "Type=notify: RELOADING=1, then READY=1, around the reload"
else
  fail "Type=notify: RELOADING=1, then READY=1, around the reload (got: $(tr '\n' ' ' <"$out/notify.log" 2>/dev/null))"
fi

# Rotating the API key as deploy/README.md says: a new key moved over the key file, the config
# unchanged, ExecReload.
new_key="deploy-new-key-$RANDOM-9876543210"
install -m 0640 /dev/null "$etc/api_key.new"
echo "$new_key" >"$etc/api_key.new"
mv "$etc/api_key.new" "$etc/api_key"
if $reload_cmd; then
  for _ in $(seq 50); do
    [ "$(grep -c 'config reloaded' "$out/gw.log")" -ge 2 ] && break
    sleep 0.1
  done
fi
if grep -q 'config reload: api_key_file applied' "$out/gw.log" &&
   [ "$(api_status "$new_key")" = 200 ] && [ "$(api_status "$api_key")" = 403 ]; then
  pass "ExecReload: a new key moved into the key file is rotated (new 200, old 403), the config unchanged"
else
  fail "ExecReload: a new key moved into the key file is rotated (new $(api_status "$new_key"), old $(api_status "$api_key"); see $out/gw.log)"
fi

# --- SIGTERM, as systemctl stop sends it ---------------------------------------------------------
stop_secs=$(unit_value TimeoutStopSec)
t0=$SECONDS
kill -"$(unit_value KillSignal | sed 's/^SIG//')" "$gw_pid"
code=""
for _ in $(seq $((stop_secs * 10))); do
  if ! kill -0 "$gw_pid" 2>/dev/null; then
    wait "$gw_pid"
    code=$?
    break
  fi
  sleep 0.1
done
if [ "$code" = 0 ]; then
  pass "stop: SIGTERM, exit 0 after $((SECONDS - t0)) s (TimeoutStopSec=$stop_secs)"
else
  fail "stop: SIGTERM, exit 0 within TimeoutStopSec=$stop_secs (exit ${code:-none: still running})"
fi
if grep -q '^STOPPING=1$' "$out/notify.log" 2>/dev/null; then
  pass "Type=notify: STOPPING=1 at SIGTERM"
else
  fail "Type=notify: STOPPING=1 at SIGTERM (got: $(tr '\n' ' ' <"$out/notify.log" 2>/dev/null))"
fi
if grep -q -e "$password" -e "$api_key" -e "$new_key" "$out/gw.log" "$out/gw.out" "$out/check.log"; then
  fail "secrets: the bind password or an API key appears in the gateway's output"
else
  pass "secrets: neither the bind password nor an API key appears in the gateway's output"
fi

# --- what the hardening refuses: every system call the gateway makes, traced ------------------
# SystemCallFilter= with SystemCallErrorNumber=EPERM makes any call outside the list fail (no
# crash, no journal line: whatever needed it just breaks), MemoryDenyWriteExecute refuses
# writable-executable memory and making memory executable, RestrictAddressFamilies other
# sockets. The gateway runs once more under strace, as an unprivileged user as under
# DynamicUser (root's own calls, such as SQLite's fchown of a file it creates, do not happen
# there; the state directory is chowned to it, as systemd does), through the same work: bind,
# a HELP answered, /metrics, SIGTERM. Every call it made must be one the unit's filter allows,
# as `systemd-analyze syscall-filter` expands its groups.
if ! command -v strace >/dev/null; then
  fail "syscalls: strace is missing (tests/interop/install.sh installs it)"
else
  trace="$out/syscalls.trace"
  wrap=(strace -f -qq -o "$trace")
  if [ "$(id -u)" = 0 ]; then
    chown -R 65534:65534 "$state"
    # The key file's group is the service's (SupplementaryGroups= in the unit's drop-in).
    chgrp 65534 "$etc/api_key"
    wrap+=(-u nobody)
  fi
  run_line ExecStart >"$out/gw-traced.out" 2>"$out/gw-traced.log" &
  tracer=$!
  pids+=("$tracer")
  wrap=()
  health=""
  for _ in $(seq 150); do
    health=$(curl -s --max-time 1 "http://127.0.0.1:$gw_http/health" || true)
    case "$health" in *'"smsc":"bound"'*) break ;; esac
    kill -0 "$tracer" 2>/dev/null || break
    sleep 0.2
  done
  curl -s --max-time 2 "http://127.0.0.1:$sim_http/mo" -H 'content-type: application/json' \
    -d '{"from":"+8613800138001","to":"10658","text":"HELP"}' >/dev/null 2>&1
  answered=""
  for _ in $(seq 50); do
    if curl -s --max-time 1 "http://127.0.0.1:$sim_http/handsets/+8613800138001" | grep -q STATUS; then
      answered=yes
      break
    fi
    sleep 0.2
  done
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$gw_http/metrics"
  traced_gw=$(ps -o pid= --ppid "$tracer" | tr -d ' ' | head -n 1)
  [ -n "$traced_gw" ] && kill -TERM "$traced_gw"
  for _ in $(seq 100); do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
  case "$health" in
    *'"smsc":"bound"'*) [ -n "$answered" ] ||
      fail "syscalls: the traced gateway answered a HELP (see $out/gw-traced.log)" ;;
    *) fail "syscalls: the traced gateway bound (see $out/gw-traced.log)" ;;
  esac
  # The unit's SystemCallFilter= lines (allowed, then ~refused), MemoryDenyWriteExecute and
  # RestrictAddressFamilies, held against the trace (from the gateway's execve on).
  if verdict=$(python3 - "$unit" "$trace" "$gw" <<'PY'
import re, subprocess, sys
from functools import lru_cache

unit, trace, binary = sys.argv[1:4]
lines = open(unit).read().splitlines()
value = lambda key: [l.split("=", 1)[1] for l in lines if l.startswith(key + "=")]

@lru_cache(None)
def expand(name):
    if not name.startswith("@"):
        return frozenset([name])
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for l in out.splitlines()[1:]:
        l = l.strip()
        if l and not l.startswith("#"):
            names |= expand(l)
    return frozenset(names)

allowed, refused = set(), set()
for v in value("SystemCallFilter"):
    deny = v.startswith("~")
    for name in v.lstrip("~").split():
        (refused if deny else allowed).update(expand(name))
allowed -= refused
families = set(" ".join(value("RestrictAddressFamilies")).split())
mdwe = value("MemoryDenyWriteExecute") == ["yes"]

text = open(trace).read().splitlines()
start = next((i for i, l in enumerate(text) if f'execve("{binary}"' in l), None)
if start is None:
    print("no execve of the gateway in the trace")
    sys.exit(1)
used, problems = set(), []
for l in text[start + 1:]:
    m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", l)
    if m:
        used.add(m.group(1))
    if mdwe and (re.search(r"\b(mprotect|pkey_mprotect)\(.*PROT_EXEC", l)
                 or re.search(r"\bmmap\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)", l)):
        problems.append("MemoryDenyWriteExecute: " + l.strip()[:120])
    m = re.search(r"\bsocket(?:pair)?\((AF_\w+)", l)
    if m and families and m.group(1) not in families:
        problems.append("RestrictAddressFamilies: " + l.strip()[:120])
if allowed:
    problems += ["SystemCallFilter: " + c for c in sorted(used - allowed)]
if problems:
    print("; ".join(problems))
    sys.exit(1)
print(f"{len(used)} distinct calls")
PY
  ); then
    pass "syscalls: every system call of the gateway passes the unit's filter ($verdict)"
  else
    fail "syscalls: the unit's hardening refuses what the gateway does: $verdict (trace: $trace)"
  fi
fi

finish
