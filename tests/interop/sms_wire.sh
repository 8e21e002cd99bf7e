#!/usr/bin/env bash
# Independent verification of sms-wire's encoders (issue 2, "interop" acceptance).
# Builds and runs `sms-wire/examples/wire_vectors.rs`, whose records (our PDUs, WBXML bodies and
# GSM-7 bytes) are then decoded by third-party tools: wbxml2xml/xml2wbxml, text2pcap + tshark,
# PyPI gsm0338. See tests/interop/README.md for what each check proves.
#   bash tests/interop/sms_wire.sh
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/sms_wire"
mkdir -p "$out"
log="$out/result.log"
: >"$log"

# Tools are installed by install.sh; run it only when something is missing.
if ! command -v wbxml2xml >/dev/null || ! command -v xml2wbxml >/dev/null || ! command -v tshark >/dev/null \
   || ! command -v text2pcap >/dev/null || ! "$here/.venv/bin/python" -c 'import gsm0338' 2>/dev/null; then
  bash "$here/install.sh"
fi

records="$out/records.tsv"
echo "[sms_wire] cargo run -p sms-wire --example wire_vectors"
if (cd "$root" && cargo run --quiet -p sms-wire --example wire_vectors) >"$records" 2>"$out/example.stderr"; then
  echo "PASS example: wire_vectors built and printed $(wc -l <"$records") records" | tee -a "$log"
  rc=0
  "$here/.venv/bin/python" "$here/check_sms_wire.py" "$records" "$out" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
  # a crash (traceback) without any FAIL line must still fail the run
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
    echo "FAIL checker: check_sms_wire.py exited $rc" | tee -a "$log"
  fi
else
  cat "$out/example.stderr" >&2
  echo "FAIL example: wire_vectors did not build or run (see above)" | tee -a "$log"
fi

passed=$(grep -c '^PASS ' "$log" || true)
failed=$(grep -c '^FAIL ' "$log" || true)
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
