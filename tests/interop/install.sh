#!/usr/bin/env bash
# Installs the independent decoders the interop checks use, idempotently:
#   Debian: libwbxml2-utils (wbxml2xml), tshark (+ text2pcap from wireshark-common), xxd,
#           imagemagick (identify), chromium (headless, console.sh)
#   PyPI:   gsm0338 (GSM 03.38 codec) in tests/interop/.venv
# Anything already present is skipped, so a second run does no network I/O.
# Later issues append their peers (kannel, node smpp, smpplib) here.
#   bash tests/interop/install.sh
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# --- Debian packages --------------------------------------------------------
pkgs=""
command -v wbxml2xml >/dev/null || pkgs="$pkgs libwbxml2-utils"
command -v tshark >/dev/null || pkgs="$pkgs tshark"
command -v text2pcap >/dev/null || pkgs="$pkgs wireshark-common"
command -v xxd >/dev/null || pkgs="$pkgs xxd"
# ImageMagick `identify`: decodes the avatars the gateway serves (avatars.sh).
command -v identify >/dev/null || pkgs="$pkgs imagemagick"
# Headless Chromium: renders the simulator console and takes its screenshot (console.sh).
command -v chromium >/dev/null || pkgs="$pkgs chromium"
# systemd-analyze: verifies and rates deploy/presence-gw.service (deploy.sh).
command -v systemd-analyze >/dev/null || pkgs="$pkgs systemd"
# promtool: checks deploy/prometheus/alerts.yml (deploy.sh).
command -v promtool >/dev/null || pkgs="$pkgs prometheus"
# strace: the system calls the gateway makes, held against the unit's filter (deploy.sh).
command -v strace >/dev/null || pkgs="$pkgs strace"
# Kannel (bearerbox, smsbox) as an independent ESME for smsc-sim; node + npm for node-smpp.
installed kannel || pkgs="$pkgs kannel"
command -v node >/dev/null || pkgs="$pkgs nodejs"
command -v npm >/dev/null || pkgs="$pkgs npm"
# Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip); another python3
# (pyenv, the image's own) usually has it built in.
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  pkgs="$pkgs python3-venv"
fi
if [ -n "$pkgs" ]; then
  echo "[install] apt-get install$pkgs"
  # wireshark-common asks whether non-root users may capture; answer "no" up front.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  # Do not let the kannel package start its system service (it would listen on all
  # interfaces); the interop scripts start their own boxes on 127.0.0.1.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs </dev/null
fi

# --- PyPI: gsm0338 in a venv (pinned in requirements.txt) --------------------
if [ ! -x .venv/bin/pip ]; then
  echo "[install] python3 -m venv .venv"
  rm -rf .venv
  python3 -m venv .venv
fi
if ! .venv/bin/python - <<'PY' 2>/dev/null; then
import importlib.metadata as m, sys
want = dict(l.split("#")[0].strip().split("==") for l in open("requirements.txt") if "==" in l)
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PY
  echo "[install] pip install -r requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
fi

# --- npm: node-smpp (pinned in package.json / package-lock.json) ---------------
if [ ! -f node_modules/smpp/package.json ]; then
  echo "[install] npm ci (smpp 0.5.1)"
  npm ci --no-audit --no-fund --silent
fi

echo "[install] versions:"
echo "  libwbxml2-utils $(dpkg-query -W -f '${Version}' libwbxml2-utils 2>/dev/null || echo '?')"
echo "  tshark $(tshark --version 2>/dev/null | head -1 | awk '{print $3}')"
echo "  gsm0338 $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("gsm0338"))')"
echo "  smpplib $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("smpplib"))')"
echo "  node $(node --version), npm smpp $(node -p 'require("./node_modules/smpp/package.json").version')"
echo "  imagemagick $(dpkg-query -W -f '${Version}' imagemagick 2>/dev/null || echo '?')"
echo "  kannel $(dpkg-query -W -f '${Version}' kannel 2>/dev/null || echo '?')"
echo "  chromium $(dpkg-query -W -f '${Version}' chromium 2>/dev/null || echo '?')"
