// Unit tests of the adapter's pure decisions (static/softphone/logic.js), run by
// `node --experimental-detect-module --test` from the Rust suite (tests/it/http_adapter.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSettings, parseFieldMap, mapFields, parseClavesf, searchKey, matchesOf, choosePop,
  layoutAction, isAllowedOrigin, openCtiUrl, backoffDelay, dtmfDigits, normalizeNumber,
  localDateTimeToIso, parsePriority, parseServerFrame, formatDuration,
} from '../../static/softphone/logic.js';

test('field maps: SfField-neotelName pairs, trailing bar allowed, unknown names reported', () => {
  const map = parseFieldMap('neoContactId__c-contactId|neoBaseId__c-contactBaseId|Phone-phoneNumber|');
  assert.deepEqual(map.entries, [
    { field: 'neoContactId__c', name: 'contactId' },
    { field: 'neoBaseId__c', name: 'contactBaseId' },
    { field: 'Phone', name: 'phoneNumber' },
  ]);
  assert.deepEqual(map.errors, []);
  const bad = parseFieldMap('Foo__c-notANeotelName|nodash|-contactId|Camp__c-callCampaing');
  assert.deepEqual(bad.entries, [{ field: 'Camp__c', name: 'callCampaing' }]);
  assert.deepEqual(bad.errors, ['Foo__c-notANeotelName', 'nodash', '-contactId']);
  assert.deepEqual(parseFieldMap(undefined), { entries: [], errors: [] });
});

test('field values come from the call data, missing data left out', () => {
  const map = parseFieldMap('neoContactId__c-contactId|Phone-phoneNumber|neoCrmId__c-crmId');
  assert.deepEqual(mapFields(map, { contactId: 42, phoneNumber: '1155551001', crmId: null }), {
    neoContactId__c: '42',
    Phone: '1155551001',
  });
});

test('CLAVESF: idContacto-Data; an empty Data means do not search', () => {
  assert.deepEqual(parseClavesf('17-31987456'), { contactId: '17', data: '31987456', search: true });
  assert.deepEqual(parseClavesf('17-'), { contactId: '17', data: '', search: false });
  assert.equal(parseClavesf(''), null);
  assert.equal(parseClavesf(null), null);
  assert.equal(searchKey({ crmKey: '', phoneNumber: '1155551001' }, '17-'), null);
  assert.equal(searchKey({ crmKey: '003AAA', phoneNumber: '1155551001' }, '17-003AAA'), '003AAA');
  assert.equal(searchKey({ phoneNumber: '1155551001' }, null), '1155551001');
  assert.equal(searchKey({ phoneNumber: '1155551001' }, '17-999'), '999');
  assert.equal(searchKey({}, null), null);
});

test('searchTypePriority picks the first type with exactly one match', () => {
  const found = {
    '003A': { Id: '003A', Name: 'Bruno', RecordType: 'Contact' },
    '001A': { Id: '001A', Name: 'Díaz SA', RecordType: 'Account' },
    SCREEN_POP_DATA: { type: 'search', params: {} },
  };
  const matches = matchesOf(found);
  assert.equal(matches.length, 2);
  assert.deepEqual(choosePop(matches, parsePriority('Account|Contact')).record.id, '001A');
  assert.deepEqual(choosePop(matches, parsePriority('Lead|contact')).record.id, '003A');
  assert.deepEqual(choosePop(matches, []), { kind: 'multiple' });
  assert.deepEqual(choosePop(matches, ['Lead']), { kind: 'multiple' });
  const twoContacts = [
    { id: '1', name: 'a', type: 'Contact' },
    { id: '2', name: 'b', type: 'Contact' },
    { id: '3', name: 'c', type: 'Lead' },
  ];
  assert.deepEqual(choosePop(twoContacts, ['Contact', 'Lead']), { kind: 'multiple', type: 'Contact' });
  assert.deepEqual(choosePop([], ['Contact']), { kind: 'none' });
  assert.equal(choosePop([twoContacts[2]], []).record.id, '3');
  assert.deepEqual(matchesOf(null), []);
});

test('the softphone layout decides no-match and multiple-match pops', () => {
  const layout = { Inbound: { screenPopSettings: { NoMatch: { screenPopType: 'PopToEntity', screenPopData: 'Lead' } } } };
  assert.deepEqual(layoutAction(layout, 'inbound', 'NoMatch'), { type: 'PopToEntity', entity: 'Lead' });
  assert.deepEqual(layoutAction(layout, 'outbound', 'NoMatch'), { type: 'DoNotPop' });
  assert.deepEqual(layoutAction(undefined, 'inbound', 'MultipleMatches'), { type: 'DoNotPop' });
});

test('call-center settings are typed from the flat /section/item map', () => {
  const s = parseSettings({
    '/neotelConfigOptions/searchTypePriority': 'Contact|Account',
    '/neotelConfigOptions/allowCategorization': 'TRUE',
    '/neotelConfigOptions/allowContactRelease': 'false',
    '/neotelConfigOptions/automaticContactRelease': '15',
    '/neotelConfigOptions/campaignEntityName': 'false',
  });
  assert.deepEqual(s.searchTypePriority, ['Contact', 'Account']);
  assert.equal(s.allowCategorization, true);
  assert.equal(s.allowContactRelease, false);
  assert.equal(s.automaticContactRelease, 15);
  assert.equal(s.campaignEntityName, null);
  assert.equal(parseSettings({ '/neotelConfigOptions/automaticContactRelease': '-1' }).automaticContactRelease, -1);
  assert.equal(parseSettings(null).automaticContactRelease, -1);
});

test('only configured Salesforce origins are trusted; the own origin only in dev mode', () => {
  const patterns = ['https://*.lightning.force.com', 'https://acme.my.salesforce.com', "'self'"];
  assert.ok(isAllowedOrigin('https://acme.lightning.force.com', patterns, false, 'http://localhost'));
  assert.ok(isAllowedOrigin('https://acme.my.salesforce.com', patterns, false, 'http://localhost'));
  assert.ok(!isAllowedOrigin('https://lightning.force.com', patterns, false, 'http://localhost'));
  assert.ok(!isAllowedOrigin('https://evil.com/.lightning.force.com', patterns, false, 'http://localhost'));
  assert.ok(!isAllowedOrigin('https://acme.lightning.force.com.evil.com', patterns, false, 'http://x'));
  assert.ok(!isAllowedOrigin('http://acme.lightning.force.com', patterns, false, 'http://x'));
  assert.ok(!isAllowedOrigin('https://other.my.salesforce.com', patterns, false, 'http://x'));
  assert.ok(!isAllowedOrigin('javascript:alert(1)', patterns, true, 'http://x'));
  assert.ok(!isAllowedOrigin('http://127.0.0.1:8080', patterns, false, 'http://127.0.0.1:8080'));
  assert.ok(isAllowedOrigin('http://127.0.0.1:8080', patterns, true, 'http://127.0.0.1:8080'));
  assert.equal(
    openCtiUrl('https://acme.lightning.force.com', 'http://x', false),
    'https://acme.lightning.force.com/support/api/62.0/lightning/opencti_min.js',
  );
  assert.equal(
    openCtiUrl('http://127.0.0.1:8080', 'http://127.0.0.1:8080', true),
    'http://127.0.0.1:8080/dev/lightning/support/api/62.0/lightning/opencti_min.js',
  );
});

test('reconnect backoff doubles to 15 s with bounded jitter', () => {
  assert.equal(backoffDelay(0, 0.5), 500);
  assert.equal(backoffDelay(1, 0.5), 1000);
  assert.equal(backoffDelay(10, 0.5), 15000);
  assert.ok(backoffDelay(10, 0.999) <= 16500 && backoffDelay(10, 0) >= 13500);
});

test('inputs: DTMF digits, dialable numbers, schedule date', () => {
  assert.equal(dtmfDigits(' 12 3#* '), '123#*');
  assert.equal(dtmfDigits('12x'), null);
  assert.equal(dtmfDigits(''), null);
  assert.equal(dtmfDigits('1a#d'), '1A#D', 'A-D are DTMF tones too');
  assert.equal(normalizeNumber('+54 (11) 5555-1001'), '+541155551001');
  assert.equal(normalizeNumber('abc'), null);
  assert.equal(localDateTimeToIso('nope'), null);
  assert.match(localDateTimeToIso('2030-01-02T10:30'), /^2030-01-0[12]T\d\d:30:00.000Z$/);
});

test('the call timer reads m:ss, then h:mm:ss', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(65_400), '1:05');
  assert.equal(formatDuration(3_725_000), '1:02:05');
  assert.equal(formatDuration(-5), '0:00');
});

test('malformed server frames are recognised, not thrown', () => {
  for (const bad of ['not json', '42', 'null', '[]', '{"seq":1}', '{"type":7}', '{"type":"snapshot"}', '{"type":"position","state":3}', undefined]) {
    assert.equal(parseServerFrame(bad), null, String(bad));
  }
  assert.deepEqual(parseServerFrame('{"type":"snapshot","state":"available"}'), { type: 'snapshot', state: 'available' });
  assert.equal(parseServerFrame('{"type":"callEnded","callId":3}').callId, 3);
});
