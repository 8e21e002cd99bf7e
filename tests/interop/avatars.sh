#!/usr/bin/env bash
# Issue 6 interop: the avatars the gateway serves, decoded by ImageMagick `identify`, and the WAP
# Push SIs it sends, decoded by libwbxml `wbxml2xml`. Runs the real binary (`presence-gw serve`)
# on a fresh database with the embedded simulator; a subscriber with one contact chooses preset 3
# (`AVATAR 3`), becomes eligible (`POST /api/v1/activity`) and uploads a PNG through the one-time
# `/u/<token>` link from `AVATAR UPLOAD`. Then, for every configured size and for JPEG, PNG and
# GIF, `/p/3?s=&f=` and the contact's per-viewer `/a/<token>?s=&f=` (href of the push the
# simulator's handset recorded) must decode with exactly that geometry and format; and every
# push PDU the simulator received for the contact (its `/mt` records) is taken apart by
# `avatars_push.py` and its SI decoded by wbxml2xml: href = the `/a/<token>` link, text names
# the owner. Finally SIGTERM must stop the gateway with exit status 0.
#   bash tests/interop/avatars.sh
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
# Every wait is bounded; the gateway is stopped by its saved PID. Logs: tests/interop/out/avatars/.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/avatars"
rm -rf "$out"
mkdir -p "$out/img"
log="$out/result.log"
: >"$log"

SIZES=(48 96 128 176)
FORMATS=(jpeg png gif)
OWNER=+8613500135000
OWNER_NAME="Zhang San"
CONTACT=+8613400134000
UPLOAD="$root/fixtures/images/good/landscape-with-text-chunks.png"
export PRESENCE_GW_API_KEY="avatars-interop-key-0123456789"
unset PRESENCE_GW_SMSC_PASSWORD

. "$here/lib.sh"

# Tools are installed by install.sh; run it only when something is missing.
if ! command -v identify >/dev/null || ! command -v wbxml2xml >/dev/null || ! command -v curl >/dev/null; then
  bash "$here/install.sh"
fi
py=python3

cargo_build presence-gw -p presence-gw --bin presence-gw
gw="$target_dir/debug/presence-gw"


# --- the gateway: fresh database, embedded simulator, HTTP on a free port ------------------
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http="http://127.0.0.1:$port"
sizes_toml=$(IFS=,; echo "${SIZES[*]}")
cat >"$out/gw.toml" <<EOF
# avatars.sh: no [smsc] section, so the embedded simulator runs.
service_number = "10658"
db = "$out/gw.db"
http = "127.0.0.1:$port"
public_url = "$http"
[avatar]
sizes = [$sizes_toml]
presets_dir = "$root/fixtures/presets"
EOF
(cd "$out" && RUST_LOG=info,rusmpp=warn exec "$gw" serve --config "$out/gw.toml") \
  >"$out/gw.out" 2>"$out/gw.log" &
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
health=$(get -o /dev/null -w '%{http_code}' "$http/health" || true)
if [ -n "$sim" ] && [ "$health" = 200 ]; then
  pass "gateway: presence-gw serve on $http (/health 200), embedded smsc-sim console $sim"
else
  tail -n 20 "$out/gw.log" >&2
  fail "gateway: presence-gw serve started with the embedded simulator (console '$sim', /health $health; see $out/gw.log)"
  finish
fi

# texts NUMBER : the handset's inbox texts, one per line
texts() { get "$sim/handsets/${1#+}" | json "'\n'.join(m['text'] for m in j['inbox'])"; }
inbox_len() { get "$sim/handsets/${1#+}" | json "len(j['inbox'])"; }
# say FROM TEXT : text the gateway as FROM and print its reply (empty after 30 s)
say() {
  local before n
  before=$(inbox_len "$1")
  get -o /dev/null -H 'content-type: application/json' \
    -d "$("$py" -c 'import json,sys; print(json.dumps({"from":sys.argv[1],"to":"10658","text":sys.argv[2]}))' "$1" "$2")" \
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
# pushes_done NUMBER : "count state" of the handset's pushes (state of the latest one)
pushes_done() { get "$sim/handsets/${1#+}" | json "'%d %s' % (len(j['pushes']), j['pushes'][-1]['fetch']['state'] if j['pushes'] else '-')"; }
# wait_push NUMBER N : until the handset holds N pushes and followed the latest (30 s)
wait_push() {
  local st
  for _ in $(seq 300); do
    st=$(pushes_done "$1")
    case "$st" in "$2 fetched" | "$2 failed") echo "$st"; return ;; esac
    sleep 0.1
  done
  echo "$st"
}
latest_href() { get "$sim/handsets/${1#+}" | json "j['pushes'][-1]['href']"; }

# check_image LABEL URL SIZE FORMAT : HTTP 200, Content-Type image/FORMAT, identify: FORMAT SxS, 1 frame
check_image() {
  local label=$1 url=$2 s=$3 f=$4 file hdr code ct id want
  file="$out/img/$label-$s.$f"
  hdr="$out/img/$label-$s.$f.headers"
  code=$(get -D "$hdr" -o "$file" -w '%{http_code}' "$url?s=$s&f=$f" || echo 000)
  ct=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^;[:space:]]*\).*$/\1/p' "$hdr" | tail -n 1)
  want=$(echo "$f" | tr a-z A-Z)
  if [ "$code" != 200 ] || [ "$ct" != "image/$f" ]; then
    fail "$label: ${url#"$http"}?s=$s&f=$f served as image/$f (HTTP $code, Content-Type '$ct')"
    return
  fi
  id=$(identify -regard-warnings -format '%m %wx%h\n' "$file" 2>"$file.identify.err")
  local rc=$? frames
  frames=$(printf '%s\n' "$id" | grep -c . || true)
  if [ "$rc" -eq 0 ] && [ "$id" = "$want ${s}x${s}" ] && [ "$frames" -eq 1 ]; then
    pass "$label: ${url#"$http"}?s=$s&f=$f -> identify: $want ${s}x${s}, 1 frame, $(wc -c <"$file") bytes"
  else
    fail "$label: ${url#"$http"}?s=$s&f=$f -> identify: $want ${s}x${s} (got '$(echo $id)', exit $rc: $(head -c 200 "$file.identify.err"))"
  fi
}

# --- a subscriber with one contact chooses preset 3 -------------------------------------------
say "$OWNER" "NAME $OWNER_NAME" >/dev/null
say "$OWNER" "GROUP FAMILY ADD ${CONTACT#+86}" >/dev/null
list=""
for _ in $(seq 60); do # the default presets load in the background on first start
  list=$(say "$OWNER" "AVATARS")
  case "$list" in "Avatars 1/"*) break ;; esac
  sleep 0.5
done
case "$list" in
  "Avatars 1/"*" 3 "*) pass "presets: AVATARS lists the shipped catalogue ($(echo "$list" | cut -c1-60)...)" ;;
  *) fail "presets: AVATARS lists preset 3 (reply: '$list')" ;;
esac
r=$(say "$OWNER" "AVATAR 3")
case "$r" in
  "Your avatar is now 3 "*) pass "preset: AVATAR 3 accepted: $r" ;;
  *) fail "preset: AVATAR 3 accepted (reply: '$r')" ;;
esac
st=$(wait_push "$CONTACT" 1)
href1=$(latest_href "$CONTACT")
if [ "$st" = "1 fetched" ] && [ -n "$href1" ]; then
  pass "push: the contact's handset got the preset push and fetched $href1"
else
  fail "push: the contact's handset got the preset push and fetched it (pushes/state: '$st', href '$href1')"
fi

for s in "${SIZES[@]}"; do
  for f in "${FORMATS[@]}"; do
    check_image preset-p3 "$http/p/3" "$s" "$f"
    [ -n "$href1" ] && check_image contact-preset "$href1" "$s" "$f"
  done
done

# --- eligible by activity, upload through the one-time link --------------------------------
code=$(get -o "$out/activity.json" -w '%{http_code}' -H "authorization: Bearer $PRESENCE_GW_API_KEY" \
  -H 'content-type: application/json' \
  -d "[{\"msisdn\":\"$OWNER\",\"call_minutes\":10000,\"sms_sent\":0,\"tenure_days\":0,\"level\":0}]" \
  "$http/api/v1/activity" || echo 000)
if [ "$code" = 200 ]; then
  pass "activity: POST /api/v1/activity accepted ($(head -c 100 "$out/activity.json"))"
else
  fail "activity: POST /api/v1/activity accepted (HTTP $code: $(head -c 200 "$out/activity.json"))"
fi
r=$(say "$OWNER" "AVATAR UPLOAD")
upload_url=$(printf '%s' "$r" | grep -o "$http/u/[A-Za-z0-9_-]*" | head -n 1)
if [ -n "$upload_url" ]; then
  pass "upload: AVATAR UPLOAD replied with a one-time link ${upload_url%/u/*}/u/…"
  code=$(get -o "$out/upload.html" -w '%{http_code}' -F "avatar=@$UPLOAD;type=image/png" "$upload_url" || echo 000)
  if [ "$code" = 200 ]; then
    pass "upload: POST multipart $(basename "$UPLOAD") -> 200 ($(sed 's/<[^>]*>/ /g' "$out/upload.html" | tr -s ' \n' ' ' | grep -o 'Your new picture[^.]*\.' | head -n 1))"
  else
    fail "upload: POST multipart $(basename "$UPLOAD") -> 200 (HTTP $code: $(head -c 300 "$out/upload.html"))"
  fi
else
  fail "upload: AVATAR UPLOAD replied with a /u/ link (reply: '$r')"
fi
st=$(wait_push "$CONTACT" 2)
href2=$(latest_href "$CONTACT")
if [ "$st" = "2 fetched" ] && [ -n "$href2" ]; then
  pass "push: the contact's handset got the new-picture push and fetched $href2"
else
  fail "push: the contact's handset got the new-picture push and fetched it (pushes/state: '$st', href '$href2')"
fi
if [ -n "$href2" ] && [ "$st" = "2 fetched" ]; then
  for s in "${SIZES[@]}"; do
    for f in "${FORMATS[@]}"; do
      check_image contact-upload "$href2" "$s" "$f"
    done
  done
  # The picture changed: the link now serves the upload, not the preset.
  if ! cmp -s "$out/img/contact-upload-96.png" "$out/img/preset-p3-96.png"; then
    pass "upload: the contact's link serves the new picture (differs from preset 3)"
  else
    fail "upload: the contact's link serves the new picture (still preset 3's bytes)"
  fi
fi

# --- the WAP Push PDUs as submitted, decoded by wbxml2xml --------------------------------------
get "$sim/mt" >"$out/mt.json"
expects=()
while IFS= read -r h; do [ -n "$h" ] && expects+=(--expect "$h"); done < <(
  get "$sim/handsets/${CONTACT#+}" | json "'\n'.join(p['href'] for p in j['pushes'])")
"$py" "$here/avatars_push.py" --mt "$out/mt.json" --dest "$CONTACT" --owner "$OWNER_NAME" \
  --base "$http" "${expects[@]}" --out "$out" 2>&1 | tee -a "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ] && ! grep -q '^FAIL push:' "$log"; then
  fail "push: avatars_push.py ran (it crashed; see above)"
fi

# --- graceful stop ------------------------------------------------------------------------------
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
