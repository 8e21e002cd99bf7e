#!/usr/bin/env bash
# Capture the third-party PDUs in fixtures/pdus/ again (see fixtures/pdus/README.md):
#   1. sim_peers.sh with SIM_HEX_LOG=1 and small counts: Kannel, node-smpp and smpplib bind to
#      smsc-sim, which writes every PDU they send to out/sim_peers/*.hex;
#   2. node_smsc_pdus.js: the PDUs node-smpp encodes as an SMSC;
#   3. capture_pdus.py: one PDU of each kind, with tshark's reading of it, to fixtures/pdus/.
# Not part of CI (the fixtures are kept in git; the captured_pdus tests read them).
#   bash tests/interop/capture_pdus.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v tshark >/dev/null || ! command -v text2pcap >/dev/null; then
  bash "$here/install.sh"
fi
SIM_HEX_LOG=1 N_SMPPLIB=20 N_NODE=20 N_KANNEL=10 bash "$here/sim_peers.sh" >/dev/null
mkdir -p "$here/out/capture"
(cd "$here" && node node_smsc_pdus.js) >"$here/out/capture/node_smsc.jsonl"
python3 "$here/capture_pdus.py" "$here/out/sim_peers" "$here/out/capture/node_smsc.jsonl"
