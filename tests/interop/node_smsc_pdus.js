#!/usr/bin/env node
// The PDUs an SMSC sends to an ESME, as npm smpp 0.5.1 (node-smpp, the SMSC in
// ../shared/peers/node/smsc_server.js) encodes them: `new PDU(command, fields).toBuffer()`.
// Prints one JSON object a line: { title, hex, sent } where `sent` holds the values handed to
// node-smpp (the text, the receipt's id and stat, the UDH or SAR numbers), which the fixture
// tests compare with what the gateway reads. Used by capture_pdus.sh; not run in CI (the
// captures are kept in fixtures/pdus/).
//   node tests/interop/node_smsc_pdus.js
'use strict';
const smpp = require('smpp');

let seq = 0;
function out(title, command, fields, sent) {
  const pdu = new smpp.PDU(command, Object.assign({ sequence_number: ++seq }, fields));
  console.log(JSON.stringify({ title, hex: pdu.toBuffer().toString('hex'), sent: sent || {} }));
}

// The receipt smsc_server.js sends for an accepted submit_sm (its sendDlr).
function receipt(id, stat, state, text) {
  const date = '2612071405';
  return 'id:' + id + ' sub:001 dlvrd:' + (stat === 'DELIVRD' ? '001' : '000') +
    ' submit date:' + date + ' done date:' + date + ' stat:' + stat + ' err:000 text:' + text;
}

out('bind_transceiver_resp (system_id nodesmsc)', 'bind_transceiver_resp',
  { system_id: 'nodesmsc' }, { system_id: 'nodesmsc' });
out('submit_sm_resp (hex message id, as smsc_server.js numbers them)', 'submit_sm_resp',
  { message_id: '1f' }, { message_id: '1f' });
out('submit_sm_resp ESME_RTHROTTLED (no body)', 'submit_sm_resp',
  { command_status: smpp.ESME_RTHROTTLED }, { command_status: smpp.ESME_RTHROTTLED });
out('deliver_sm receipt DELIVRD with receipted_message_id and message_state (smsc_server.js)',
  'deliver_sm', {
    source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613900139000',
    dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    short_message: receipt('1f', 'DELIVRD', 'delivered', 'FAMILY sees BUSY'),
    receipted_message_id: '1f', message_state: smpp.MESSAGE_STATE.DELIVERED,
  }, { receipt_id: '1f', stat: 'DELIVRD', from: '8613900139000' });
out('deliver_sm receipt UNDELIV, id only in the text', 'deliver_sm', {
  source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613900139001',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
  esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
  short_message: receipt('2a0', 'UNDELIV', 'undeliverable', ''),
}, { receipt_id: '2a0', stat: 'UNDELIV', from: '8613900139001' });
out('deliver_sm MO, GSM 7-bit default alphabet (data_coding 0)', 'deliver_sm', {
  source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
  data_coding: 0, short_message: 'STATUS FAMILY BUSY FOR 2H',
}, { text: 'STATUS FAMILY BUSY FOR 2H', from: '8613800138000' });
out('deliver_sm MO, UCS-2 Chinese (data_coding 8)', 'deliver_sm', {
  source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
  data_coding: 8, short_message: '状态 家人 忙',
}, { text: '状态 家人 忙', from: '8613800138000' });
const parts = ['STATUS FAMILY In a long meeting about the ', 'quarterly figures, back at five'];
parts.forEach(function (p, i) {
  out('deliver_sm MO part ' + (i + 1) + '/2, 8-bit UDH concatenation (IEI 0x00, ref 0x42)',
    'deliver_sm', {
      source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
      dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
      esm_class: smpp.ESM_CLASS.UDH_INDICATOR, data_coding: 0,
      short_message: { udh: Buffer.from([0x05, 0x00, 0x03, 0x42, 2, i + 1]), message: p },
    }, { text: p, concat_ref: 0x42, concat_total: 2, concat_seq: i + 1 });
});
out('deliver_sm MO part 1/2, SAR TLVs (sar_msg_ref_num 0x1234)', 'deliver_sm', {
  source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
  data_coding: 0, short_message: parts[0],
  sar_msg_ref_num: 0x1234, sar_total_segments: 2, sar_segment_seqnum: 1,
}, { text: parts[0], concat_ref: 0x1234, concat_total: 2, concat_seq: 1 });
out('deliver_sm MO in message_payload (no short_message)', 'deliver_sm', {
  source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '10658',
  data_coding: 0, message_payload: parts.join(''),
}, { text: parts.join(''), from: '8613800138000' });
out('deliver_sm USSD PSSR indication (ussd_service_op 0x01)', 'deliver_sm', {
  service_type: 'USSD', source_addr_ton: 1, source_addr_npi: 1, source_addr: '8613800138000',
  dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '*123#',
  data_coding: 0, short_message: '*123#', ussd_service_op: 0x01,
}, { text: '*123#', ussd_service_op: 1, from: '8613800138000' });
out('enquire_link', 'enquire_link', {}, {});
out('enquire_link_resp', 'enquire_link_resp', {}, {});
out('unbind', 'unbind', {}, {});
out('generic_nack ESME_RINVCMDID', 'generic_nack', { command_status: smpp.ESME_RINVCMDID },
  { command_status: smpp.ESME_RINVCMDID });
