#!/usr/bin/env python3
"""Checks for console.sh (stdlib only): the DOM headless Chromium dumped after the console
page's JavaScript ran, and the screenshot PNG it wrote.

  console_check.py dom FILE --phone N --caller X --name NAME --owner-text TEXT --service S
                          [--ussd-text TEXT]
  console_check.py actions FILE --sms N --ussd N
  console_check.py png FILE --width W --height H

Prints one `PASS name: what` / `FAIL name: what (why)` line per check; for `dom` also prints
`IMG <src>` (the call screen's avatar URL, for the caller to fetch). Exit status 0 even on FAIL
lines (the caller counts them); 2 if the input cannot be read at all.
"""

import argparse
import struct
import sys
import zlib
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    """One element: tag, attributes, children (elements and text strings)."""

    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def find_all(self, pred):
        return [n for n in self.walk() if pred(n)]

    def find(self, pred):
        for n in self.walk():
            if pred(n):
                return n
        return None


class Tree(HTMLParser):
    """A forgiving tree builder (Chromium's serialisation is well-formed enough)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def digits(s):
    return "".join(ch for ch in s or "" if ch.isdigit())


def check(ok, name, what, why=""):
    print(f"PASS {name}: {what}" if ok else f"FAIL {name}: {what} ({why})", flush=True)
    return ok


def dom(args):
    try:
        html = open(args.file, encoding="utf-8").read()
    except OSError as e:
        print(f"FAIL dom: read {args.file} ({e})")
        return 2
    t = Tree()
    t.feed(html)
    root = t.root
    body = root.find(lambda n: n.tag == "body")
    check(body is not None and "data-polled" in body.attrs and "data-poll-error" not in body.attrs,
          "dom: poll", "the page's script polled the control API (/handsets, /handsets/{n}) without error",
          f"body attributes {body.attrs if body else None}")

    phones = root.find_all(lambda n: "phone" in n.classes())
    rendered = [p for p in phones if p.attrs.get("data-rendered") == "js"]
    check(len(phones) >= 3 and len(rendered) == len(phones), "dom: phones",
          f"{len(phones)} .phone cards side by side, every one redrawn by the script from JSON",
          f"{len(phones)} cards, {len(rendered)} redrawn: "
          + ", ".join(p.attrs.get("data-number", "?") for p in phones))

    def phone_of(num):
        return next((p for p in phones if digits(p.attrs.get("data-number")) == digits(num)), None)

    owner = phone_of(args.caller)
    owner_text = owner.text() if owner else ""
    check(owner is not None and args.owner_text in owner_text, "dom: inbox",
          f"{args.caller}'s phone shows the reply '{args.owner_text}' in its inbox",
          f"phone {'found' if owner else 'missing'}; text: {owner_text[:300]!r}")
    forms = [f for f in owner.find_all(lambda n: n.tag == "form")] if owner else []
    kinds = sorted(c for f in forms for c in f.classes())
    svc = owner.find(lambda n: n.tag == "input" and "svc" in n.classes()) if owner else None
    check(kinds == ["sms", "ussd"] and svc is not None and svc.attrs.get("value") == args.service,
          "dom: boxes", f"each phone has a text box (to the service number {args.service}) and a USSD dial box",
          f"forms {kinds}, service field {svc.attrs if svc else None}")

    phone = phone_of(args.phone)
    contact = None
    if phone:
        contact = phone.find(lambda n: "contact" in n.classes() and digits(n.attrs.get("data-number")) == digits(args.caller))
    thumb = contact.find(lambda n: n.tag == "img" and "thumb" in n.classes()) if contact else None
    button = contact.find(lambda n: n.tag == "button" and "call" in n.classes()) if contact else None
    ctext = " ".join(contact.text().split()) if contact else ""
    check(thumb is not None and button is not None and args.name in ctext, "dom: contact",
          f"{args.phone}'s phone lists {args.caller} as '{args.name}' with an avatar thumbnail, status and a call button",
          f"contact {'found' if contact else 'missing'}, thumb {thumb is not None}, button {button is not None}, text {ctext!r}")
    pushes = phone.find_all(lambda n: "push" in n.classes()) if phone else []
    check(any(args.name in p.text() for p in pushes), "dom: push",
          f"{args.phone}'s inbox shows a decoded WAP Push naming {args.name}",
          f"pushes: {[' '.join(p.text().split())[:120] for p in pushes]}")

    if args.ussd_text:
        screen = owner.find(lambda n: "ussd-screen" in n.classes()) if owner else None
        got = screen.text() if screen else None
        check(got == args.ussd_text, "dom: ussd screen",
              f"{args.caller}'s phone shows the USSD menu it dialled ({args.ussd_text.splitlines()[0]!r}...)",
              f"shows {got!r}")

    cs = root.find(lambda n: n.attrs.get("id") == "call-screen")
    if cs is None:
        check(False, "dom: call screen", "#call-screen exists", "missing")
        return 0
    where = cs.parent
    while where is not None and "phone" not in where.classes():
        where = where.parent
    check("hidden" not in cs.attrs and cs.attrs.get("data-state") == "ringing"
          and where is not None and digits(where.attrs.get("data-number")) == digits(args.phone)
          and digits(cs.attrs.get("data-from")) == digits(args.caller),
          "dom: call", f"clicking the call button opened the call screen over {args.phone}'s phone, caller {args.caller}",
          f"attrs {cs.attrs}, inside phone {where.attrs.get('data-number') if where else None}")
    name = cs.find(lambda n: "call-name" in n.classes())
    number = cs.find(lambda n: "call-number" in n.classes())
    status = cs.find(lambda n: "call-status" in n.classes())
    got = (name.text().strip() if name else None, number.text().strip() if number else None,
           status.text().strip() if status else "")
    check(got[0] == args.name and digits(got[1]) == digits(args.caller) and got[2] != "",
          "dom: caller", f"the call screen shows the caller's name '{args.name}', number and status",
          f"name/number/status {got}")
    img = cs.find(lambda n: n.tag == "img")
    src = img.attrs.get("src", "") if img else ""
    check(img is not None and "hidden" not in img.attrs and src.startswith("/handsets/")
          and "/avatar?from=" in src, "dom: avatar img",
          f"the call screen has a visible <img> of the caller's avatar ({src})",
          f"img {img.attrs if img else None}")
    size = cs.attrs.get("data-img", "")
    w, _, h = size.partition("x")
    check(w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0, "dom: avatar rendered",
          f"Chromium decoded the avatar image ({size} natural size)", f"data-img {size!r}")
    if src:
        print(f"IMG {src}")
    return 0


def actions(args):
    """The page after `?sms=N:TEXT&ussd=M:CODE`: both boxes were submitted and answered OK."""
    try:
        html = open(args.file, encoding="utf-8").read()
    except OSError as e:
        print(f"FAIL actions: read {args.file} ({e})")
        return 2
    t = Tree()
    t.feed(html)
    body = t.root.find(lambda n: n.tag == "body")
    err = body.attrs.get("data-action-error") if body else "no body"
    phones = t.root.find_all(lambda n: "phone" in n.classes())
    for kind, num, path in (("sms", args.sms, "mo"), ("ussd", args.ussd, "ussd")):
        el = next((p for p in phones if digits(p.attrs.get("data-number")) == digits(num)), None)
        state = el.attrs.get(f"data-sent-{path}") if el else None
        result = el.find(lambda n: "result" in n.classes()) if el else None
        check(err is None and state == "ok" and result is not None and result.text() == "sent",
              f"browser: {kind} box", f"{num}'s {kind} box submitted through the page's script: POST /{path} answered OK",
              f"data-sent-{path} {state!r}, result {result.text() if result else None!r}, action error {err!r}")
    return 0


def png(args):
    """Decode the PNG (8-bit RGB/RGBA, non-interlaced, as Chromium writes it) with zlib."""
    try:
        data = open(args.file, "rb").read()
    except OSError as e:
        print(f"FAIL png: read {args.file} ({e})")
        return 2
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        check(False, "png: signature", "the screenshot is a PNG", f"starts {data[:8]!r}")
        return 0
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + ln]
        if typ == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif typ == b"IDAT":
            idat += chunk
        pos += 12 + ln
    if ihdr is None:
        check(False, "png: header", "IHDR present", "missing")
        return 0
    w, h, depth, ctype, _, _, interlace = ihdr
    check((w, h) == (args.width, args.height), "png: size", f"screenshot is {args.width}x{args.height}", f"{w}x{h}")
    bpp = {2: 3, 6: 4}.get(ctype)
    if depth != 8 or bpp is None or interlace:
        check(False, "png: format", "8-bit RGB(A), not interlaced", f"depth {depth} colour type {ctype} interlace {interlace}")
        return 0
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, blue = set(), 0
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        for x in range(0, stride, bpp):
            r, g, bl = line[x], line[x + 1], line[x + 2]
            colours.add((r, g, bl))
            # The call screen's dark blue gradient (#1b3a57 -> #0b1a27).
            if r < 40 and bl > r + 20 and bl > g and bl < 110:
                blue += 1
        prev = line
    check(len(colours) > 50, "png: not blank", f"the screenshot has {len(colours)} distinct colours (> 50)",
          f"only {len(colours)}")
    check(blue > 20000, "png: call screen painted",
          f"{blue} pixels of the call screen's blue (a phone-sized overlay is > 20000)", f"only {blue}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dom")
    d.add_argument("file")
    d.add_argument("--phone", required=True)
    d.add_argument("--caller", required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--owner-text", required=True)
    d.add_argument("--service", required=True)
    d.add_argument("--ussd-text")
    a = sub.add_parser("actions")
    a.add_argument("file")
    a.add_argument("--sms", required=True)
    a.add_argument("--ussd", required=True)
    p = sub.add_parser("png")
    p.add_argument("file")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    args = ap.parse_args()
    return {"dom": dom, "actions": actions, "png": png}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
