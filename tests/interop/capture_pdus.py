#!/usr/bin/env python3
"""Write fixtures/pdus/*.hex: PDUs that third-party SMPP stacks put on the wire, each with the
fields Wireshark's SMPP dissector (tshark) reads from it, for the fixture tests to compare with
what our decoder reads (sms-wire/tests/captured_pdus.rs, tests/captured_pdus.rs,
smsc-sim/tests/captured_pdus.rs).

Inputs (see capture_pdus.sh, which produces them):
  * out/sim_peers/sim_*.hex: smsc-sim's --hex-log of the sim_peers.sh run (Kannel 1.4.5,
    npm smpp 0.5.1 and python smpplib 2.2.4 as ESMEs); only the PDUs the peers sent are taken
    ("in"), one of each kind: command, esm_class, data_coding, registered_delivery, TLVs;
  * node_smsc_pdus.js's output: what node-smpp encodes as an SMSC (receipts, MO, USSD).

tshark: text2pcap puts each PDU in a TCP segment to port 2775; the dissector reads it with the
GSM 03.38 unpacked alphabet for data_coding 0 (as check_ussd.js does).
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "fixtures", "pdus")

PEERS = {
    "kannel": ("kannel-esme.hex", "Kannel 1.4.5 bearerbox (tests/interop/sim_kannel.py, sim_kannel.conf)"),
    "nodesmpp": ("node-smpp-esme.hex", "npm smpp 0.5.1 client (tests/interop/sim_node.js)"),
    "smpplib": ("smpplib-esme.hex", "python smpplib 2.2.4 (tests/interop/sim_smpplib.py)"),
}

# tshark fields kept as expectations (the rest describe the same bytes again or are dissector
# bookkeeping).
KEPT = [
    "smpp.command_length", "smpp.command_id", "smpp.command_status", "smpp.sequence_number",
    "smpp.system_id", "smpp.interface_version", "smpp.system_type", "smpp.service_type",
    "smpp.source_addr_ton", "smpp.source_addr_npi", "smpp.source_addr",
    "smpp.dest_addr_ton", "smpp.dest_addr_npi", "smpp.destination_addr",
    "smpp.esm.submit.msg_mode", "smpp.esm.submit.msg_type", "smpp.esm.submit.features",
    "smpp.regdel.receipt", "smpp.data_coding", "smpp.sm_length", "smpp.message_text",
    "smpp.message_id", "smpp.receipted_message_id", "smpp.message_state",
    "smpp.ussd_service_op", "smpp.sar_msg_ref_num", "smpp.sar_total_segments",
    "smpp.sar_segment_seqnum", "smpp.more_messages_to_send", "smpp.message_payload",
    "gsm_sms.udh.mm.msg_id", "gsm_sms.udh.mm.msg_parts", "gsm_sms.udh.mm.msg_part",
]


def flatten(node, into):
    if isinstance(node, list):
        for n in node:
            flatten(n, into)
    elif isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict) or (isinstance(v, list) and not all(isinstance(x, str) for x in v)):
                flatten(v, into)
            else:
                into.setdefault(k, v)


def dissect(pdus):
    """tshark's fields for each PDU (bytes), in order."""
    with tempfile.TemporaryDirectory() as d:
        txt, pcap = os.path.join(d, "pdus.txt"), os.path.join(d, "pdus.pcap")
        with open(txt, "w") as f:
            for b in pdus:
                f.write("0000 " + " ".join("%02x" % x for x in b) + "\n")
        subprocess.run(["text2pcap", "-q", "-T", "40000,2775", txt, pcap], check=True,
                       capture_output=True)
        res = subprocess.run(
            ["tshark", "-r", pcap, "-o", "smpp.decode_sms_over_smpp:GSM 7-bit",
             "-o", "smpp.gsm7_unpacked:TRUE", "-d", "tcp.port==2775,smpp",
             "-T", "json", "--no-duplicate-keys"],
            check=True, capture_output=True, text=True)
    frames = json.loads(res.stdout)
    if len(frames) != len(pdus):
        sys.exit(f"tshark read {len(frames)} frames for {len(pdus)} PDUs")
    out = []
    for fr in frames:
        fields = {}
        flatten(fr["_source"]["layers"], fields)
        if "smpp.command_id" not in fields:
            sys.exit("tshark did not dissect a PDU as SMPP")
        out.append(fields)
    return out


def cstr(body, i):
    j = body.index(0, i)
    return body[i:j], j + 1


def kind(b):
    """What makes a PDU a new example: command, and for messages esm_class, data_coding,
    registered_delivery and the TLV tags."""
    cid = int.from_bytes(b[4:8], "big")
    if cid not in (0x04, 0x05) or len(b) <= 16:
        return (cid,)
    body = b[16:]
    _, i = cstr(body, 0)
    i += 2
    _, i = cstr(body, i)
    i += 2
    _, i = cstr(body, i)
    esm = body[i]
    i += 3
    _, i = cstr(body, i)
    _, i = cstr(body, i)
    rd, dc, sml = body[i], body[i + 2], body[i + 4]
    i += 5 + sml
    tags = []
    while i + 4 <= len(body):
        tags.append(int.from_bytes(body[i:i + 2], "big"))
        i += 4 + int.from_bytes(body[i + 2:i + 4], "big")
    return (cid, esm, dc, rd & 3, tuple(tags))


NAMES = {0x04: "submit_sm", 0x05: "deliver_sm", 0x06: "unbind", 0x09: "bind_transceiver",
         0x15: "enquire_link", 0x80000005: "deliver_sm_resp", 0x80000006: "unbind_resp",
         0x80000015: "enquire_link_resp"}


def title(k):
    name = NAMES.get(k[0], "command 0x%08x" % k[0])
    if len(k) == 1:
        return name
    _, esm, dc, rd, tags = k
    t = f"{name}, esm_class 0x{esm:02x}, data_coding 0x{dc:02x}, registered_delivery {rd}"
    if tags:
        t += ", TLVs " + " ".join("0x%04x" % x for x in tags)
    return t


def from_hex_logs(logdir):
    """{peer: [(title, bytes)]}: the first PDU of each kind each peer sent."""
    picked = {p: [] for p in PEERS}
    for name in sorted(os.listdir(logdir)):
        if not name.endswith(".hex"):
            continue
        conns, seen = {}, set()
        for line in open(os.path.join(logdir, name)):
            parts = line.split()
            if len(parts) != 4 or parts[2] != "in":
                continue
            conn, b = parts[1], bytes.fromhex(parts[3])
            if int.from_bytes(b[4:8], "big") in (0x01, 0x02, 0x09):
                conns[conn] = b[16:].split(b"\0")[0].decode("ascii", "replace")
            peer = conns.get(conn)
            k = kind(b)
            if peer in picked and (peer, k) not in seen:
                seen.add((peer, k))
                picked[peer].append((title(k), b))
    return picked


def escape(v):
    """One line a value: a backslash and a line break are written \\\\ and \\n."""
    return str(v).replace("\\", "\\\\").replace("\n", "\\n")


def write(path, header, records):
    fields = dissect([b for _, b, _ in records])
    with open(path, "w") as f:
        for h in header:
            f.write(("# " + h).rstrip() + "\n")
        for n, ((t, b, sent), fl) in enumerate(zip(records, fields), 1):
            f.write(f"\n== {n}: {t}\n")
            for key in KEPT:
                if key in fl:
                    v = fl[key]
                    if key == "smpp.service_type" and v == "(Default)":
                        v = ""
                    f.write(f"tshark {key} = {escape(v)}\n")
            for key, v in sent.items():
                f.write(f"sent {key} = {escape(v)}\n")
            f.write(f"hex = {b.hex()}\n")
    print(f"wrote {path}: {len(records)} PDUs")


def main():
    logdir, node_out = sys.argv[1], sys.argv[2]
    common = [
        "Lines: '== N: title', then 'tshark FIELD = VALUE' (what Wireshark's SMPP dissector,",
        "tshark, reads from the PDU), 'sent KEY = VALUE' (what the peer was asked to encode), and",
        "'hex = ' the whole PDU, header included; in values '\\\\' is a backslash, '\\n' a line break.",
        "Made by tests/interop/capture_pdus.sh; read by the captured_pdus tests (see",
        "fixtures/pdus/README.md). Do not edit by hand: capture again.",
    ]
    for peer, pdus in from_hex_logs(logdir).items():
        fname, who = PEERS[peer]
        header = [f"fixtures/pdus/{fname}: the PDUs {who}",
                  "sent to an SMSC (smsc-sim, recorded by its --hex-log; the bind password is",
                  "recorded masked, as the simulator writes it), one of each kind.", ""] + common
        write(os.path.join(FIXTURES, fname), header, [(t, b, {}) for t, b in pdus])
    node = [json.loads(line) for line in open(node_out) if line.strip()]
    header = ["fixtures/pdus/node-smpp-smsc.hex: the PDUs an SMSC sends to an ESME as npm smpp",
              "0.5.1 (node-smpp, the SMSC of ../shared/peers/node/smsc_server.js) encodes them",
              "(tests/interop/node_smsc_pdus.js): receipts, MO in every form we read, USSD.", ""] + common
    write(os.path.join(FIXTURES, "node-smpp-smsc.hex"), header,
          [(r["title"], bytes.fromhex(r["hex"]), r["sent"]) for r in node])


if __name__ == "__main__":
    main()
