#!/usr/bin/env python3
"""python-smpplib 2.2.4 (PyPI `smpplib`) against a running smsc-sim (issue 3 interop).

Run by sim_peers.sh, which starts the simulator with the accounts given below. Checks:
  - bind_transceiver with a wrong password gets ESME_RINVPASWD (0x0E), an unknown system_id
    gets ESME_RINVSYSID (0x0F);
  - bind_transceiver, N submit_sm with registered_delivery=1 (window 10), every submit_sm_resp
    OK with a distinct message_id;
  - N delivery receipts (deliver_sm, esm_class 0x04), one per message id: the
    receipted_message_id TLV and the text's `id:` equal the submit_sm_resp ids, stat DELIVRD,
    message_state 2 (DELIVERED);
  - the simulator's own MT log (GET /mt) holds the same N messages under the same ids;
  - long MOs injected with POST /mo (GSM-7 with UDH 8-bit concatenation, UCS-2 with SAR TLVs)
    arrive as deliver_sm parts that smpplib parses and that reassemble to the injected text;
  - unbind is answered.
Prints `PASS name: what` / `FAIL name: what (why)` lines; exit 1 on any FAIL.

  python sim_smpplib.py --port SMPP_PORT --http http://127.0.0.1:HTTP_PORT [--n 1000]
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import time
import urllib.request

import gsm0338  # noqa: F401 - registers the 'gsm03.38' codec
import smpplib.client
import smpplib.consts
import smpplib.exceptions

HOST = "127.0.0.1"
SYSTEM_ID = "smpplib"
PASSWORD = "secret1"
results = {"pass": 0, "fail": 0}


def check(name, ok, what, why=""):
    if ok:
        results["pass"] += 1
        print("PASS smpplib %s: %s" % (name, what), flush=True)
    else:
        results["fail"] += 1
        print("FAIL smpplib %s: %s (%s)" % (name, what, why), flush=True)
    return ok


def http(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def text_of(v):
    return v.decode("latin-1") if isinstance(v, bytes) else (v or "")


def new_client(port, timeout):
    c = smpplib.client.Client(HOST, port, timeout=timeout, allow_unknown_opt_params=True)
    c.connect()
    c._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def bind_error(port, system_id, password):
    """The command_status of a refused bind_transceiver, or None if it was accepted."""
    c = new_client(port, 10)
    try:
        c.bind_transceiver(system_id=system_id, password=password)
        return None
    except smpplib.exceptions.PDUError as e:
        return e.args[1] if len(e.args) > 1 else -1
    finally:
        c.disconnect()


def parse_receipt_text(s):
    """Appendix B receipt text -> dict of its fields (`id`, `stat`, `err`, ...)."""
    out = {}
    for key in ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err"):
        i = s.find(key + ":")
        if i >= 0:
            rest = s[i + len(key) + 1:]
            out[key] = rest.split(" ")[0] if key not in ("submit date", "done date") else rest[:10]
    return out


def pump(c, cond, seconds):
    """Read and handle PDUs until cond() holds or `seconds` pass. Waits with select() so that a
    silent simulator ends in a failed check, never in a half-read PDU."""
    end = time.time() + seconds
    while not cond():
        left = end - time.time()
        if left <= 0:
            return False
        readable, _, _ = select.select([c._socket], [], [], min(left, 1.0))
        if readable:
            c.read_once(auto_send_enquire_link=False)
    return True


def decode_part(data_coding, body):
    if data_coding == 0x08:
        return body.decode("utf-16-be")
    return body.decode("gsm03.38")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="simulator SMPP port")
    ap.add_argument("--http", required=True, help="simulator control API base URL")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--timeout", type=int, default=120, help="hard stop for the whole run (s)")
    a = ap.parse_args()

    def on_alarm(_s, _f):
        print("FAIL smpplib run: finished within %ds (timed out)" % a.timeout, flush=True)
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(a.timeout)

    # --- authentication errors ---------------------------------------------------------------
    st = bind_error(a.port, SYSTEM_ID, "wrong")
    check("bind_wrong_password", st == smpplib.consts.SMPP_ESME_RINVPASWD,
          "bind_transceiver with a wrong password -> ESME_RINVPASWD (0x0E)", "got %r" % st)
    st = bind_error(a.port, "nosuchesme", PASSWORD)
    check("bind_unknown_system_id", st == smpplib.consts.SMPP_ESME_RINVSYSID,
          "bind_transceiver with an unknown system_id -> ESME_RINVSYSID (0x0F)", "got %r" % st)

    # --- submit N with receipts --------------------------------------------------------------
    resp_ids = {}        # sequence -> message_id
    resp_status = {}     # sequence -> status
    receipts = []        # (receipted_message_id, text, message_state, esm_class)
    mo_parts = []        # deliver_sm that are not receipts
    oddities = []

    def sent_handler(pdu, **_kw):
        resp_status[pdu.sequence] = pdu.status
        if pdu.status == 0:
            resp_ids[pdu.sequence] = text_of(pdu.message_id)

    def error_handler(pdu):
        if pdu.command != "submit_sm_resp":
            oddities.append("%s status 0x%x" % (pdu.command, pdu.status))

    def received_handler(pdu, **_kw):
        if pdu.command != "deliver_sm":
            oddities.append(pdu.command)
        elif (pdu.esm_class & 0x3C) == 0x04:
            receipts.append((text_of(pdu.receipted_message_id), text_of(pdu.short_message),
                             pdu.message_state, pdu.esm_class))
        else:
            mo_parts.append(pdu)
        return smpplib.consts.SMPP_ESME_ROK

    c = new_client(a.port, 30)
    c.set_message_sent_handler(sent_handler)
    c.set_error_pdu_handler(error_handler)
    c.set_message_received_handler(received_handler)
    try:
        resp = c.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        check("bind", resp.status == 0, "bind_transceiver %s/%s accepted (system_id %r)" % (
            SYSTEM_ID, "*" * len(PASSWORD), text_of(resp.system_id)), "status %r" % resp.status)
    except smpplib.exceptions.PDUError as e:
        check("bind", False, "bind_transceiver accepted", str(e))
        return 1

    seqs = []
    t0 = time.perf_counter()
    for i in range(a.n):
        if not pump(c, lambda: len(seqs) - len(resp_status) < a.window, 30):
            break
        p = c.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
            source_addr="SMPPLIB",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="4470%07d" % i,
            short_message=("smpplib interop %d" % i).encode("ascii"),
            registered_delivery=1,
        )
        seqs.append(p.sequence)
    pump(c, lambda: len(resp_status) >= len(seqs), 30)
    t_resp = time.perf_counter() - t0
    pump(c, lambda: len(receipts) >= len(resp_ids), 30)
    t_rcpt = time.perf_counter() - t0

    bad = {s: v for s, v in resp_status.items() if v != 0}
    ids = list(resp_ids.values())
    check("submit", not bad and len(resp_ids) == a.n and set(resp_ids) == set(seqs),
          "%d submit_sm, %d submit_sm_resp OK in %.2fs" % (a.n, len(resp_ids), t_resp),
          "%d errors, e.g. %s" % (len(bad), list(bad.items())[:3]))
    check("message_ids_unique", len(set(ids)) == len(ids) and all(ids),
          "the %d message_ids are distinct and non-empty (e.g. %r)" % (len(ids), ids[:1]),
          "%d distinct" % len(set(ids)))
    rids = [r[0] for r in receipts]
    check("receipts_count", len(receipts) == a.n,
          "%d delivery receipts (deliver_sm esm_class 0x04) in %.2fs" % (len(receipts), t_rcpt),
          "expected %d" % a.n)
    check("receipts_match_ids", sorted(rids) == sorted(ids),
          "receipted_message_id of every receipt equals a submit_sm_resp id, one each",
          "missing %s, unexpected %s" % (sorted(set(ids) - set(rids))[:3],
                                         sorted(set(rids) - set(ids))[:3]))
    texts = [parse_receipt_text(r[1]) for r in receipts]
    text_ok = [t.get("id") for t in texts] == rids
    check("receipt_text_id", text_ok,
          "the receipt text's id: field equals receipted_message_id in every receipt (%r)"
          % (receipts[0][1] if receipts else ""),
          "first mismatch %r" % (next(((r[0], r[1]) for r, t in zip(receipts, texts)
                                       if t.get("id") != r[0]), None),))
    states = {(t.get("stat"), r[2]) for r, t in zip(receipts, texts)}
    check("receipt_state", states == {("DELIVRD", 2)},
          "every receipt says stat:DELIVRD with message_state 2 (DELIVERED)", "got %s" % states)

    mt = [m for m in http(a.http, "GET", "/mt") if m["system_id"] == SYSTEM_ID]
    sim_ids = sorted(m["message_id"] for m in mt if m["status"] == 0)
    check("sim_mt_log", sim_ids == sorted(ids) and len(mt) == a.n,
          "the simulator recorded the same %d MT under the same ids" % len(mt),
          "%d records, %d ids in common" % (len(mt), len(set(sim_ids) & set(ids))))

    # --- MO injection, concatenated --------------------------------------------------------
    mos = [
        ("udh8", "gsm7", "+447700900001", "Long MO via smpplib, GSM-7 with escapes {[€]}~ and "
         + "".join("part-%02d; " % i for i in range(40))),
        ("sar", "ucs2", "+8613800138001", "长信息测试：" + "".join("第%d段，" % i for i in range(60))),
    ]
    for style, enc, sender, text in mos:
        mo_parts.clear()
        try:
            ticket = http(a.http, "POST", "/mo", {"from": sender, "to": "12345", "text": text,
                                                  "style": style, "encoding": enc})
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            check("mo_%s" % style, False, "POST /mo accepted", str(e))
            continue
        want = ticket["parts"]
        pump(c, lambda: len(mo_parts) >= want, 15)
        parts = {}
        for p in mo_parts:
            sm = p.short_message or b""
            if style == "udh8":
                udh_len = sm[0] if sm and p.esm_class & 0x40 else -1
                udh = sm[1:udh_len + 1]
                # IEI 0x00: ref, total, seq (TS 23.040 §9.2.3.24.1)
                if udh_len >= 5 and udh[0] == 0x00 and udh[1] == 3:
                    parts[udh[4]] = (udh[2], udh[3], sm[udh_len + 1:], p)
            else:
                if p.sar_msg_ref_num is not None:
                    parts[p.sar_segment_seqnum] = (p.sar_msg_ref_num, p.sar_total_segments, sm, p)
        refs = {(v[0], v[1]) for v in parts.values()}
        got = ""
        why = "%d parts of %d, refs/totals %s" % (len(parts), want, refs)
        if len(parts) == want and len(refs) == 1 and sorted(parts) == list(range(1, want + 1)):
            try:
                got = "".join(decode_part(parts[k][3].data_coding, parts[k][2])
                              for k in sorted(parts))
            except UnicodeDecodeError as e:
                why = "decode: %s" % e
        addr_ok = all(text_of(v[3].source_addr).lstrip("+") == sender.lstrip("+")
                      for v in parts.values())
        check("mo_%s_%s" % (style, enc), got == text and addr_ok and want > 1,
              "long MO (%d chars) injected by POST /mo arrives as %d deliver_sm (%s, %s) that "
              "reassemble to the injected text from %s" % (len(text), want, style, enc, sender),
              why if got != text else "source_addr or part count wrong")

    recs = [d for d in http(a.http, "GET", "/deliveries") if d["kind"] == "mo"]
    answered = [d for d in recs if d["state"].get("state") == "answered" and d["state"].get("detail") == 0]
    check("mo_answered", recs and len(answered) == len(recs),
          "the simulator saw deliver_sm_resp OK for all %d MO parts" % len(recs),
          "%d answered OK" % len(answered))
    check("no_odd_pdus", not oddities, "no unexpected PDU or error status from the simulator",
          "; ".join(oddities[:5]))

    try:
        r = c.unbind()
        check("unbind", r.command == "unbind_resp" and r.status == 0, "unbind answered OK",
              "%s status %r" % (r.command, r.status))
    except Exception as e:  # noqa: BLE001
        check("unbind", False, "unbind answered OK", repr(e))
    c.disconnect()
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
