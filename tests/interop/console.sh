#!/usr/bin/env bash
# Issue 8 interop: the simulator console page (smsc-sim's `/`, embedded in the gateway) in a
# real browser, headless Chromium (Debian `chromium`). Runs `presence-gw serve --db TMP --http
# 127.0.0.1:0` from the repo root (embedded simulator, demo handsets seeded: +8613800138000 "Demo"
# with FAMILY +8613900139000 +8613700137000), makes Demo choose preset 3 (`AVATAR 3` through the
# simulator's `POST /mo`, after `AVATARS` lists the catalogue) and waits until +8613900139000's
# handset has fetched the pushed picture. Chromium loads `console/?sms=+8613700137000:HELP&ussd=
# +8613800138000:*123#` (the script fills and submits those phones' boxes; the gateway's answers
# must arrive), then
# `console/?call=+8613900139000:+8613800138000` (the page's script clicks that phone's call
# button for that contact once it has drawn the phones), dumps the DOM after the script ran
# (`console_check.py dom`: phones side by side, inbox with the decoded push, contact with
# thumbnail, text and USSD boxes, the call screen over the right phone with the caller's name,
# status and an <img> Chromium decoded), the <img> src is fetched with curl (image magic bytes,
# ImageMagick `identify`), and a 1280x900 screenshot is taken and checked not blank
# (`console_check.py png`). Finally SIGTERM must stop the gateway with exit status 0.
#   bash tests/interop/console.sh
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
# Every wait is bounded; children are stopped by their saved PIDs. Output: tests/interop/out/console/
# (console.png, console.html, the avatar, logs).
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/console"
rm -rf "$out"
mkdir -p "$out"
log="$out/result.log"
: >"$log"

DEMO=+8613800138000
DEMO_NAME=Demo
PHONE=+8613900139000
OTHER=+8613700137000
OTHER_TEXT=HELP
USSD_CODE='*123#'
SERVICE=10658
W=1280
H=900
unset PRESENCE_GW_SMSC_PASSWORD

. "$here/lib.sh"

if ! command -v chromium >/dev/null || ! command -v identify >/dev/null || ! command -v curl >/dev/null; then
  bash "$here/install.sh"
fi
py=python3

cargo_build presence-gw -p presence-gw --bin presence-gw
gw="$target_dir/debug/presence-gw"


# --- the gateway: fresh database, embedded simulator, HTTP on a free port -------------------------
# From the repo root: the default presets_dir is the relative `fixtures/presets`.
(cd "$root" && RUST_LOG=info,rusmpp=warn exec "$gw" serve --db "$out/gw.db" --http 127.0.0.1:0 \
  --service-number "$SERVICE") >"$out/gw.out" 2>"$out/gw.log" &
gw_pid=$!
pids+=("$gw_pid")
sim=""
for _ in $(seq 600); do # 60 s: the banner ends once the demo handsets are seeded
  if grep -q 'demo handsets:' "$out/gw.out"; then
    sim=$(sed -n 's|^  simulator console: *\(http://127\.0\.0\.1:[0-9]*\)/.*$|\1|p' "$out/gw.out")
    break
  fi
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$sim" ] && [ "$(get -o /dev/null -w '%{http_code}' "$sim/handsets")" = 200 ]; then
  pass "gateway: presence-gw serve with the embedded simulator, console at $sim/"
else
  tail -n 20 "$out/gw.log" >&2
  fail "gateway: presence-gw serve started with the embedded simulator (console '$sim'; see $out/gw.log)"
  finish
fi

inbox_len() { get "$sim/handsets/${1#+}" | json "len(j['inbox'])"; }
# say FROM TEXT : text the gateway as FROM and print its reply (empty after 30 s)
say() {
  local before n
  before=$(inbox_len "$1")
  get -o /dev/null -H 'content-type: application/json' \
    -d "$("$py" -c 'import json,sys; print(json.dumps({"from":sys.argv[1],"to":sys.argv[3],"text":sys.argv[2]}))' "$1" "$2" "$SERVICE")" \
    "$sim/mo"
  for _ in $(seq 300); do
    n=$(inbox_len "$1")
    if [ "${n:-0}" -gt "${before:-0}" ]; then
      get "$sim/handsets/${1#+}" | json "j['inbox'][$before]['text']"
      return
    fi
    sleep 0.1
  done
}

# --- Demo chooses preset 3; the FAMILY member's handset fetches it --------------------------------
list=""
for _ in $(seq 60); do # the default presets load in the background on first start
  list=$(say "$DEMO" "AVATARS")
  case "$list" in "Avatars 1/"*) break ;; esac
  sleep 0.5
done
case "$list" in
  "Avatars 1/"*) pass "presets: AVATARS lists the catalogue ($(echo "$list" | cut -c1-50)...)" ;;
  *) fail "presets: AVATARS lists the catalogue (reply: '$list')" ;;
esac
chosen=$(say "$DEMO" "AVATAR 3")
case "$chosen" in
  "Your avatar is now 3 "*) pass "preset: AVATAR 3 accepted: $chosen" ;;
  *) fail "preset: AVATAR 3 accepted (reply: '$chosen')" ;;
esac
# avatar_state : "<fetch state of the latest push> <avatar bytes held for DEMO>"
avatar_state() {
  get "$sim/handsets/${PHONE#+}" | json "'%s %s' % (j['pushes'][-1]['fetch']['state'] if j['pushes'] else '-', next((c['avatar']['len'] for c in j['contacts'].values() if c['number'].lstrip('+')=='${DEMO#+}' and c['avatar']), 0))"
}
st=""
for _ in $(seq 300); do
  st=$(avatar_state)
  case "$st" in "fetched "[1-9]* | "failed "*) break ;; esac
  sleep 0.1
done
case "$st" in
  "fetched "[1-9]*) pass "push: $PHONE's handset fetched $DEMO_NAME's avatar (${st#fetched } bytes)" ;;
  *) fail "push: $PHONE's handset fetched $DEMO_NAME's avatar (latest push / bytes: '$st')" ;;
esac

enc() { "$py" -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
  --no-first-run --user-data-dir="$out/chromium-profile" --virtual-time-budget=8000)

# --- headless Chromium: the text and USSD boxes, submitted by the page's own handlers --------------
# `?sms=N:TEXT&ussd=M:CODE`: once drawn, the script fills those phones' boxes and submits them.
before=$(inbox_len "$OTHER")
url="$sim/?sms=$(enc "$OTHER"):$(enc "$OTHER_TEXT")&ussd=$(enc "$DEMO"):$(enc "$USSD_CODE")"
timeout 60 "${chrome[@]}" --dump-dom "$url" >"$out/actions.html" 2>"$out/chromium-actions.log"
rc=$?
[ "$rc" -eq 0 ] || fail "chromium: --dump-dom $url (exit $rc; see $out/chromium-actions.log)"
"$py" "$here/console_check.py" actions "$out/actions.html" --sms "$OTHER" --ussd "$DEMO" 2>&1 | tee -a "$log"
reply=""
for _ in $(seq 300); do
  n=$(inbox_len "$OTHER")
  if [ "${n:-0}" -gt "${before:-0}" ]; then
    reply=$(get "$sim/handsets/${OTHER#+}" | json "'%s: %s' % (j['inbox'][$before]['from'], j['inbox'][$before]['text'])")
    break
  fi
  sleep 0.1
done
case "$reply" in
  "$SERVICE: "?*) pass "browser: the gateway answered $OTHER's '$OTHER_TEXT' sent from the page ($(echo "$reply" | cut -c1-70)...)" ;;
  *) fail "browser: the gateway answered $OTHER's '$OTHER_TEXT' sent from the page (inbox: '$reply')" ;;
esac
menu=""
for _ in $(seq 300); do
  menu=$(get "$sim/handsets/${DEMO#+}" | json "j['ussd'][-1]['text'] if j['ussd'] else None")
  [ -n "$menu" ] && break
  sleep 0.1
done
if [ -n "$menu" ]; then
  pass "browser: $DEMO dialled $USSD_CODE from the page and got the menu ('$(echo "$menu" | head -n 1)'...)"
else
  fail "browser: $DEMO dialled $USSD_CODE from the page and got a USSD screen (none after 30 s)"
fi

# --- headless Chromium: the page after its script ran, with the call screen opened -----------------
url="$sim/?call=$(enc "$PHONE"):$(enc "$DEMO")"
t0=$SECONDS
timeout 60 "${chrome[@]}" --dump-dom "$url" >"$out/console.html" 2>"$out/chromium-dom.log"
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$out/console.html" ]; then
  pass "chromium: --dump-dom $url ($(wc -c <"$out/console.html") bytes, $((SECONDS - t0))s)"
else
  fail "chromium: --dump-dom $url (exit $rc; see $out/chromium-dom.log)"
fi
"$py" "$here/console_check.py" dom "$out/console.html" --phone "$PHONE" --caller "$DEMO" \
  --name "$DEMO_NAME" --owner-text "$chosen" --service "$SERVICE" --ussd-text "$menu" >"$out/dom-check.txt" 2>&1
grep -E '^(PASS|FAIL) ' "$out/dom-check.txt" | tee -a "$log"
grep -qE '^(PASS|FAIL) ' "$out/dom-check.txt" || fail "dom: console_check.py ran ($(tail -n 3 "$out/dom-check.txt"))"

# The <img> the call screen shows, fetched as the browser did.
src=$(sed -n 's/^IMG //p' "$out/dom-check.txt" | head -n 1)
if [ -n "$src" ]; then
  code=$(get -D "$out/avatar.headers" -o "$out/avatar.img" -w '%{http_code}' "$sim$src" || echo 000)
  ct=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^;[:space:]]*\).*$/\1/p' "$out/avatar.headers" | tail -n 1)
  magic=$(od -An -tx1 -N8 "$out/avatar.img" | tr -d ' \n')
  case "$magic" in
    89504e470d0a1a0a) kind=PNG ;;
    ffd8ff*) kind=JPEG ;;
    47494638*) kind=GIF ;;
    *) kind="" ;;
  esac
  id=$(identify -regard-warnings -format '%m %wx%h' "$out/avatar.img[0]" 2>"$out/avatar.identify.err")
  idrc=$?
  if [ "$code" = 200 ] && [ "${ct#image/}" != "$ct" ] && [ -n "$kind" ] && [ "$idrc" -eq 0 ] && [ "${id%% *}" = "$kind" ]; then
    pass "avatar: $src -> HTTP 200 $ct, $kind magic bytes, identify: $id, $(wc -c <"$out/avatar.img") bytes"
  else
    fail "avatar: $src serves an image (HTTP $code, '$ct', magic $magic, identify '$id' exit $idrc: $(head -c 200 "$out/avatar.identify.err"))"
  fi
fi

# The screenshot: written, the promised size, not blank, the call screen painted.
t0=$SECONDS
rm -f "$out/console.png"
timeout 60 "${chrome[@]}" --window-size="$W,$H" --screenshot="$out/console.png" "$url" \
  >"$out/chromium-shot.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$out/console.png" ]; then
  pass "chromium: --screenshot $out/console.png ($(wc -c <"$out/console.png") bytes, $((SECONDS - t0))s)"
  "$py" "$here/console_check.py" png "$out/console.png" --width "$W" --height "$H" 2>&1 | tee -a "$log"
else
  fail "chromium: --screenshot wrote $out/console.png (exit $rc; see $out/chromium-shot.log)"
fi

# --- graceful stop ----------------------------------------------------------------------------------
kill -TERM "$gw_pid"
rc=124
for _ in $(seq 300); do
  if ! kill -0 "$gw_pid" 2>/dev/null; then
    wait "$gw_pid"
    rc=$?
    break
  fi
  sleep 0.1
done
if [ "$rc" -eq 0 ]; then
  pass "stop: SIGTERM -> presence-gw exited 0"
else
  fail "stop: SIGTERM -> presence-gw exited 0 (status $rc; 124 = still running after 30 s)"
fi
finish
