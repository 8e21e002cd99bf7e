#!/usr/bin/env node
// Check the gateway's USSD submit_sm PDUs against two independent decoders (issue 7, interop).
//
// Input: the records printed by `cargo run -p presence-gw --example ussd_vectors`, one a line:
//
//     name <TAB> hex <TAB> json
//
// hex is a whole submit_sm PDU (header included) as the gateway sends it during a scripted
// USSD session; json holds the expected values, literals written in the example (never read
// back from our own output): command_id, sequence, service_type, source, dest, dest_ton,
// esm_class, registered_delivery, data_coding, ussd_service_op, session_number,
// session_sequence, end_of_session, text.
//
// Decoders (neither is ours):
//   * tshark's SMPP dissector, on a capture built by text2pcap (one TCP segment to port 2775
//     per PDU), read as JSON (`-T json --no-duplicate-keys`);
//   * npm smpp 0.5.1's PDU parser (`new PDU(buffer)`, tests/interop/node_modules), whose
//     short_message filter decodes GSM 03.38 (data_coding 0) and UCS-2 (data_coding 8).
//
// Prints one `PASS name: what` / `FAIL name: what (why)` line per check; exits 1 if any failed.
//   node tests/interop/check_ussd.js RECORDS OUTDIR

'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

let passed = 0;
let failed = 0;

function report(ok, name, what, why) {
  if (ok) {
    passed += 1;
    console.log(`PASS ${name}: ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}: ${what}` + (why ? ` (${why})` : ''));
  }
  return ok;
}

function expectEq(name, what, got, want) {
  return report(got === want, name, what, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function readRecords(file) {
  const records = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const cols = line.split('\t');
    if (cols.length !== 3) {
      report(false, `record:${i + 1}`, 'record has 3 tab-separated columns', JSON.stringify(line.slice(0, 80)));
      return;
    }
    const [name, hex, meta] = cols;
    try {
      if (!/^([0-9a-f]{2})+$/.test(hex)) throw new Error('not hex');
      records.push({ name, pdu: Buffer.from(hex, 'hex'), want: JSON.parse(meta) });
    } catch (e) {
      report(false, `record:${i + 1}`, 'record parses', String(e.message || e));
    }
  });
  return records;
}

// ------------------------------------------------------------------------- tshark

// data_coding 0 is the SMSC default alphabet, GSM 03.38 unpacked (one septet an octet) over SMPP.
const TSHARK_PREFS = ['-o', 'smpp.decode_sms_over_smpp:GSM 7-bit', '-o', 'smpp.gsm7_unpacked:TRUE'];

function makePcap(records, outDir) {
  const dump = [];
  for (const { pdu } of records) {
    for (let off = 0; off < pdu.length; off += 16) {
      const bytes = [...pdu.subarray(off, off + 16)].map((b) => b.toString(16).padStart(2, '0'));
      dump.push(off.toString(16).padStart(6, '0') + ' ' + bytes.join(' '));
    }
    dump.push(pdu.length.toString(16).padStart(6, '0'));
  }
  const txt = path.join(outDir, 'pdus.txt');
  const pcap = path.join(outDir, 'pdus.pcap');
  fs.writeFileSync(txt, dump.join('\n') + '\n');
  const res = spawnSync('text2pcap', ['-q', '-T', '40000,2775', txt, pcap], { timeout: 60000 });
  return res.status === 0 ? pcap : null;
}

// Flatten tshark's JSON tree of one smpp layer into field -> first value.
function flatten(node, into) {
  if (Array.isArray(node)) {
    node.forEach((n) => flatten(n, into));
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v === 'string') {
        if (!(k in into)) into[k] = v;
      } else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
        if (!(k in into)) into[k] = v[0];
      } else {
        flatten(v, into);
      }
    }
  }
  return into;
}

function tsharkLayers(pcap) {
  const res = spawnSync(
    'tshark',
    ['-r', pcap, ...TSHARK_PREFS, '-d', 'tcp.port==2775,smpp', '-T', 'json', '--no-duplicate-keys',
      '-j', 'frame smpp', '-J', 'smpp'],
    { timeout: 120000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (res.status !== 0) {
    report(false, 'tshark', 'tshark reads the capture', String(res.stderr).slice(0, 200));
    return null;
  }
  let frames;
  try {
    frames = JSON.parse(res.stdout.toString('utf8'));
  } catch (e) {
    report(false, 'tshark', "tshark's JSON output parses", String(e.message || e));
    return null;
  }
  return frames.map((f) => {
    const layers = f._source.layers;
    return layers.smpp ? flatten(layers.smpp, {}) : null;
  });
}

const int = (s) => (s === undefined ? undefined : s.startsWith('0x') ? parseInt(s, 16) : parseInt(s, 10));

function checkTshark(rec, f) {
  const { name, want } = rec;
  const n = `${name} tshark`;
  if (!report(f !== null && f !== undefined, n, 'tshark dissects the frame as SMPP')) return;
  expectEq(n, 'command_id (submit_sm)', int(f['smpp.command_id']), want.command_id);
  expectEq(n, 'command_length equals the PDU size', int(f['smpp.command_length']), rec.pdu.length);
  expectEq(n, 'sequence_number', int(f['smpp.sequence_number']), want.sequence);
  expectEq(n, 'service_type', f['smpp.service_type'], want.service_type);
  expectEq(n, 'source_addr (the short code)', f['smpp.source_addr'], want.source);
  expectEq(n, 'destination_addr', f['smpp.destination_addr'], want.dest);
  expectEq(n, 'dest_addr_ton', int(f['smpp.dest_addr_ton']), want.dest_ton);
  const esm = (int(f['smpp.esm.submit.msg_mode']) | int(f['smpp.esm.submit.msg_type'])
    | int(f['smpp.esm.submit.features']));
  expectEq(n, 'esm_class', esm, want.esm_class);
  expectEq(n, 'registered_delivery receipt bits', int(f['smpp.regdel.receipt']), want.registered_delivery);
  expectEq(n, 'data_coding', int(f['smpp.data_coding']), want.data_coding);
  expectEq(n, 'ussd_service_op TLV', int(f['smpp.ussd_service_op']), want.ussd_service_op);
  expectEq(n, 'its_session_info session number', int(f['smpp.its_session.number']), want.session_number);
  expectEq(n, 'its_session_info sequence number', int(f['smpp.its_session.sequence']), want.session_sequence);
  expectEq(n, 'its_session_info end-of-session bit', int(f['smpp.its_session.ind']), want.end_of_session);
  expectEq(n, 'decoded text', f['smpp.message_text'], want.text);
  // One USSD string: 182 GSM-7 septets (one an octet over SMPP) or 80 UCS-2 characters.
  const limit = want.data_coding === 8 ? 160 : 182;
  const len = int(f['smpp.sm_length']);
  report(len !== undefined && len <= limit, n, `sm_length ${len} fits one USSD string (<= ${limit} octets)`);
}

// ------------------------------------------------------------------------- npm smpp

function checkNode(PDU, rec) {
  const { name, want } = rec;
  const n = `${name} node-smpp`;
  let pdu;
  try {
    pdu = new PDU(rec.pdu);
  } catch (e) {
    report(false, n, 'node-smpp parses the PDU', String(e.message || e));
    return null;
  }
  if (!expectEq(n, 'command', pdu.command, 'submit_sm')) return null;
  expectEq(n, 'command_id', pdu.command_id, want.command_id);
  expectEq(n, 'sequence_number', pdu.sequence_number, want.sequence);
  expectEq(n, 'service_type', pdu.service_type, want.service_type);
  expectEq(n, 'source_addr', pdu.source_addr, want.source);
  expectEq(n, 'destination_addr', pdu.destination_addr, want.dest);
  expectEq(n, 'dest_addr_ton', pdu.dest_addr_ton, want.dest_ton);
  expectEq(n, 'esm_class', pdu.esm_class, want.esm_class);
  expectEq(n, 'registered_delivery', pdu.registered_delivery, want.registered_delivery);
  expectEq(n, 'data_coding', pdu.data_coding, want.data_coding);
  expectEq(n, 'ussd_service_op TLV', pdu.ussd_service_op, want.ussd_service_op);
  const its = pdu.its_session_info;
  if (report(Buffer.isBuffer(its) && its.length === 2, n, 'its_session_info TLV has 2 octets',
    `got ${its === undefined ? 'none' : JSON.stringify(its)}`)) {
    // SMPP 3.4 §5.3.2.43: octet 1 session number; octet 2 bits 7..1 sequence, bit 0 end.
    expectEq(n, 'its_session_info session number', its[0], want.session_number);
    expectEq(n, 'its_session_info sequence number', its[1] >> 1, want.session_sequence);
    expectEq(n, 'its_session_info end-of-session bit', its[1] & 1, want.end_of_session);
  }
  const text = pdu.short_message && pdu.short_message.message;
  expectEq(n, 'decoded text (GSM 03.38 / UCS-2 by data_coding)', text, want.text);
  const again = pdu.toBuffer();
  report(again.equals(rec.pdu), n, 're-encoding the decoded PDU gives our bytes back',
    `node: ${again.toString('hex')}`);
  return { op: pdu.ussd_service_op, end: Buffer.isBuffer(its) ? its[1] & 1 : undefined };
}

// ------------------------------------------------------------------------- main

function main() {
  const [recordsFile, outDir] = process.argv.slice(2);
  if (!recordsFile || !outDir) {
    console.log('FAIL usage: node check_ussd.js RECORDS OUTDIR');
    process.exit(2);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const records = readRecords(recordsFile);
  report(records.length > 0, 'records', `${records.length} USSD PDUs to check`);

  // tshark
  const pcap = makePcap(records, outDir);
  if (report(pcap !== null, 'pcap', `text2pcap builds a capture of ${records.length} PDUs`)) {
    const layers = tsharkLayers(pcap);
    if (layers) {
      expectEq('tshark', 'one frame per PDU', layers.length, records.length);
      const bad = spawnSync('tshark', ['-r', pcap, ...TSHARK_PREFS, '-d', 'tcp.port==2775,smpp', '-Y',
        '_ws.malformed || _ws.expert.severity >= warning', '-T', 'fields', '-e', 'frame.number'],
      { timeout: 60000 });
      const frames = bad.stdout.toString().trim();
      report(bad.status === 0 && frames === '', 'tshark', 'no malformed frame and no expert warning',
        `frames ${frames || '?'}, status ${bad.status}`);
      records.forEach((rec, i) => checkTshark(rec, layers[i]));
    }
  }

  // npm smpp
  let PDU = null;
  try {
    ({ PDU } = require(path.join(__dirname, 'node_modules', 'smpp')));
    const version = require(path.join(__dirname, 'node_modules', 'smpp', 'package.json')).version;
    expectEq('node-smpp', 'the pinned npm smpp is installed', version, '0.5.1');
  } catch (e) {
    report(false, 'node-smpp', 'require("smpp") from tests/interop/node_modules', String(e.message || e));
  }
  if (PDU) {
    for (const rec of records) {
      const got = checkNode(PDU, rec);
      // The dialogue rule, on node's decoding: a menu (op 2, USSR request) keeps the session
      // open, a final screen (op 17, PSSR response) closes it.
      if (got && (got.op === 2 || got.op === 17)) {
        expectEq(`${rec.name} node-smpp`, `op ${got.op} ${got.op === 2 ? 'keeps' : 'ends'} the session`,
          got.end, got.op === 2 ? 0 : 1);
      }
    }
  }
  process.exit(failed > 0 ? 1 : 0);
}

main();
