// The local Lightning harness: plays the Lightning host for the framed softphone. It answers the
// `sforce.opencti.*` calls of the stand-in opencti_min.js over postMessage with a small fake org
// (contacts, accounts, leads with phones), the softphone layout's behaviour for no / single /
// several matches, and shows every request of the adapter. It also drives the simulated
// telephony (inject a call, answer it on the agent's device, hang up as the customer).
//
// Query parameters preconfigure it (tests use them): any neotelConfigOptions item by name
// (`?searchTypePriority=Contact|Account`), `noMatch`, `singleMatch`, `multipleMatches`
// (layout: `PopToEntity:Contact`, `PopToSearch`, `DoNotPop`), `lang` (passed to the softphone),
// `width` and `height` (the panel's size, as the call-center XML's reqSoftphoneWidth/Height),
// `panel=dashboard` (the utility panel shows the supervisors' dashboard instead of the softphone).

const $ = (id) => document.getElementById(id);
const SIM_TOKEN = 'demo-admin';

const OPTIONS = {
  searchTypePriority: '',
  externalData: 'neoContactId__c-contactId|neoBaseId__c-contactBaseId|neoCrmId__c-crmId',
  defaultNewRowData: 'neoContactId__c-contactId|neoBaseId__c-contactBaseId|neoCrmId__c-crmId|Phone-phoneNumber|',
  allowCategorization: 'true',
  allowClickToDialSearch: 'true',
  useTaskDescriptionField: 'true',
  allowContactRelease: 'true',
  automaticContactRelease: '-1',
  saveActivityLog: 'true',
  allowTextMessage: 'false',
  campaignEntityName: 'false',
};

const PREFIX = { Contact: '003', Account: '001', Lead: '00Q' };
let serial = 100;

const org = [
  { Id: '003000000000001AAA', RecordType: 'Contact', Name: 'Ana García', Phone: '1155551001', neoCrmId__c: '1' },
  { Id: '003000000000002AAA', RecordType: 'Contact', Name: 'Bruno Díaz', Phone: '1155551002' },
  { Id: '001000000000002AAA', RecordType: 'Account', Name: 'Díaz Hnos. SA', Phone: '1155551002' },
  { Id: '00Q000000000003AAA', RecordType: 'Lead', Name: 'Carla Ruiz', Phone: '1155551003' },
  { Id: '003000000000004AAA', RecordType: 'Contact', Name: 'Diego Sosa', Phone: '1155551004' },
  { Id: '003000000000005AAA', RecordType: 'Contact', Name: 'Diego Sosa (2)', MobilePhone: '1155551004' },
];

const state = {
  options: { ...OPTIONS },
  layout: { NoMatch: 'PopToEntity:Contact', SingleMatch: 'PopToEntity', MultipleMatches: 'PopToSearch' },
  view: null,
  newRecord: null,
  clickToDial: false,
  panel: { width: 320, height: 520, visible: true },
  lastCallId: null,
  tasks: [],
};

// Tests read the requests, pops and tasks here; `api` holds the softphone's requests to the
// server's Salesforce helpers with the answers.
window.harness = { log: [], pops: [], tasks: state.tasks, org, newRecordDefaults: null, api: [] };

function readQuery() {
  const q = new URLSearchParams(location.search);
  for (const name of Object.keys(OPTIONS)) if (q.has(name)) state.options[name] = q.get(name);
  for (const [param, key] of [['noMatch', 'NoMatch'], ['singleMatch', 'SingleMatch'], ['multipleMatches', 'MultipleMatches']]) {
    if (q.has(param)) state.layout[key] = q.get(param);
  }
  const width = Number(q.get('width'));
  const height = Number(q.get('height'));
  if (width >= 200 && width <= 1920) state.panel.width = width;
  if (height >= 240 && height <= 2560) state.panel.height = height;
  try {
    state.lastCallId = JSON.parse(sessionStorage.getItem('harness.lastCallId') || 'null');
  } catch {
    state.lastCallId = null;
  }
}

// The injected call survives a reload of the harness.
function rememberCall(callId) {
  state.lastCallId = callId;
  try {
    sessionStorage.setItem('harness.lastCallId', JSON.stringify(callId));
  } catch {
    // kept for this page only
  }
}

// --- the fake org ------------------------------------------------------------------------------
const digits = (s) => String(s ?? '').replace(/\D/g, '');

function search(term) {
  const d = digits(term);
  const text = String(term).trim().toLowerCase();
  return org.filter((r) => {
    if (r.Id === term || (r.neoSyncId__c && r.neoSyncId__c === term)) return true;
    if (d.length >= 3 && d === String(term).replace(/[\s+().-]/g, '') &&
        [r.Phone, r.MobilePhone].some((p) => p && digits(p) === d)) return true;
    return d.length === 0 && text.length >= 3 && r.Name.toLowerCase().includes(text);
  });
}

function layoutSetting(which) {
  const [screenPopType, screenPopData] = state.layout[which].split(':');
  return screenPopData ? { screenPopType, screenPopData } : { screenPopType };
}

function softphoneLayout() {
  const settings = {
    NoMatch: layoutSetting('NoMatch'),
    SingleMatch: layoutSetting('SingleMatch'),
    MultipleMatches: layoutSetting('MultipleMatches'),
  };
  const objects = { Contact: [{ apiName: 'Phone' }], Account: [{ apiName: 'Phone' }], Lead: [{ apiName: 'Phone' }] };
  return {
    Inbound: { objects, screenPopSettings: settings },
    Outbound: { objects, screenPopSettings: settings },
    Internal: { objects, screenPopSettings: settings },
  };
}

function summary(r) {
  return { Id: r.Id, Name: r.Name, RecordType: r.RecordType, Phone: r.Phone || r.MobilePhone || '' };
}

// --- the workspace -----------------------------------------------------------------------------
function show(section) {
  for (const id of ['ws-record', 'ws-search', 'ws-new', 'ws-home']) $(id).hidden = id !== section;
}

function openRecord(record, { navigated = true } = {}) {
  state.view = { recordId: record.Id, objectType: record.RecordType, recordName: record.Name, url: `/lightning/r/${record.RecordType}/${record.Id}/view` };
  $('ws-record-type').textContent = record.RecordType;
  $('ws-record-name').textContent = record.Name;
  $('ws-record-fields').replaceChildren(
    ...Object.entries(record).flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  show('ws-record');
  if (navigated) emit('onNavigationChange', { ...state.view });
}

function openSearch(term) {
  state.view = { url: `/lightning/search?term=${encodeURIComponent(term)}` };
  $('ws-search-term').textContent = term;
  $('ws-search-results').replaceChildren(
    ...search(term).map((r) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${r.RecordType}: ${r.Name}`;
      b.addEventListener('click', () => openRecord(r));
      li.append(b);
      return li;
    }),
  );
  show('ws-search');
}

function openNewRecord(entity, defaults) {
  // Cancel puts back what the workspace showed.
  const shown = ['ws-record', 'ws-search', 'ws-home'].find((id) => !$(id).hidden) || 'ws-home';
  state.newRecord = { entity, defaults: { ...defaults }, back: { shown, view: state.view, search: $('ws-search-term').textContent } };
  window.harness.newRecordDefaults = { entity, ...defaults };
  $('ws-new-entity').textContent = entity;
  $('ws-new-name').value = '';
  $('ws-new-fields').replaceChildren(
    ...Object.entries(defaults).map(([k, v]) => {
      const label = document.createElement('label');
      label.textContent = k;
      const input = document.createElement('input');
      input.name = k;
      input.value = v;
      input.dataset.field = k;
      label.append(input);
      return label;
    }),
  );
  show('ws-new');
  $('ws-new-name').focus();
}

function saveNewRecord(event) {
  event.preventDefault();
  const entity = state.newRecord.entity;
  const id = `${PREFIX[entity] || 'a00'}0000000${String(serial++).padStart(5, '0')}AAA`;
  const record = { Id: id, RecordType: entity, Name: $('ws-new-name').value };
  for (const input of $('ws-new-fields').querySelectorAll('input')) record[input.dataset.field] = input.value;
  org.push(record);
  state.newRecord = null;
  renderOrg();
  addLog('saved new record', record);
  openRecord(record);
}

// --- Open CTI over postMessage -------------------------------------------------------------------
const frame = () => $('softphone');

function emit(name, payload) {
  frame().contentWindow?.postMessage({ ctiHarness: 'event', name, payload }, location.origin);
}

function addLog(method, args) {
  const entry = { method, args };
  window.harness.log.push(entry);
  const li = document.createElement('li');
  li.textContent = `${method} ${JSON.stringify(args)}`;
  $('log').prepend(li);
}

/// A request of the softphone to the server's Salesforce helpers and the server's answer.
function addApi(entry) {
  window.harness.api.push(entry);
  const li = document.createElement('li');
  li.className = 'api';
  li.textContent = `POST ${entry.path} ${JSON.stringify(entry.request)} → ${entry.status || 'unreachable'} ${JSON.stringify(entry.answer)}`;
  $('log').prepend(li);
}

function ok(returnValue) {
  return { success: true, returnValue, errors: null };
}

function failure(message) {
  return { success: false, returnValue: null, errors: [{ description: message }] };
}

function screenPop({ type, params = {} }) {
  window.harness.pops.push({ type, params });
  if (type === 'sobject') {
    const record = org.find((r) => r.Id === params.recordId);
    if (!record) return failure(`no record ${params.recordId}`);
    openRecord(record);
    return ok(true);
  }
  if (type === 'search') {
    if (!params.searchString || params.searchString.length < 3) return failure('searchString needs 3 characters');
    openSearch(params.searchString);
    return ok(true);
  }
  if (type === 'newRecord') {
    openNewRecord(params.entityName, params.defaultFieldValues || {});
    return ok(true);
  }
  return ok(true);
}

const METHODS = {
  getCallCenterSettings() {
    const flat = {
      '/reqGeneralInfo/reqInternalName': 'ctibridge',
      '/reqGeneralInfo/reqAdapterUrl': `${location.origin}/softphone/`,
    };
    for (const [k, v] of Object.entries(state.options)) flat[`/neotelConfigOptions/${k}`] = v;
    return ok(flat);
  },
  getSoftphoneLayout: () => ok(softphoneLayout()),
  searchAndScreenPop(args) {
    const matches = search(args.searchParams || '');
    const value = {};
    for (const r of matches) value[r.Id] = summary(r);
    const which = matches.length === 0 ? 'NoMatch' : matches.length === 1 ? 'SingleMatch' : 'MultipleMatches';
    const setting = layoutSetting(which);
    let popData = null;
    if (setting.screenPopType === 'PopToEntity' && matches.length === 1) popData = { type: 'sobject', params: { recordId: matches[0].Id } };
    else if (setting.screenPopType === 'PopToEntity' && matches.length === 0) popData = { type: 'newRecord', params: { entityName: setting.screenPopData, defaultFieldValues: args.defaultFieldValues || {} } };
    else if (setting.screenPopType === 'PopToSearch') popData = { type: 'search', params: { searchString: args.searchParams } };
    if (args.deferred) {
      if (popData) value.SCREEN_POP_DATA = popData;
    } else if (popData) {
      screenPop(popData);
    }
    return ok(value);
  },
  screenPop: (args) => screenPop(args),
  saveLog(args) {
    const v = args.value || {};
    const id = v.Id || `00T0000000${String(serial++).padStart(5, '0')}AAA`;
    state.tasks.push({ ...v, Id: id });
    return ok(id);
  },
  enableClickToDial() {
    state.clickToDial = true;
    renderOrg();
    return ok(true);
  },
  disableClickToDial() {
    state.clickToDial = false;
    renderOrg();
    return ok(true);
  },
  onClickToDial: () => ok(true),
  onNavigationChange: () => ok(true),
  getAppViewInfo: () => ok(state.view || { url: '/lightning/page/home' }),
  setSoftphonePanelWidth(args) {
    const w = Number(args.widthPX);
    if (!(w >= 200 && w <= 1920)) return failure('widthPX must be 200-1920');
    state.panel.width = w;
    renderPanel();
    return ok(true);
  },
  setSoftphonePanelHeight(args) {
    const h = Number(args.heightPX);
    if (!(h >= 240 && h <= 2560)) return failure('heightPX must be 240-2560');
    state.panel.height = h;
    renderPanel();
    return ok(true);
  },
  setSoftphonePanelVisibility(args) {
    state.panel.visible = Boolean(args.visible);
    renderPanel();
    return ok(true);
  },
  isSoftphonePanelVisible: () => ok({ visible: state.panel.visible }),
  setSoftphoneItemIcon: () => ok(true),
  setSoftphoneItemLabel(args) {
    $('utility-label').textContent = args.label || '';
    return ok(true);
  },
  notifyInitializationComplete() {
    window.harness.initialized = (window.harness.initialized || 0) + 1;
    return ok(true);
  },
  runApex(args) {
    const m = /^get(\w+)ById$/.exec(args.methodName || '');
    const id = /Id=([\w]+)/.exec(args.methodParams || '')?.[1];
    if (args.apexClass !== 'NeotelDataRetrieval' || !m) return failure('no such Apex method');
    const rows = org.filter((r) => r.Id === id && r.RecordType === m[1]);
    return ok({ runApex: JSON.stringify(rows) });
  },
  refreshView: () => ok(true),
};

window.addEventListener('message', (event) => {
  if (event.origin !== location.origin || event.source !== frame().contentWindow) return;
  const m = event.data;
  if (!m || m.ctiHarness !== 'request' || typeof m.method !== 'string') return;
  addLog(m.method, m.args);
  const handler = METHODS[m.method];
  let result;
  try {
    result = handler ? handler(m.args || {}) : failure(`unknown method ${m.method}`);
  } catch (e) {
    result = failure(String(e?.message || e));
  }
  frame().contentWindow.postMessage({ ctiHarness: 'response', id: m.id, result }, location.origin);
});

// --- simulated telephony ---------------------------------------------------------------------------
async function sim(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${SIM_TOKEN}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new Error(json?.error?.message || `${path}: HTTP ${response.status}`);
  return json;
}

function simButton(id, fn) {
  $(id).addEventListener('click', async () => {
    try {
      $('sim-result').textContent = await fn();
    } catch (e) {
      $('sim-result').textContent = String(e?.message || e);
    }
  });
}

// --- rendering -----------------------------------------------------------------------------------
function renderPanel() {
  const panel = $('softphone-panel');
  panel.style.width = `${state.panel.width}px`;
  panel.style.height = `${state.panel.height}px`;
  panel.hidden = !state.panel.visible;
  $('utility-phone').setAttribute('aria-expanded', String(state.panel.visible));
}

function renderOrg() {
  $('org-records').replaceChildren(
    ...org.map((r) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      const open = document.createElement('button');
      open.type = 'button';
      open.textContent = r.Name;
      open.addEventListener('click', () => openRecord(r));
      name.append(open);
      const type = document.createElement('td');
      type.textContent = r.RecordType;
      const phone = document.createElement('td');
      const number = r.Phone || r.MobilePhone || '';
      if (state.clickToDial && number) {
        const dial = document.createElement('button');
        dial.type = 'button';
        dial.textContent = `☎ ${number}`;
        dial.dataset.clickToDial = r.Id;
        dial.addEventListener('click', () =>
          emit('onClickToDial', { number, recordId: r.Id, recordName: r.Name, objectType: r.RecordType }),
        );
        phone.append(dial);
      } else {
        phone.textContent = number;
      }
      tr.append(name, type, phone);
      return tr;
    }),
  );
}

function renderOptions() {
  $('options').replaceChildren(
    ...Object.entries(state.options).map(([k, v]) => {
      const label = document.createElement('label');
      label.textContent = k;
      const input = document.createElement('input');
      input.value = v;
      input.dataset.option = k;
      label.append(input);
      return label;
    }),
  );
  for (const key of ['NoMatch', 'SingleMatch', 'MultipleMatches']) $(`layout-${key}`).value = state.layout[key];
}

function loadSoftphone() {
  const q = new URLSearchParams(location.search);
  if (q.get('panel') === 'dashboard') {
    const board = new URL('/dashboard/', location.origin);
    if (q.has('lang')) board.searchParams.set('lang', q.get('lang'));
    frame().src = board.toString();
    return;
  }
  const src = new URL('/softphone/', location.origin);
  src.searchParams.set('sfdcIframeOrigin', location.origin);
  src.searchParams.set('mode', 'Lightning');
  if (q.has('lang')) src.searchParams.set('lang', q.get('lang'));
  frame().src = src.toString();
}

function main() {
  readQuery();
  renderOptions();
  renderOrg();
  renderPanel();
  $('ws-new-form').addEventListener('submit', saveNewRecord);
  $('ws-new-cancel').addEventListener('click', () => {
    const back = state.newRecord?.back;
    state.newRecord = null;
    addLog('cancelled new record', {});
    const record = back?.view?.recordId && org.find((r) => r.Id === back.view.recordId);
    if (back?.shown === 'ws-record' && record) openRecord(record, { navigated: false });
    else if (back?.shown === 'ws-search' && back.search) openSearch(back.search);
    else {
      state.view = back?.view || null;
      show('ws-home');
    }
  });
  frame().addEventListener('load', () => {
    // The softphone's helper requests, as the page saw them (same origin).
    frame().contentWindow?.addEventListener('ctibridge:api', (e) => addApi(e.detail));
  });
  $('utility-phone').addEventListener('click', () => {
    state.panel.visible = !state.panel.visible;
    renderPanel();
  });
  $('log-clear').addEventListener('click', () => {
    window.harness.log.length = 0;
    $('log').replaceChildren();
  });
  $('apply-options').addEventListener('click', () => {
    for (const input of $('options').querySelectorAll('input')) state.options[input.dataset.option] = input.value;
    for (const key of ['NoMatch', 'SingleMatch', 'MultipleMatches']) state.layout[key] = $(`layout-${key}`).value;
    loadSoftphone();
  });
  simButton('sim-inject', async () => {
    const ani = $('sim-ani').value.trim() || null;
    const body = { ani, queue: $('sim-queue').value.trim() || 'salesforce' };
    // Like an IVR whose key field (Clave_1) is the caller's number, unless told otherwise.
    const data = $('sim-data').value.trim() || ani;
    if (!$('sim-no-data').checked && data) body.data = data;
    const answer = await sim('/sim/inbound', body);
    rememberCall(answer?.callId ?? null);
    return `call ${state.lastCallId} injected`;
  });
  simButton('sim-customer-answers', async () => {
    // The call the agent dialled, as the softphone (same origin) knows it.
    const call = frame().contentWindow?.ctibridgeSoftphone?.position()?.call;
    if (!call || call.direction !== 'outbound' || call.state !== 'dialing') return 'no outbound call is ringing';
    await sim(`/sim/calls/${call.callId}/answer`, {});
    rememberCall(call.callId);
    return `customer answered call ${call.callId}`;
  });
  simButton('sim-answer', async () => {
    await sim(`/sim/agents/${encodeURIComponent($('sim-agent').value.trim())}/answer`, {});
    return 'answered';
  });
  simButton('sim-hangup', async () => {
    if (state.lastCallId === null && !frame().contentWindow?.ctibridgeSoftphone?.position()?.call) return 'no call injected yet';
    const current = frame().contentWindow?.ctibridgeSoftphone?.position()?.call?.callId;
    const callId = current || state.lastCallId;
    await sim(`/sim/calls/${callId}/hangup`, {});
    return 'customer hung up';
  });
  loadSoftphone();
}

main();
