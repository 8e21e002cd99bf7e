#!/usr/bin/env python3
"""Kannel 1.4.5 (bearerbox + smsbox, Debian `kannel`) against a running smsc-sim (issue 3 interop).

sim_peers.sh starts the simulator, then bearerbox and smsbox with sim_kannel.conf (one SMPP
transceiver link to the simulator, account kannel/kannel), then runs this. It serves, on
127.0.0.1:SINK, the dlr-url callbacks and smsbox's get-url for MO, and checks:
  - Kannel's SMSC link comes online and the simulator shows a transceiver bind `kannel`;
  - N messages through smsbox's /cgi-bin/sendsms (dlr-mask 3) are accepted (HTTP 202);
  - the simulator received the N submit_sm (GET /mt): right destinations, texts, ids;
    every destination handset (GET /handsets/{n}) shows the text in its inbox;
  - N delivery reports reach the dlr-url: type 1 (delivered), one per message, and the SMSC
    message id Kannel reports (%F) equals the id the simulator gave that message;
  - long MT through sendsms (GSM-7 and UCS-2), split by Kannel, reassembled by the handset;
  - long MOs injected at the simulator (POST /mo: GSM-7 + UDH 8-bit, UCS-2 + SAR TLVs) reach
    smsbox's get-url reassembled, with sender, receiver and text intact; the answer the sink
    gives goes back through Kannel as an MT that lands in the sending handset's inbox.
Prints `PASS name: what` / `FAIL name: what (why)`; exit 1 on any FAIL.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request

HOST = "127.0.0.1"
SYSTEM_ID = "kannel"
results = {"pass": 0, "fail": 0}


def check(name, ok, what, why=""):
    results["pass" if ok else "fail"] += 1
    if ok:
        print("PASS kannel %s: %s" % (name, what), flush=True)
    else:
        print("FAIL kannel %s: %s (%s)" % (name, what, why), flush=True)
    return ok


def get_json(base, path, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def get_text(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - "not up yet" for the polling callers
        return ""


def wait(cond, seconds, step=0.1):
    end = time.time() + seconds
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class Sink:
    """HTTP server for Kannel's dlr-url and get-url callbacks (GET), on 127.0.0.1."""

    def __init__(self, port):
        sink = self
        self.lock = threading.Lock()
        self.dlrs = []
        self.mos = []

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 - http.server API
                u = urllib.parse.urlsplit(self.path)
                # keep raw bytes: %b may carry UTF-16BE for UCS-2 messages
                q = {k: v[0] for k, v in urllib.parse.parse_qs(
                    u.query, keep_blank_values=True, encoding="latin-1").items()}
                body = b""
                with sink.lock:
                    if u.path == "/dlr":
                        sink.dlrs.append(q)
                    elif u.path == "/mo":
                        sink.mos.append(q)
                        body = ("Kannel got MO #%d" % len(sink.mos)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_a):
                pass

        class S(http.server.ThreadingHTTPServer):
            # smsbox opens many callback connections at once and does not retry a refused one
            request_queue_size = 1024
            daemon_threads = True

        self.srv = S((HOST, port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def sendsms(port, items, dlr_base, conns=4):
    """GET /cgi-bin/sendsms for each (n, to, text) over `conns` keep-alive connections.
    Returns {n: (status, body)}."""
    out = {}
    lock = threading.Lock()
    work = list(items)

    def worker():
        c = http.client.HTTPConnection(HOST, port, timeout=15)
        while True:
            with lock:
                if not work:
                    break
                n, to, text = work.pop()
            dlr = "%s/dlr?n=%d&type=%%d&fid=%%F&to=%%P&smsc=%%i&a=%%A" % (dlr_base, n)
            qs = urllib.parse.urlencode({
                "username": "interop", "password": "interop", "from": "KANNEL", "to": to,
                "text": text, "dlr-mask": "3", "dlr-url": dlr,
            })
            try:
                c.request("GET", "/cgi-bin/sendsms?" + qs)
                r = c.getresponse()
                res = (r.status, r.read().decode("utf-8", "replace").strip())
            except Exception as e:  # noqa: BLE001 - recorded as this message's result
                res = (0, repr(e))
                c.close()
                c = http.client.HTTPConnection(HOST, port, timeout=15)
            with lock:
                out[n] = res
        c.close()

    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", required=True, help="simulator control API base URL")
    ap.add_argument("--admin-port", type=int, required=True)
    ap.add_argument("--sendsms-port", type=int, required=True)
    ap.add_argument("--sink-port", type=int, required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--timeout", type=int, default=180)
    a = ap.parse_args()

    def on_alarm(_s, _f):
        print("FAIL kannel run: finished within %ds (timed out)" % a.timeout, flush=True)
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(a.timeout)
    sink = Sink(a.sink_port)
    sink_base = "http://%s:%d" % (HOST, a.sink_port)

    # --- link up ------------------------------------------------------------------------------
    status_url = "http://%s:%d/status.txt?password=interop" % (HOST, a.admin_port)
    t0 = time.time()
    st = wait(lambda: (lambda s: s if re.search(r"smscsim\[smscsim\].*\(online", s)
                       and "smsbox:" in s else "")(get_text(status_url)), 40, 0.3)
    if not check("online", bool(st), "bearerbox's SMPP link to the simulator is online and smsbox "
                 "is connected (%.1fs)" % (time.time() - t0), "status.txt: %r" % get_text(status_url)[-400:]):
        return 1
    binds = get_json(a.http, "/binds")
    kb = [b for b in binds if b.get("system_id") == SYSTEM_ID]
    check("bind", len(kb) == 1 and kb[0]["mode"] == "transceiver",
          "the simulator shows one transceiver bind with system_id kannel", "binds %s" % binds)

    # --- sendsms -> simulator handsets, DLRs -> dlr-url -------------------------------------------
    items = [(i, "4473%07d" % i, "Kannel interop %d" % i) for i in range(a.n)]
    t0 = time.time()
    res = sendsms(a.sendsms_port, items, sink_base)
    t_http = time.time() - t0
    bad = {n: r for n, r in res.items() if r[0] != 202}
    check("sendsms", len(res) == a.n and not bad,
          "%d GET /cgi-bin/sendsms (dlr-mask 3) answered 202 in %.2fs (%r)"
          % (len(res), t_http, res.get(0, (0, ""))[1]),
          "%d answered, bad e.g. %s" % (len(res), list(bad.items())[:3]))

    def kannel_mt():
        return [m for m in get_json(a.http, "/mt") if m["system_id"] == SYSTEM_ID]

    mt = wait(lambda: (lambda l: l if len(l) >= a.n else None)(kannel_mt()), 60, 0.3) or kannel_mt()
    t_mt = time.time() - t0
    by_dest = {m["dest"].lstrip("+"): m for m in mt}
    want = {to: text for _, to, text in items}
    wrong = [(to, by_dest.get(to, {}).get("text")) for to, text in want.items()
             if by_dest.get(to, {}).get("text") != text or by_dest[to]["status"] != 0]
    check("sim_received", len(mt) == a.n and not wrong,
          "the simulator accepted %d submit_sm from Kannel (%.2fs after the first sendsms), "
          "each with its destination and text" % (len(mt), t_mt),
          "%d records, wrong e.g. %s" % (len(mt), wrong[:3]))
    dlr_req = {m["registered_delivery"] & 0x03 for m in mt}
    check("registered_delivery", dlr_req == {1},
          "Kannel asked for receipts (registered_delivery 1) on every submit_sm", "got %s" % dlr_req)
    inbox_bad = []
    for _, to, text in items:
        h = get_json(a.http, "/handsets/%s" % to)
        texts = [(m["from"], m["text"]) for m in h.get("inbox", [])]
        if ("KANNEL", text) not in texts:
            inbox_bad.append((to, texts))
    check("handsets", not inbox_bad,
          "all %d handsets (GET /handsets/{n}) show the text from KANNEL in their inbox" % a.n,
          "%d wrong, e.g. %s" % (len(inbox_bad), inbox_bad[:2]))

    wait(lambda: len(sink.dlrs) >= a.n, 60, 0.2)
    t_dlr = time.time() - t0
    with sink.lock:
        dlrs = list(sink.dlrs)
    ns = sorted(int(d.get("n", -1)) for d in dlrs)
    types = {d.get("type") for d in dlrs}
    check("dlr_count", ns == list(range(a.n)),
          "%d delivery reports reached the dlr-url, one per message (%.2fs after the first sendsms)"
          % (len(dlrs), t_dlr), "got %d, distinct %d" % (len(dlrs), len(set(ns))))
    check("dlr_type", types == {"1"}, "every report is type 1 (delivered to the phone)",
          "types %s" % types)
    # Kannel stores the SMSC id from submit_sm_resp (msg-id-type 0x03: hex) and reports it as %F;
    # accept it written as the simulator's hex or converted to decimal.
    sim_id = {to: m["message_id"] for to, m in by_dest.items()}
    mism = []
    for d in dlrs:
        n = int(d.get("n", -1))
        if not 0 <= n < a.n:
            continue
        sid = sim_id.get(items[n][1], "")
        fid = d.get("fid", "")
        if not sid or not (fid.lower() == sid.lower() or (fid.isdigit() and int(fid) == int(sid, 16))):
            mism.append((n, fid, sid))
    check("dlr_ids", not mism and dlrs,
          "each report's SMSC message id (%%F, e.g. %r) is the id the simulator gave that message"
          % (dlrs[0].get("fid") if dlrs else None), "mismatch e.g. %s" % mism[:3])
    rtext = [d.get("a", "") for d in dlrs]
    check("dlr_text", rtext and all("stat:DELIVRD" in t for t in rtext),
          "the receipt text reaches the dlr-url (%%A: %r)" % (rtext[0] if rtext else ""),
          "e.g. %r" % [t for t in rtext if "stat:DELIVRD" not in t][:2])

    # --- long MT: Kannel splits (UDH concatenation), the simulator's handset reassembles ----------
    longs = [
        ("gsm7", "447400000001", {}, "Long MT from Kannel, GSM-7 {[€]}~ " + " ".join(
            "piece %02d of a message Kannel must split;" % i for i in range(10))),
        ("ucs2", "447400000002", {"coding": "2", "charset": "UTF-8"},
         "坎内尔长下行短信：" + "".join("第%d部分，" % i for i in range(40))),
    ]
    for enc, to, extra, text in longs:
        qs = urllib.parse.urlencode(dict({"username": "interop", "password": "interop",
                                          "from": "KANNEL", "to": to, "text": text}, **extra))
        st = get_text("http://%s:%d/cgi-bin/sendsms?%s" % (HOST, a.sendsms_port, qs))

        def arrived():
            h = get_json(a.http, "/handsets/%s" % to)
            return [m for m in h.get("inbox", []) if m["from"] == "KANNEL"]

        inbox = wait(arrived, 20, 0.2) or []
        parts = [m for m in get_json(a.http, "/mt?dest=%s" % to)]
        m = inbox[0] if inbox else {}
        check("long_mt_%s" % enc, len(inbox) == 1 and m.get("text") == text and m.get("parts", 0) > 1
              and len(parts) == m.get("parts"),
              "a %d-char %s sendsms is split by Kannel into %d submit_sm that the handset reassembles "
              "to the sent text" % (len(text), enc, len(parts)),
              "sendsms %r; inbox %s; %d MT" % (st, [(x.get("parts"), x.get("text")[:60]) for x in inbox],
                                               len(parts)))

    # --- MO at the simulator -> smsbox get-url, and the reply back to the handset -----------------
    mos = [
        ("udh8", "gsm7", "+447700900003", "Long MO into Kannel through smsc-sim, GSM-7 escapes {[€]}~ and @$_: "
         + " ".join("segment %02d of the test text." % i for i in range(14)), "0"),
        ("sar", "ucs2", "+8613800138003", "坎内尔长短信测试：" + "".join("第%d段，" % i for i in range(50)), "2"),
    ]
    for style, enc, sender, text, coding in mos:
        with sink.lock:
            before = len(sink.mos)
        try:
            ticket = get_json(a.http, "/mo", "POST", {"from": sender, "to": "12345", "text": text,
                                                       "style": style, "encoding": enc})
        except Exception as e:  # noqa: BLE001
            check("mo_%s_%s" % (style, enc), False, "POST /mo accepted", str(e))
            continue
        got = wait(lambda: len(sink.mos) > before, 20, 0.1)
        with sink.lock:
            new = sink.mos[before:]
        q = new[0] if got and new else {}
        raw = q.get("text", "").encode("latin-1")
        try:
            body = raw.decode("utf-16-be") if q.get("coding") == "2" else raw.decode("utf-8")
        except UnicodeDecodeError as e:
            body = "<%s>" % e
        ok = (len(new) == 1 and body == text and q.get("from", "").lstrip("+") == sender.lstrip("+")
              and q.get("to") == "12345" and q.get("coding") == coding)
        check("mo_%s_%s" % (style, enc), ok,
              "long MO (%d chars, %d deliver_sm, %s %s) injected at the simulator reaches smsbox's "
              "get-url reassembled, once, with from/to/coding/text intact (smsc %s)"
              % (len(text), ticket["parts"], style, enc, q.get("smsc")),
              "%d callbacks; got from=%r to=%r coding=%r text=%r" % (
                  len(new), q.get("from"), q.get("to"), q.get("coding"), body[:80]))
        reply = "Kannel got MO #%d" % (before + 1)
        num = sender.lstrip("+")

        def replied():
            h = get_json(a.http, "/handsets/%s" % num)
            return [m for m in h.get("inbox", []) if m["text"] == reply and m["from"] == "12345"]

        r = wait(replied, 20, 0.2)
        check("mo_reply_%s" % style, bool(r),
              "the get-url answer %r went back through Kannel and is in handset %s's inbox from 12345"
              % (reply, num), "inbox %s" % get_json(a.http, "/handsets/%s" % num).get("inbox"))

    deliveries = get_json(a.http, "/deliveries")
    notok = [d for d in deliveries if d["state"] != {"state": "answered", "detail": 0}]
    check("deliver_sm_resp", deliveries and not notok,
          "Kannel answered all %d deliver_sm (receipts and MO parts) with status 0" % len(deliveries),
          "%d not OK, e.g. %s" % (len(notok), notok[:2]))
    sink.close()
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
