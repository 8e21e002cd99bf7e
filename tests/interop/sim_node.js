#!/usr/bin/env node
// node-smpp 0.5.1 (npm `smpp`) as an ESME against a running smsc-sim (issue 3 interop).
//
// Run by sim_peers.sh, which starts two simulators: the main one (accounts below) and a
// "window" one started with a small --window and a response --delay, so that requests stay
// outstanding long enough to exceed the window. Checks:
//   - bind_transceiver with a wrong password -> ESME_RINVPASWD (0x0E);
//   - bind_transceiver, N submit_sm with registered_delivery=1 (window 10): all OK, distinct ids;
//   - N delivery receipts (esm_class 0x04) whose receipted_message_id TLV, message_state TLV and
//     text `id:`/`stat:` match the submit_sm_resp ids, one each; the simulator's /mt agrees;
//   - enquire_link -> enquire_link_resp OK;
//   - long MOs from POST /mo (GSM-7 + UDH 8-bit, UCS-2 + UDH 16-bit) reassemble, as node-smpp
//     decodes them (its own UDH split and GSM 03.38 / UCS-2 decoders), to the injected text;
//   - window: with W outstanding (delayed) requests, the next ones get ESME_RTHROTTLED (0x58);
//     once the responses came back a new submit_sm is accepted again;
//   - unbind -> unbind_resp OK.
// Prints `PASS name: what` / `FAIL name: what (why)`; exits 1 on any FAIL.
//
//   node sim_node.js --port P --http URL --window-port P2 --window-size W [--n 500]
'use strict';
const http = require('http');
const smpp = require('smpp');

const HOST = '127.0.0.1';
const SYSTEM_ID = 'nodesmpp';
const PASSWORD = 'secret2';
const results = { pass: 0, fail: 0 };

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

function check(name, ok, what, why) {
  if (ok) {
    results.pass++;
    console.log(`PASS node ${name}: ${what}`);
  } else {
    results.fail++;
    console.log(`FAIL node ${name}: ${what} (${why})`);
  }
  return ok;
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout ${ms}ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

function httpJson(base, method, path, body) {
  return withTimeout(new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(base + path, {
      method,
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const s = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode >= 300) return reject(new Error(`${path}: HTTP ${res.statusCode} ${s}`));
        try { resolve(s ? JSON.parse(s) : null); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  }), 10000, `${method} ${path}`);
}

function connect(port) {
  return withTimeout(new Promise((resolve, reject) => {
    const s = smpp.connect({ host: HOST, port }, () => {
      s.socket.setNoDelay(true);
      resolve(s);
    });
    s.on('error', reject);
  }), 10000, 'connect');
}

// send a request PDU and resolve with its response PDU
function req(session, command, params, ms) {
  return withTimeout(new Promise((resolve) => {
    session[command](params || {}, (pdu) => resolve(pdu));
  }), ms || 10000, command);
}

function closeSession(s) {
  return withTimeout(new Promise((resolve) => {
    if (s.socket.destroyed) return resolve();
    s.close(() => resolve());
  }), 3000, 'close').catch(() => s.destroy());
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
}

function receiptFields(text) {
  const m = {};
  for (const k of ['id', 'stat', 'err']) {
    const r = new RegExp('(?:^|\\s)' + k + ':(\\S*)').exec(text);
    if (r) m[k] = r[1];
  }
  return m;
}

async function main() {
  const port = Number(arg('port'));
  const base = arg('http');
  const wport = Number(arg('window-port'));
  const wsize = Number(arg('window-size', '4'));
  const n = Number(arg('n', '500'));
  const window = 10;

  // --- wrong password ------------------------------------------------------------------------
  {
    const s = await connect(port);
    const r = await req(s, 'bind_transceiver', { system_id: SYSTEM_ID, password: 'wrong' });
    check('bind_wrong_password', r.command_status === smpp.ESME_RINVPASWD,
      'bind_transceiver with a wrong password -> ESME_RINVPASWD (0x0E)',
      `got 0x${r.command_status.toString(16)}`);
    s.destroy();
  }

  // --- bind, N submits with receipts -----------------------------------------------------------
  const s = await connect(port);
  const receipts = [];
  const moParts = [];
  const odd = [];
  s.on('deliver_sm', (pdu) => {
    if ((pdu.esm_class & 0x3c) === 0x04) receipts.push(pdu);
    else moParts.push(pdu);
    s.send(pdu.response());
  });
  s.on('enquire_link', (pdu) => s.send(pdu.response()));
  s.on('generic_nack', (pdu) => odd.push(`generic_nack 0x${pdu.command_status.toString(16)}`));
  s.on('unknown', (pdu) => odd.push(`unknown 0x${pdu.command_id.toString(16)}`));
  s.on('error', (e) => odd.push(`error ${e.message}`));

  const b = await req(s, 'bind_transceiver', { system_id: SYSTEM_ID, password: PASSWORD });
  if (!check('bind', b.command_status === 0, `bind_transceiver accepted (system_id ${JSON.stringify(b.system_id)})`,
    `status 0x${b.command_status.toString(16)}`)) {
    s.destroy();
    return 1;
  }

  const ids = [];
  const statuses = [];
  const t0 = Date.now();
  await withTimeout(new Promise((resolve) => {
    let sent = 0;
    let done = 0;
    const pump = () => {
      while (sent < n && sent - done < window) {
        const i = sent++;
        s.submit_sm({
          source_addr_ton: 5, source_addr: 'NODESMPP', dest_addr_ton: 1, dest_addr_npi: 1,
          destination_addr: '4471' + String(i).padStart(7, '0'),
          short_message: `node-smpp interop ${i}`, registered_delivery: 1,
        }, (r) => {
          done++;
          statuses.push(r.command_status);
          if (r.command_status === 0) ids.push(r.message_id);
          if (done === n) resolve(); else pump();
        });
      }
    };
    pump();
  }), 60000, 'submit_sm responses').catch((e) => odd.push(e.message));
  const tResp = (Date.now() - t0) / 1000;
  await waitFor(() => receipts.length >= n, 30000);
  const tRcpt = (Date.now() - t0) / 1000;

  const bad = statuses.filter((x) => x !== 0);
  check('submit', statuses.length === n && bad.length === 0,
    `${n} submit_sm, ${ids.length} submit_sm_resp OK in ${tResp.toFixed(2)}s`,
    `${statuses.length} answered, ${bad.length} errors`);
  check('message_ids_unique', new Set(ids).size === ids.length && ids.every((x) => x),
    `the ${ids.length} message_ids are distinct and non-empty (e.g. ${JSON.stringify(ids[0])})`,
    `${new Set(ids).size} distinct`);
  check('receipts_count', receipts.length === n,
    `${receipts.length} delivery receipts (deliver_sm esm_class 0x04) in ${tRcpt.toFixed(2)}s`, `expected ${n}`);
  const rids = receipts.map((p) => p.receipted_message_id);
  const sortedIds = [...ids].sort();
  const sortedR = [...rids].sort();
  check('receipts_match_ids', JSON.stringify(sortedR) === JSON.stringify(sortedIds),
    'receipted_message_id TLV of every receipt equals a submit_sm_resp id, one each',
    `missing ${sortedIds.filter((x) => !rids.includes(x)).slice(0, 3)}`);
  const texts = receipts.map((p) => {
    const sm = p.short_message;
    return typeof sm === 'object' && sm !== null && 'message' in sm ? String(sm.message) : String(sm);
  });
  const mism = receipts.findIndex((p, i) => receiptFields(texts[i]).id !== p.receipted_message_id);
  check('receipt_text', mism < 0 && receipts.length > 0,
    `node-smpp decodes the receipt text and its id: equals receipted_message_id (${JSON.stringify(texts[0])})`,
    mism >= 0 ? `receipt ${mism}: ${JSON.stringify(texts[mism])}` : 'no receipts');
  const states = new Set(receipts.map((p, i) => `${receiptFields(texts[i]).stat}/${p.message_state}`));
  check('receipt_state', states.size === 1 && states.has('DELIVRD/2'),
    'every receipt says stat:DELIVRD with message_state TLV 2 (DELIVERED)', `got ${[...states]}`);

  const mt = (await httpJson(base, 'GET', '/mt')).filter((m) => m.system_id === SYSTEM_ID);
  const simIds = mt.filter((m) => m.status === 0).map((m) => m.message_id).sort();
  check('sim_mt_log', mt.length === n && JSON.stringify(simIds) === JSON.stringify(sortedIds),
    `the simulator recorded the same ${mt.length} MT under the same ids`,
    `${mt.length} records`);

  // --- enquire_link -----------------------------------------------------------------------------
  try {
    const r = await req(s, 'enquire_link', {}, 5000);
    check('enquire_link', r.command === 'enquire_link_resp' && r.command_status === 0,
      'enquire_link answered with enquire_link_resp OK', `${r.command} 0x${r.command_status.toString(16)}`);
  } catch (e) {
    check('enquire_link', false, 'enquire_link answered with enquire_link_resp OK', e.message);
  }

  // --- MO, concatenated -------------------------------------------------------------------------
  const mos = [
    ['udh8', 'gsm7', '+447700900002',
      'Long MO via node-smpp, GSM-7 {escapes} [€] ~^ and ' + Array.from({ length: 40 }, (_, i) => `chunk-${i}; `).join('')],
    ['udh16', 'ucs2', '+8613800138002',
      '节点长短信：' + Array.from({ length: 60 }, (_, i) => `第${i}段，`).join('')],
  ];
  for (const [style, enc, from, text] of mos) {
    moParts.length = 0;
    let ticket;
    try {
      ticket = await httpJson(base, 'POST', '/mo', { from, to: '12345', text, style, encoding: enc });
    } catch (e) {
      check(`mo_${style}_${enc}`, false, 'POST /mo accepted', e.message);
      continue;
    }
    await waitFor(() => moParts.length >= ticket.parts, 15000);
    // node-smpp splits the UDH into information elements: [iei, len, ...data]
    const parts = new Map();
    const refs = new Set();
    for (const p of moParts) {
      const sm = p.short_message || {};
      for (const ie of sm.udh || []) {
        if (ie[0] === 0x00 && ie[1] === 3) { refs.add(`${ie[2]}/${ie[3]}`); parts.set(ie[4], sm.message); }
        if (ie[0] === 0x08 && ie[1] === 4) { refs.add(`${ie.readUInt16BE(2)}/${ie[4]}`); parts.set(ie[5], sm.message); }
      }
    }
    const keys = [...parts.keys()].sort((x, y) => x - y);
    const got = keys.map((k) => parts.get(k)).join('');
    const fromOk = moParts.every((p) => p.source_addr.replace(/^\+/, '') === from.replace(/^\+/, ''));
    check(`mo_${style}_${enc}`, got === text && refs.size === 1 && keys.length === ticket.parts && ticket.parts > 1 && fromOk,
      `long MO (${text.length} chars) from POST /mo arrives as ${ticket.parts} deliver_sm (${style}, ${enc}) that node-smpp decodes and that reassemble to the injected text`,
      `${parts.size} parts, refs ${[...refs]}, fromOk ${fromOk}, got ${JSON.stringify(got.slice(0, 60))}...`);
  }

  check('no_odd_pdus', odd.length === 0, 'no generic_nack, unknown PDU or socket error', odd.slice(0, 5).join('; '));
  try {
    const r = await req(s, 'unbind', {}, 5000);
    check('unbind', r.command === 'unbind_resp' && r.command_status === 0, 'unbind answered OK',
      `${r.command} 0x${r.command_status.toString(16)}`);
  } catch (e) {
    check('unbind', false, 'unbind answered OK', e.message);
  }
  await closeSession(s);

  // --- window enforcement on the second simulator ----------------------------------------------
  {
    const w = await connect(wport);
    w.on('error', () => {});
    const r = await req(w, 'bind_transceiver', { system_id: SYSTEM_ID, password: PASSWORD });
    if (r.command_status !== 0) {
      check('window', false, 'bind on the window simulator', `0x${r.command_status.toString(16)}`);
    } else {
      const burst = wsize * 3;
      const order = [];
      const all = [];
      for (let i = 0; i < burst; i++) {
        all.push(req(w, 'submit_sm', {
          destination_addr: '4472' + String(i).padStart(7, '0'), short_message: `window ${i}`,
        }, 15000).then((p) => { order.push([i, p.command_status]); return p.command_status; }));
      }
      let sts = [];
      try { sts = await Promise.all(all); } catch (e) { odd.push(e.message); }
      const ok = sts.filter((x) => x === 0).length;
      const thr = sts.filter((x) => x === smpp.ESME_RTHROTTLED).length;
      // throttled answers come at once, accepted ones after the delay
      const firstOk = order.findIndex(([, st]) => st === 0);
      check('window_throttled', sts.length === burst && ok === wsize && thr === burst - wsize,
        `${burst} submit_sm at once with window ${wsize} and delayed responses: ${ok} OK, ${thr} ESME_RTHROTTLED (0x58)`,
        `statuses ${JSON.stringify(sts)}`);
      check('window_order', firstOk >= burst - wsize,
        'the ESME_RTHROTTLED answers came at once, before the delayed OK ones',
        `answer order ${JSON.stringify(order)}`);
      try {
        const again = await req(w, 'submit_sm', { destination_addr: '44720000999', short_message: 'after' }, 10000);
        check('window_reopens', again.command_status === 0,
          'once the responses are back, the next submit_sm is accepted', `0x${again.command_status.toString(16)}`);
      } catch (e) {
        check('window_reopens', false, 'once the responses are back, the next submit_sm is accepted', e.message);
      }
    }
    await closeSession(w);
  }
  return results.fail ? 1 : 0;
}

const hard = setTimeout(() => {
  console.log('FAIL node run: finished within the time limit (timed out)');
  process.exit(3);
}, Number(arg('timeout', '120')) * 1000);
main().then((rc) => {
  clearTimeout(hard);
  process.exit(rc);
}, (e) => {
  console.log(`FAIL node run: completed without an exception (${e && e.stack ? e.stack.split('\n')[0] : e})`);
  process.exit(2);
});
