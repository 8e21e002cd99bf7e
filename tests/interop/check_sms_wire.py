#!/usr/bin/env python3
"""Check sms-wire's encoder output against independent decoders.

Input: the records printed by `cargo run -p sms-wire --example wire_vectors`, one per line:

    name <TAB> kind <TAB> hex <TAB> json

kind `pdu`   : a whole submit_sm PDU (header included). json holds the input and the expected
               decoded values (literals written in the example, not computed by our code).
kind `wbxml` : a bare SI/SL WBXML body. json holds the expected decoded element.
kind `gsm7`  : our unpacked GSM 03.38 septets for json["text"].

Decoders used (none of them is ours):
  * wbxml2xml / xml2wbxml (libwbxml, Debian libwbxml2-utils)
  * text2pcap + tshark (Wireshark dissectors smpp, gsm_sms_ud, wsp, wbxml)
  * PyPI gsm0338 (GSM 03.38 codec), Python's own UTF-16BE codec

Every check prints one `PASS name: what` or `FAIL name: what (why)` line.
Exit status is 0 when nothing failed.
"""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import gsm0338  # noqa: F401  (registers the 'gsm03.38' codec)

PASSED = 0
FAILED = 0


def report(ok, name, what, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}: {what}")
    else:
        FAILED += 1
        print(f"FAIL {name}: {what}" + (f" ({why})" if why else ""))
    return ok


def expect_eq(name, what, got, want):
    return report(got == want, name, what, f"got {got!r}, want {want!r}")


def run(cmd, data=None):
    return subprocess.run(cmd, input=data, capture_output=True, timeout=120)


# --------------------------------------------------------------------------- records


def read_records(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                report(False, f"record:{lineno}", "record has 4 tab-separated columns", repr(line[:80]))
                continue
            name, kind, hexdata, meta = cols
            try:
                records.append((name, kind, bytes.fromhex(hexdata), json.loads(meta)))
            except ValueError as e:
                report(False, f"record:{lineno}", "record parses", str(e))
    return records


# --------------------------------------------------------------------------- WBXML via libwbxml


def element_of_xml(xml_text):
    """(tag, attributes, text) of the first child of the root: <indication> for SI, <sl> itself for SL."""
    root = ET.fromstring(xml_text)
    elem = root if root.tag == "sl" else root.find("indication")
    if elem is None:
        return None
    return {"tag": elem.tag, "attrs": dict(elem.attrib), "text": (elem.text or "")}


def expected_element(meta):
    want = meta["xml"]
    return {"tag": want["tag"], "attrs": want["attrs"], "text": want.get("text", "")}


def check_wbxml_body(name, body, meta, workdir):
    """wbxml2xml decodes `body` to the expected element; xml2wbxml re-encodes it to the same bytes."""
    res = run(["wbxml2xml", "-m", "0", "-o", "-", "-"], body)
    if not report(res.returncode == 0, name, "wbxml2xml decodes the body",
                  f"exit {res.returncode}: {res.stderr.decode(errors='replace').strip()}"):
        return
    xml_text = res.stdout.decode("utf-8", errors="replace")
    try:
        got = element_of_xml(xml_text)
    except ET.ParseError as e:
        report(False, name, "wbxml2xml output is well-formed XML", str(e))
        return
    want = expected_element(meta)
    expect_eq(name, f"wbxml2xml: <{want['tag']}> with href/text/si-id/action/dates as expected", got, want)
    # Byte equality with the reference encoder (wire-formats.md §5): libwbxml re-encodes the XML it
    # decoded from our bytes (so attribute order is ours) without a string table, as WBXML 1.2.
    src = os.path.join(workdir, f"{name}.xml")
    with open(src, "w", encoding="utf-8") as f:
        f.write(xml_text)
    res = run(["xml2wbxml", "-n", "-v", "1.2", "-o", "-", src])
    if report(res.returncode == 0, name, "xml2wbxml re-encodes the decoded XML",
              res.stderr.decode(errors="replace").strip()):
        expect_eq(name, "our WBXML is byte-identical to xml2wbxml -n -v 1.2", res.stdout.hex(), body.hex())


# --------------------------------------------------------------------------- GSM 03.38 via PyPI gsm0338


def check_gsm7(name, ours, meta):
    text = meta["text"]
    try:
        ref = text.encode("gsm03.38")
    except UnicodeError as e:
        report(False, name, "gsm0338 can encode the text", str(e))
        return
    expect_eq(name, f"our GSM-7 septets equal gsm0338's for {text!r}", ours.hex(), ref.hex())
    expect_eq(name, "gsm0338 decodes our septets back to the text", ours.decode("gsm03.38", errors="replace"), text)


# --------------------------------------------------------------------------- SMPP PDUs via tshark

TSHARK_FIELDS = [
    "frame.number",
    "smpp.command_length",
    "smpp.command_id",
    "smpp.sequence_number",
    "smpp.data_coding",
    "smpp.esm.submit.msg_mode",
    "smpp.esm.submit.msg_type",
    "smpp.esm.submit.features",
    "smpp.sm_length",
    "gsm_sms.destination_port",
    "gsm_sms.originator_port",
    "gsm_sms.udh.mm.msg_id",
    "gsm_sms.udh.mm.msg_parts",
    "gsm_sms.udh.mm.msg_part",
    "gsm_sms_ud.reassembled.length",
    "gsm_sms_ud.short_msg",
    "smpp.message",
    "smpp.message_text",
    "wsp.TID",
    "wsp.pdu_type",
    "wsp.header.x_wap_application_id",
    "wsp.header.content_type",
    "wbxml.public_id.known",
    "wbxml.charset",
]
TSHARK_PREFS = ["-o", "smpp.decode_sms_over_smpp:GSM 7-bit", "-o", "gsm_sms.reassemble:TRUE"]


def to_int(s):
    if s == "":
        return None
    return int(s, 16) if s.startswith("0x") else int(s)


def make_pcap(pdus, workdir):
    """One TCP packet 40000 -> 2775 (SMPP) per PDU, via text2pcap's hexdump input."""
    dump = []
    for pdu in pdus:
        for off in range(0, len(pdu), 16):
            chunk = pdu[off:off + 16]
            dump.append(f"{off:06x} " + " ".join(f"{b:02x}" for b in chunk))
        dump.append(f"{len(pdu):06x}")
    txt = os.path.join(workdir, "pdus.txt")
    pcap = os.path.join(workdir, "pdus.pcap")
    with open(txt, "w") as f:
        f.write("\n".join(dump) + "\n")
    res = run(["text2pcap", "-q", "-T", "40000,2775", txt, pcap])
    return pcap if res.returncode == 0 else None


def tshark_rows(pcap):
    cmd = ["tshark", "-r", pcap, *TSHARK_PREFS, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    res = run(cmd)
    rows = {}
    for line in res.stdout.decode("utf-8", errors="replace").splitlines():
        cols = line.split("\t")
        cols += [""] * (len(TSHARK_FIELDS) - len(cols))
        row = dict(zip(TSHARK_FIELDS, cols))
        rows[int(row["frame.number"])] = row
    return rows


def tshark_wbxml_elements(pcap):
    """Rebuild the SI <indication> / SL <sl> element from tshark's WBXML token tree (PDML), per frame."""
    res = run(["tshark", "-r", pcap, *TSHARK_PREFS, "-Y", "wbxml", "-T", "pdml"])
    out = {}
    try:
        root = ET.fromstring(res.stdout.decode("utf-8", errors="replace"))
    except ET.ParseError as e:
        report(False, "pcap", "tshark's PDML output parses", str(e))
        return out
    for packet in root.iter("packet"):
        number = next((f.get("show") for f in packet.iter("field") if f.get("name") == "frame.number"), "0")
        frame_no = int(number)
        proto = next((p for p in packet.iter("proto") if p.get("name") == "wbxml"), None)
        if proto is None:
            continue
        elems = []  # (tag, attrs, text) for each known tag
        stack = []
        attr = None  # name of the attribute being assembled
        in_attrs = False
        for field in proto.iter("field"):
            fname, show = field.get("name"), field.get("show", "")
            value = int(field.get("value") or "0", 16) if fname == "wbxml.known_tag" else None
            if fname == "wbxml.known_tag":
                elem = {"tag": show, "attrs": {}, "text": ""}
                elems.append(elem)
                in_attrs = bool(value & 0x80)
                if value & 0x40:
                    stack.append(elem)
                attr = None
            elif fname == "wbxml.known_attrstart":
                m = re.match(r"^([\w-]+)=(?:'(.*)')?$", show)
                if m:
                    attr = m.group(1)
                    elems[-1]["attrs"][attr] = m.group(2) or ""
            elif fname == "wbxml.known_attrvalue" and attr and in_attrs:
                elems[-1]["attrs"][attr] += show.strip("'")
            elif fname == "wbxml.opaque_data" and attr and in_attrs:
                m = re.search(r"%DateTime: (\S+)", field.get("showname", ""))
                elems[-1]["attrs"][attr] += m.group(1) if m else "opaque:" + field.get("value", "")
            elif fname == "wbxml.str_i":
                if in_attrs and attr:
                    elems[-1]["attrs"][attr] += show
                elif stack:
                    stack[-1]["text"] += show
            elif fname == "wbxml.end_attribute_list":
                in_attrs, attr = False, None
            elif fname in ("wbxml.end_known_tag", "wbxml.end_known_tag.uint"):
                if in_attrs:
                    in_attrs, attr = False, None
                elif stack:
                    stack.pop()
        main = next((e for e in elems if e["tag"] in ("indication", "sl")), None)
        if main is not None:
            out[frame_no] = main
    return out


def wsp_body(datagram):
    """Strip the connectionless WSP Push header (TID, type, uintvar HeadersLen, headers)."""
    if len(datagram) < 3:
        return None
    i, hlen = 2, 0
    while i < len(datagram):
        b = datagram[i]
        hlen = (hlen << 7) | (b & 0x7F)
        i += 1
        if not b & 0x80:
            break
    return datagram[i + hlen:]


def decode_text(dc, data):
    if dc == 0:
        return data.decode("gsm03.38", errors="replace")
    if dc == 8:
        return data.decode("utf-16-be", errors="replace")
    return None


def udh_and_payload(row, meta):
    msg = bytes.fromhex(row["smpp.message"].replace(":", ""))
    if meta["esm"] & 0x40 and msg:
        return msg[:msg[0] + 1], msg[msg[0] + 1:]
    return b"", msg


def check_part_alone(name, row, meta):
    """Each text part decodes on its own (no split escape pair or surrogate pair), and a non-final
    part is filled to the TS 23.040 capacity, or one unit less where a pair would straddle the
    boundary (8-bit parts: exactly full)."""
    udh, payload = udh_and_payload(row, meta)
    if meta["dc"] == 0:
        ok = not payload.endswith(b"\x1b")
        try:
            payload.decode("gsm03.38")
        except UnicodeError:
            ok = False
        report(ok, name, "the part decodes alone with gsm0338 (no escape pair split)")
        # UDH plus fill bits occupy ceil(8 * udh / 7) septets of the 160 (TS 23.040 §9.2.3.24)
        capacity, unit = 160 - (len(udh) * 8 + 6) // 7 if udh else 160, 1
    elif meta["dc"] == 8:
        try:
            payload.decode("utf-16-be", errors="strict")
            ok = True
        except UnicodeError:
            ok = False
        report(ok, name, "the part decodes alone as strict UTF-16BE (no surrogate pair split)")
        capacity, unit = (140 - len(udh)) & ~1, 2
    else:
        # 8-bit data (WAP Push): any octet may end a part, so non-final parts are exactly full
        # (128 octets with port + 8-bit concat IEs, 127 with a 16-bit reference)
        capacity, unit = 140 - len(udh), 0
    if meta["part"] < meta["parts"]:
        report(capacity - unit <= len(payload) <= capacity, name,
               f"non-final part is full: {len(payload)} of {capacity} octets of user data")


def check_pdus(pdu_records, workdir):
    pcap = make_pcap([r[2] for r in pdu_records], workdir)
    if not report(pcap is not None, "pcap", f"text2pcap builds a capture of {len(pdu_records)} PDUs"):
        return
    rows = tshark_rows(pcap)
    report(len(rows) == len(pdu_records), "pcap", "tshark reads one frame per PDU",
           f"{len(rows)} frames for {len(pdu_records)} PDUs")
    malformed = run(["tshark", "-r", pcap, *TSHARK_PREFS, "-Y",
                     "_ws.malformed || _ws.expert.severity >= error", "-T", "fields", "-e", "frame.number"])
    bad = malformed.stdout.decode().split()
    report(malformed.returncode == 0 and not bad, "pcap",
           "tshark finds no malformed packet or expert error", f"frames {bad}")
    wbxml_elems = tshark_wbxml_elements(pcap)

    groups = {}
    for frame_no, (name, _kind, pdu, meta) in enumerate(pdu_records, 1):
        row = rows.get(frame_no)
        if row is None:
            report(False, name, "tshark dissected the frame")
            continue
        groups.setdefault(meta["group"], []).append((frame_no, name, pdu, meta, row))
        # --- per-PDU fields
        expect_eq(name, "submit_sm command_id", row["smpp.command_id"], "0x00000004")
        expect_eq(name, "command_length equals the PDU's size", to_int(row["smpp.command_length"]), len(pdu))
        expect_eq(name, "data_coding", to_int(row["smpp.data_coding"]), meta["dc"])
        esm = ((to_int(row["smpp.esm.submit.features"]) or 0) << 6) | \
              ((to_int(row["smpp.esm.submit.msg_type"]) or 0) << 2) | (to_int(row["smpp.esm.submit.msg_mode"]) or 0)
        expect_eq(name, "esm_class (mode, type, UDHI) as decoded", f"0x{esm:02x}", f"0x{meta['esm']:02x}")
        sm_len = to_int(row["smpp.sm_length"])
        limit = 160 if meta["dc"] == 0 else 140
        report(sm_len is not None and sm_len <= limit, name, f"sm_length {sm_len} within the {limit}-unit radio limit")
        if meta.get("ports"):
            got = (to_int(row["gsm_sms.destination_port"]), to_int(row["gsm_sms.originator_port"]))
            expect_eq(name, "UDH port addressing dest/src", got, tuple(meta["ports"]))
        if meta["parts"] > 1:
            got = (to_int(row["gsm_sms.udh.mm.msg_id"]), to_int(row["gsm_sms.udh.mm.msg_parts"]),
                   to_int(row["gsm_sms.udh.mm.msg_part"]))
            expect_eq(name, "concat UDH ref/parts/part", got, (meta["ref"], meta["parts"], meta["part"]))
        else:
            expect_eq(name, "no concatenation IE on a single SMS", row["gsm_sms.udh.mm.msg_parts"], "")
        check_part_alone(name, row, meta)
        if meta["parts"] == 1 and "text" in meta:
            expect_eq(name, "tshark's decoded message text", row["smpp.message_text"], meta["text"])

    # --- per message (group of parts)
    for group, items in groups.items():
        meta = items[0][3]
        label = group
        expect_eq(label, "number of parts", len(items), meta["parts"])
        last_frame, last = items[-1][0], items[-1][4]
        # The datagram: each part's short_message minus its UDH, in tshark's part-number order.
        def payload(r):
            return udh_and_payload(r, meta)[1]
        ordered = sorted(items, key=lambda it: to_int(it[4]["gsm_sms.udh.mm.msg_part"]) or 0)
        datagram = b"".join(payload(r) for _, _, _, _, r in ordered)
        if meta["parts"] > 1:
            expect_eq(label, "tshark reassembled all parts (length = sum of payloads)",
                      to_int(last["gsm_sms_ud.reassembled.length"]), len(datagram))
        if "text" in meta and meta["parts"] > 1:
            reassembled = bytes.fromhex(last["gsm_sms_ud.short_msg"].replace(":", ""))
            expect_eq(label, "tshark's reassembled body equals the parts joined", reassembled.hex(), datagram.hex())
            expect_eq(label, "the reassembled body decodes to the original text",
                      decode_text(meta["dc"], reassembled), meta["text"])
        if "content_type" in meta:
            expect_eq(label, "WSP PDU type is Push", last["wsp.pdu_type"], "0x06")
            expect_eq(label, "WSP transaction id", to_int(last["wsp.TID"]), meta["tid"])
            expect_eq(label, "WSP content type", last["wsp.header.content_type"], meta["content_type"])
            expect_eq(label, "WSP X-Wap-Application-Id header", last["wsp.header.x_wap_application_id"],
                      meta["app_id"])
            pub = 5 if meta["content_type"] == "application/vnd.wap.sic" else 6
            expect_eq(label, "WBXML public id and charset", (to_int(last["wbxml.public_id.known"]),
                                                             to_int(last["wbxml.charset"])), (pub, 106))
            expect_eq(label, "tshark's WBXML token tree rebuilds the expected element",
                      wbxml_elems.get(last_frame), expected_element(meta))
            body = wsp_body(datagram) or b""
            res = run(["wbxml2xml", "-m", "0", "-o", "-", "-"], body)
            try:
                got = element_of_xml(res.stdout.decode("utf-8", errors="replace")) if res.returncode == 0 else None
            except ET.ParseError:
                got = None
            expect_eq(label, "wbxml2xml decodes the body carried in the PDUs", got, expected_element(meta))


def main():
    if len(sys.argv) != 3:
        print("usage: check_sms_wire.py RECORDS WORKDIR", file=sys.stderr)
        return 2
    records = read_records(sys.argv[1])
    workdir = sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    kinds = {k: [r for r in records if r[1] == k] for k in ("pdu", "wbxml", "gsm7")}
    for k, rs in kinds.items():
        report(len(rs) > 0, "records", f"the example printed {len(rs)} {k} records")
    for name, _, data, meta in kinds["gsm7"]:
        check_gsm7(name, data, meta)
    for name, _, data, meta in kinds["wbxml"]:
        check_wbxml_body(name, data, meta, workdir)
    if kinds["pdu"]:
        check_pdus(kinds["pdu"], workdir)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
