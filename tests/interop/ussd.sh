#!/usr/bin/env bash
# Independent decoding of the gateway's USSD submit_sm PDUs (issue 7, "interop" acceptance).
# Builds and runs `examples/ussd_vectors.rs`, which drives scripted USSD menu sessions through
# the real service (Store + Service::handle_ussd) and prints every submit_sm the gateway would
# send, with the expected op, its_session_info, service_type, data_coding and text as literals.
# `check_ussd.js` then decodes each PDU with tshark's SMPP dissector (text2pcap capture, TCP
# port 2775) and with npm smpp 0.5.1's PDU parser, and compares. See tests/interop/README.md.
#   bash tests/interop/ussd.sh
# Prints PASS/FAIL lines and ends with `interop: N passed, M failed`; exits 1 if M > 0.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/out/ussd"
mkdir -p "$out"
log="$out/result.log"
: >"$log"

# Tools are installed by install.sh; run it only when something is missing.
if ! command -v tshark >/dev/null || ! command -v text2pcap >/dev/null || ! command -v node >/dev/null \
   || [ ! -f "$here/node_modules/smpp/package.json" ]; then
  bash "$here/install.sh"
fi

records="$out/records.tsv"
echo "[ussd] cargo run -p presence-gw --example ussd_vectors"
if (cd "$root" && cargo run --quiet -p presence-gw --example ussd_vectors) >"$records" 2>"$out/example.stderr"; then
  echo "PASS example: ussd_vectors built and printed $(wc -l <"$records") PDUs" | tee -a "$log"
  rc=0
  node "$here/check_ussd.js" "$records" "$out" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
  # a crash (stack trace) without any FAIL line must still fail the run
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
    echo "FAIL checker: check_ussd.js exited $rc" | tee -a "$log"
  fi
else
  cat "$out/example.stderr" >&2
  echo "FAIL example: ussd_vectors did not build or run (see above)" | tee -a "$log"
fi

passed=$(grep -c '^PASS ' "$log" || true)
failed=$(grep -c '^FAIL ' "$log" || true)
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
