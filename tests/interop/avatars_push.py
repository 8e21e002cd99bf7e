#!/usr/bin/env python3
"""The avatar WAP Pushes the gateway sent, decoded by libwbxml's `wbxml2xml` (issue 6 interop).

Input: the simulator's `GET /mt?dest=N` records (JSON; `short_message` in hex, as submitted by
the gateway). Every port-addressed part (esm_class UDHI, UDH port IE 05 with destination 2948,
WAP-259 WDP over GSM SMS) is taken apart here with nothing but the byte layout: UDH IEs
(TS 23.040 §9.2.3.24: 00 = 8-bit concat, 08 = 16-bit concat, 05 = 16-bit ports, 04 = 8-bit
ports), parts ordered and joined by reference, then the WSP connectionless Push PDU
(WAP-230 §8.2.4.1: TID, PDU type 0x06, uintvar headers length, headers, body). The body must be
an SI (content type 0xAE = application/vnd.wap.sic, or its general form) and is handed to
`wbxml2xml`; its XML must be an <si><indication> whose href is the per-viewer `/a/<token>` link
on the gateway's public URL (and the one the handset recorded), whose text names the owner, and
whose `created` is a date (when the owner set the avatar).

    avatars_push.py --mt MT.json --dest 8613400134000 --owner "Zhang San" \
        --base http://127.0.0.1:PORT --expect HREF [--expect HREF ...] --out DIR

Prints one PASS/FAIL line per check; exits 1 if any failed. Stdlib only.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

WAP_PUSH_PORT = 2948
failures = 0


def report(ok, name, what, why=""):
    global failures
    if ok:
        print(f"PASS {name}: {what}")
    else:
        failures += 1
        print(f"FAIL {name}: {what} ({why})")
    return ok


def digits(s):
    return "".join(c for c in s if c.isdigit())


def split_udh(sm):
    """(ies, payload) of a short message with a UDH: ies as [(iei, bytes)]; None if malformed."""
    if not sm:
        return None
    udhl = sm[0]
    if 1 + udhl > len(sm):
        return None
    ies, i, udh = [], 0, sm[1 : 1 + udhl]
    while i < len(udh):
        if i + 2 > len(udh):
            return None
        iei, ln = udh[i], udh[i + 1]
        if i + 2 + ln > len(udh):
            return None
        ies.append((iei, udh[i + 2 : i + 2 + ln]))
        i += 2 + ln
    return ies, sm[1 + udhl :]


def push_datagrams(records, dest):
    """Reassembled WDP datagrams addressed to port 2948 for `dest`, in the order completed."""
    groups, order, singles = {}, [], []
    for r in records:
        if digits(r.get("dest", "")) != digits(dest) or not (r.get("esm_class", 0) & 0x40):
            continue
        if r.get("status", 0) != 0:
            continue  # refused by the simulator: never reached the handset
        parsed = split_udh(bytes.fromhex(r["short_message"]))
        if parsed is None:
            report(False, f"mt:{r['id']}", "UDH parses", r["short_message"][:40])
            continue
        ies, payload = parsed
        port = None
        concat = None
        for iei, v in ies:
            if iei == 0x05 and len(v) == 4:
                port = (v[0] << 8) | v[1]
            elif iei == 0x04 and len(v) == 2:
                port = v[0]
            elif iei == 0x00 and len(v) == 3:
                concat = (v[0], v[1], v[2])
            elif iei == 0x08 and len(v) == 4:
                concat = ((v[0] << 8) | v[1], v[2], v[3])
        if port != WAP_PUSH_PORT:
            continue
        if concat is None:
            singles.append((r["id"], payload))
            order.append(("single", len(singles) - 1))
            continue
        ref, total, seq = concat
        key = (ref, total)
        if key not in groups:
            groups[key] = {}
            order.append(("concat", key))
        groups[key][seq] = payload
    out = []
    for kind, key in order:
        if kind == "single":
            out.append((f"mt{singles[key][0]}", singles[key][1]))
            continue
        parts = groups[key]
        ref, total = key
        if sorted(parts) != list(range(1, total + 1)):
            report(False, f"push-ref{ref}", f"all {total} parts present", f"have {sorted(parts)}")
            continue
        out.append((f"push-ref{ref}", b"".join(parts[i] for i in range(1, total + 1))))
    return out


def uintvar(b, i):
    v = 0
    for n in range(5):
        if i >= len(b):
            raise ValueError("uintvar runs past the end")
        v = (v << 7) | (b[i] & 0x7F)
        i += 1
        if not b[i - 1] & 0x80:
            return v, i
    raise ValueError("uintvar longer than 5 octets")


def wsp_si_body(datagram):
    """The WBXML body of a WSP Push carrying an SI, or raise ValueError saying why not."""
    if len(datagram) < 3:
        raise ValueError("shorter than a WSP header")
    pdu_type = datagram[1]
    if pdu_type not in (0x06, 0x07):
        raise ValueError(f"WSP PDU type 0x{pdu_type:02X} is not Push")
    hlen, i = uintvar(datagram, 2)
    headers = datagram[i : i + hlen]
    if len(headers) != hlen:
        raise ValueError("headers run past the end")
    ct = headers[0]
    if ct < 0x20:  # general form: value-length then the media
        media = headers[1] if ct != 0x1F else headers[uintvar(headers, 1)[1]]
    else:
        media = ct
    if media != 0xAE and not headers.lower().startswith(b"application/vnd.wap.sic"):
        raise ValueError(f"content type 0x{media:02X} is not application/vnd.wap.sic")
    return datagram[i + hlen :]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mt", required=True)
    ap.add_argument("--dest", required=True)
    ap.add_argument("--owner", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.mt) as f:
        records = json.load(f)
    pushes = push_datagrams(records, a.dest)
    report(
        len(pushes) == len(a.expect),
        f"push:{a.dest}",
        f"{len(a.expect)} WAP Push datagram(s) to port {WAP_PUSH_PORT} in the submitted PDUs",
        f"found {len(pushes)}",
    )
    link = re.compile(re.escape(a.base.rstrip("/")) + r"/a/[A-Za-z0-9_-]{16,}$")
    for n, (name, datagram) in enumerate(pushes):
        name = f"push:{a.dest}#{n + 1}"
        try:
            body = wsp_si_body(datagram)
        except ValueError as e:
            report(False, name, "WSP Push PDU with an SI body", str(e))
            continue
        report(True, name, f"WSP Push PDU (TID {datagram[0]}, type 0x06), SI content type, {len(body)}-octet WBXML body")
        path = os.path.join(a.out, f"push-{digits(a.dest)}-{n + 1}.wbxml")
        with open(path, "wb") as f:
            f.write(body)
        res = subprocess.run(["wbxml2xml", "-m", "0", "-o", "-", path], capture_output=True, timeout=30)
        if not report(res.returncode == 0, name, "wbxml2xml decodes the SI",
                      f"exit {res.returncode}: {res.stderr.decode(errors='replace').strip()}"):
            continue
        xml_text = res.stdout.decode("utf-8", errors="replace")
        with open(path[: -len(".wbxml")] + ".xml", "w", encoding="utf-8") as f:
            f.write(xml_text)
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError as e:
            report(False, name, "wbxml2xml output is well-formed XML", str(e))
            continue
        ind = root.find("indication") if root.tag == "si" else None
        if not report(ind is not None, name, "<si><indication> element", f"root <{root.tag}>"):
            continue
        href = ind.get("href", "")
        text = "".join(ind.itertext())
        report(bool(link.match(href)), name, f"href is a per-viewer /a/<token> link on {a.base}", href)
        if n < len(a.expect):
            report(href == a.expect[n], name, "href equals the link the handset recorded",
                   f"{href} != {a.expect[n]}")
        report(a.owner in text, name, f"text names the owner {a.owner!r}", repr(text))
        # `created`: when the owner set the avatar (WAP-167 OPAQUE date), which wbxml2xml
        # writes back as YYYY-MM-DDThh:mm:ssZ.
        created = ind.get("created", "")
        report(bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", created)), name,
               "created is a WAP date (when the owner set the avatar)", repr(created))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
