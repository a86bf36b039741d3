// The softphone: login, the agent's live state from the websocket, every action of Neotel's
// "Funcionalidades", and the screen pop / neoSyncId sync through Open CTI.
//
// The session token lives in sessionStorage (per tab, survives a reload, never in a URL).

import {
  parseSettings, searchKey, matchesOf, choosePop, layoutAction, mapFields, localDateTimeToIso,
  dtmfDigits, normalizeNumber,
} from './logic.js';
import { t, translate, pickLanguage, setLanguage, language } from './i18n.js';
import { ApiError, login as apiLogin, neo, request, salesforceHelper } from './api.js';
import { AgentSocket } from './socket.js';
import { Cti } from './cti.js';

const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'ctibridge.session';
const CONTACT_KEY = 'ctibridge.contact';
const PREFS_KEY = 'ctibridge.prefs';

const state = {
  token: null,
  agent: null,
  position: null,
  directory: null,
  settings: parseSettings({}),
  layout: null,
  cti: new Cti(),
  socket: null,
  tab: 'call',
  // What the adapter did for the contact on screen: {key, callId, record, pending, searchKey}.
  contact: null,
  popped: new Set(),
  showing: null,
  autoRelease: null,
  socketStatus: null,
  // Who writes the call's Task: 'server' (outbox) or 'adapter' (saveLog).
  taskLog: 'server',
};

// --- storage (may be blocked in third-party frames: then in memory only) ------------------
const memory = {};
function store(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    memory[key] = value;
  }
}
function load(key) {
  try {
    const v = sessionStorage.getItem(key);
    return v ? JSON.parse(v) : null;
  } catch {
    return memory[key] ?? null;
  }
}
function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}
function savePrefs(prefs) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // kept for this page only
  }
}

// --- notices -------------------------------------------------------------------------------
function notify(text, kind = 'info') {
  $('notice-text').textContent = text;
  $('notice').classList.toggle('error', kind === 'error');
  $('notice').hidden = false;
}
function clearNotice() {
  $('notice').hidden = true;
}

/// Words for an error, never a stack trace; an expired session goes back to the login.
function describe(error) {
  if (error instanceof ApiError) {
    if (error.code === 'unreachable') return t('errServerUnreachable');
    if (error.code === 'invalid_credentials') return t('errInvalidCredentials');
    if (error.code === 'too_many_attempts') return t('errTooManyAttempts');
    if (error.status === 401) return t('errSessionExpired');
    return t('errGeneric', { message: error.message });
  }
  if (error && error.name === 'OpenCtiError') return t('errSalesforce', { message: error.message });
  return t('errGeneric', { message: String(error?.message || error) });
}
function fail(error) {
  if (error instanceof ApiError && error.status === 401 && state.token) {
    endSession();
    notify(t('errSessionExpired'), 'error');
    return;
  }
  notify(describe(error), 'error');
}

/// Runs an action of a button: errors become notices, the button is disabled meanwhile.
async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (e) {
    fail(e);
  } finally {
    if (button) button.disabled = false;
    render();
  }
}

function call(method, body) {
  return neo(state.token, method, body);
}

// --- session -------------------------------------------------------------------------------
async function onLogin(event) {
  event.preventDefault();
  const device = $('login-device').value.trim();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  await act($('login-submit'), async () => {
    const answer = await apiLogin(device, user, password);
    if (!answer || typeof answer.token !== 'string') throw new ApiError(500, 'bad_answer', 'login answer without token');
    $('login-password').value = '';
    clearNotice();
    startSession(answer.token, answer.agent || { user, device });
  });
}

function startSession(token, agent) {
  state.token = token;
  state.agent = agent;
  store(SESSION_KEY, { token, agent });
  state.contact = load(CONTACT_KEY);
  state.socket = new AgentSocket(token, {
    onEvent,
    onStatus: (s) => {
      state.socketStatus = s;
      render();
    },
    onExpired: () => {
      endSession();
      notify(t('errSessionExpired'), 'error');
    },
    onMalformed: () => notify(t('errMalformed'), 'error'),
  });
  state.socket.start();
  loadDirectory();
  render();
}

async function loadDirectory() {
  try {
    state.directory = await call('Directory');
  } catch (e) {
    fail(e);
  }
  render();
}

function endSession() {
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.token = null;
  state.position = null;
  state.directory = null;
  state.contact = null;
  clearTimeout(state.autoRelease?.timer);
  state.autoRelease = null;
  store(SESSION_KEY, null);
  store(CONTACT_KEY, null);
  render();
}

async function logout() {
  await act($('btn-logout'), async () => {
    // The server closes this session's sockets (4001) on Logout: not an expiry to report.
    const socket = state.socket;
    if (socket) socket.stop();
    try {
      await call('Logout');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        endSession();
        return;
      }
      // Refused (during a call, say): the agent stays logged in and connected.
      if (socket && state.token) socket.start();
      throw e;
    }
    endSession();
    clearNotice();
  });
}

// --- events --------------------------------------------------------------------------------
function onEvent(event) {
  if (event.type === 'snapshot' || event.type === 'position') {
    setPosition(event);
    return;
  }
  if (event.type === 'error') {
    notify(t('errGeneric', { message: event.error?.message || event.message || '' }), 'error');
    return;
  }
  if (event.type === 'callbackScheduled' && event.callback) {
    notify(t('scheduled', { at: new Date(event.callback.at).toLocaleString(language()) }));
  }
  if (event.type === 'contactUpdated') notify(t('categorized'));
  if (event.type === 'telephonyStatus') {
    if (event.available) notify(t('telephonyBack'));
    else notify(t('errTelephonyDown'), 'error');
  }
}

function contactKey(subject) {
  if (subject.contactId !== undefined && subject.contactId !== null) return `contact:${subject.contactId}`;
  return `call:${subject.callId}`;
}

function setPosition(position) {
  const before = state.position;
  state.position = position;
  const subject = position.monitoring
    ? null
    : position.contact || (position.call && position.state === 'ringing' ? position.call : null);
  if (!subject) {
    // Released: the same contact calling again is popped again.
    state.popped.clear();
    state.showing = null;
    if (state.contact) {
      state.contact = null;
      store(CONTACT_KEY, null);
    }
  } else {
    const key = contactKey(subject);
    if (!state.contact || state.contact.key !== key) {
      const callId = subject.callId || position.call?.callId || 0;
      state.contact = { key, callId, record: null, pending: null, searchKey: null };
      store(CONTACT_KEY, state.contact);
    }
    // Popped once per page life: after a reload the stored record is popped again.
    if (state.cti.available && !state.popped.has(key)) {
      state.popped.add(key);
      popContact(subject, position).catch(fail);
    }
    if (position.crm === 'GetContact' && state.showing !== key) {
      state.showing = key;
      call('CRM_ShowingContact').catch(fail);
    }
  }
  if (position.state === 'ringing' && before?.state !== 'ringing' && state.cti.available) {
    state.cti.call('setSoftphonePanelVisibility', { visible: true }).catch(() => {});
  }
  scheduleAutoRelease();
  render();
}

// --- screen pop ----------------------------------------------------------------------------
function callTypeOf(subject, position) {
  const types = state.cti.CALL_TYPE;
  const direction = position.call?.direction || (subject.callDialer === 'inbound' ? 'inbound' : 'outbound');
  return direction === 'inbound' ? types.INBOUND || 'inbound' : types.OUTBOUND || 'outbound';
}

function rememberContact() {
  store(CONTACT_KEY, state.contact);
}

async function popContact(subject, position) {
  if (!state.cti.available) return;
  const info = state.contact;
  try {
    const types = state.cti.SCREENPOP_TYPE;
    // After a reload: pop what was popped before instead of searching again.
    if (info.record) {
      await state.cti.call('screenPop', { type: types.SOBJECT, params: { recordId: info.record.id } });
      return;
    }
    if (info.pending) return;
    const callType = callTypeOf(subject, position);
    const kind = callType === (state.cti.CALL_TYPE.OUTBOUND || 'outbound') ? 'outbound' : 'inbound';
    const search = searchKey(subject, subject.clavesf);
    info.searchKey = search;
    rememberContact();
    let matches = [];
    let screenPopData = null;
    if (search) {
      const found = await state.cti.call('searchAndScreenPop', {
        searchParams: search,
        queryParams: '',
        defaultFieldValues: mapFields(state.settings.defaultNewRowData, subject),
        callType,
        deferred: true,
      });
      matches = matchesOf(found);
      screenPopData = found && found.SCREEN_POP_DATA;
    }
    const choice = choosePop(matches, state.settings.searchTypePriority);
    if (choice.kind === 'record') {
      await state.cti.call('screenPop', { type: types.SOBJECT, params: { recordId: choice.record.id } });
      await linkRecord(choice.record);
      return;
    }
    const layout = await softphoneLayout();
    if (choice.kind === 'multiple') {
      const action = layoutAction(layout, kind, 'MultipleMatches');
      if (action.type === 'DoNotPop') return;
      if (screenPopData && screenPopData.type) await state.cti.call('screenPop', { ...screenPopData });
      else await state.cti.call('screenPop', { type: types.SEARCH, params: { searchString: search } });
      await minimizeIfAsked();
      return;
    }
    const action = layoutAction(layout, kind, 'NoMatch');
    if (action.type === 'PopToEntity' && action.entity) {
      await openNewRecord(action.entity, subject);
    } else if (action.type === 'PopToSearch' && search && search.length >= 3) {
      await state.cti.call('screenPop', { type: types.SEARCH, params: { searchString: search } });
      await minimizeIfAsked();
    }
  } finally {
    render();
  }
}

async function softphoneLayout() {
  if (!state.layout) {
    try {
      state.layout = await state.cti.call('getSoftphoneLayout');
    } catch (e) {
      fail(e);
      state.layout = {};
    }
  }
  return state.layout;
}

async function minimizeIfAsked() {
  if (loadPrefs().autoMinimize) await state.cti.call('setSoftphonePanelVisibility', { visible: false });
}

/// The record on screen is the call's: the server writes externalData on it.
async function linkRecord(record) {
  const info = state.contact;
  if (!info) return;
  info.record = { id: record.id, name: record.name || record.id, type: record.type || '' };
  info.pending = null;
  rememberContact();
  render();
  try {
    await salesforceHelper(state.token, 'popped', {
      callId: info.callId,
      recordId: record.id,
      objectType: record.type || '',
    });
  } catch (e) {
    fail(e);
  }
}

/// A fresh neoSyncId__c from the server; without the helper endpoint, an 18-digit number made
/// here (time in ms + random), unique enough for one agent's new records.
async function newSyncId(callId) {
  try {
    const answer = await salesforceHelper(state.token, 'new-sync-id', { callId });
    if (answer && answer.neoSyncId !== undefined && answer.neoSyncId !== null) return String(answer.neoSyncId);
  } catch (e) {
    fail(e);
  }
  const random = String(Math.floor(Math.random() * 100000)).padStart(5, '0');
  return `${Date.now()}${random}`.slice(0, 18);
}

async function openNewRecord(entity, subject) {
  const info = state.contact;
  const neoSyncId = await newSyncId(info.callId);
  const defaultFieldValues = { ...mapFields(state.settings.defaultNewRowData, subject), neoSyncId__c: neoSyncId };
  await state.cti.call('screenPop', {
    type: state.cti.SCREENPOP_TYPE.NEW_RECORD_MODAL,
    params: { entityName: entity, defaultFieldValues },
  });
  info.pending = { entity, neoSyncId };
  rememberContact();
  render();
  await minimizeIfAsked();
}

/// neoSyncId sync: the server finds the saved record by neoSyncId__c. Without the server's
/// answer, the record the agent just navigated to is taken when it is of the new record's type.
async function syncRecord(candidate) {
  const info = state.contact;
  if (!info || !info.pending) return;
  let found = null;
  try {
    found = await salesforceHelper(state.token, 'sync', { callId: info.callId, neoSyncId: info.pending.neoSyncId });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  if (found && found.recordId) {
    info.record = { id: found.recordId, name: candidate?.recordName || found.name || found.recordId, type: found.objectType || '' };
    info.pending = null;
    rememberContact();
    notify(t('synced', { name: info.record.name }));
    return;
  }
  if (candidate && candidate.recordId && String(candidate.objectType || '').toLowerCase() === info.pending.entity.toLowerCase()) {
    await linkRecord({ id: candidate.recordId, name: candidate.recordName, type: candidate.objectType });
    notify(t('synced', { name: info.record.name }));
    return;
  }
  notify(t('syncNotFound'));
}

async function syncFromIcon() {
  let view = null;
  if (state.cti.available) {
    try {
      view = await state.cti.call('getAppViewInfo');
    } catch {
      view = null;
    }
  }
  await syncRecord(view);
}

// --- release, schedule, auto-release ---------------------------------------------------------
function campaignOfContact() {
  const id = state.position?.contact?.callCampaing ?? state.position?.campaign?.id;
  return state.directory?.campaigns?.find((c) => c.id === id) || null;
}

function dispositionLabel(d) {
  const campaign = campaignOfContact();
  const cat = campaign?.categories?.find((c) => c.id === d.category);
  const sub = cat?.subcategories?.find((s) => s.id === d.subcategory);
  return [cat?.name ?? d.category, sub?.name ?? d.subcategory].join(' / ');
}

/// The call's Task, created as the agent (saveActivityLog) when the server does not write it
/// itself (adapter-config `taskLog`); CallObject carries the call id.
async function saveLog(disposition) {
  if (!state.settings.saveActivityLog || !state.cti.available || state.taskLog !== 'adapter') return;
  const p = state.position;
  const data = p?.contact || {};
  const info = state.contact;
  const value = {
    entityApiName: 'Task',
    Subject: `${t('tabCall')} ${data.phoneNumber || ''}`.trim(),
    Status: 'Completed',
    TaskSubtype: 'Call',
    CallType: data.callDialer === 'inbound' ? 'Inbound' : 'Outbound',
    CallObject: String(info?.callId || ''),
    ActivityDate: new Date().toISOString().slice(0, 10),
  };
  if (disposition) value.CallDisposition = dispositionLabel(disposition).slice(0, 255);
  if (state.settings.useTaskDescriptionField) {
    value.Description = ['callId', 'callCampaing', 'callDialer', 'phoneNumber', 'contactId', 'crmKey']
      .map((k) => `${k}: ${k === 'callId' ? info?.callId ?? '' : data[k] ?? ''}`)
      .join('\n');
  }
  const record = info?.record;
  if (record) {
    if (['contact', 'lead'].includes(record.type.toLowerCase())) value.WhoId = record.id;
    else value.WhatId = record.id;
  }
  await state.cti.call('saveLog', { value });
}

async function release(categorized) {
  let disposition = null;
  if (categorized) {
    const category = Number($('release-category').value);
    const subcategory = Number($('release-subcategory').value);
    if (!category || !subcategory) {
      notify(t('errChooseCategory'), 'error');
      return;
    }
    disposition = { category, subcategory };
    await call('UpdateContact', disposition);
  }
  try {
    await saveLog(disposition);
  } catch (e) {
    fail(e);
  }
  await call('CRM_Available');
  clearTimeout(state.autoRelease?.timer);
  state.autoRelease = null;
}

function scheduleAutoRelease() {
  const p = state.position;
  const seconds = state.settings.automaticContactRelease;
  const due = seconds > 0 && p && p.state === 'wrapUp' && p.contact && !p.contact.scheduled;
  if (!due) {
    if (state.autoRelease) {
      clearTimeout(state.autoRelease.timer);
      clearInterval(state.autoRelease.ticker);
      state.autoRelease = null;
    }
    return;
  }
  if (state.autoRelease) return;
  const until = Date.now() + seconds * 1000;
  state.autoRelease = {
    until,
    timer: setTimeout(() => {
      clearInterval(state.autoRelease?.ticker);
      state.autoRelease = null;
      release(false).catch(fail).finally(render);
    }, seconds * 1000),
    ticker: setInterval(render, 1000),
  };
}

// --- click-to-dial -------------------------------------------------------------------------
async function onClickToDial(payload) {
  if (!state.token || !payload) return;
  try {
    if (!state.position?.contact && state.settings.allowClickToDialSearch && payload.recordId && payload.objectType) {
      notify(t('clickToDialSearch'));
      const crmId = await crmIdOf(payload);
      if (crmId !== null) {
        await call('Dial', { clickToDial: { crmId, crmKey: payload.recordId } });
        clearNotice();
        return;
      }
    }
    const number = normalizeNumber(payload.number);
    if (!number) {
      notify(t('errInvalidNumber'), 'error');
      return;
    }
    await call('Dial', { phone: number });
  } catch (e) {
    fail(e);
  }
}

/// The record's IdCrm through the shipped Apex class (NeotelDataRetrieval).
async function crmIdOf(payload) {
  try {
    const answer = await state.cti.call('runApex', {
      apexClass: 'NeotelDataRetrieval',
      methodName: `get${payload.objectType}ById`,
      methodParams: `Id=${payload.recordId}`,
    });
    const text = typeof answer === 'string' ? answer : answer?.runApex;
    const rows = JSON.parse(text || '[]');
    const value = rows[0]?.neoCrmId__c;
    return value === undefined || value === null || value === '' ? null : Number(value);
  } catch {
    return null;
  }
}

// --- rendering -----------------------------------------------------------------------------
const STATE_WORDS = {
  loggedOut: 'stateLoggedOut', loggedIn: 'stateLoggedIn', available: 'stateAvailable', paused: 'statePaused',
  ringing: 'stateRinging', previewing: 'statePreviewing', inCall: 'stateInCall', wrapUp: 'stateWrapUp',
  monitoring: 'stateMonitoring',
};

function fillSelect(select, options, { empty = true } = {}) {
  const previous = select.value;
  select.replaceChildren();
  if (empty) select.append(new Option('—', ''));
  for (const [value, label] of options) select.append(new Option(label, String(value)));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

function render() {
  const loggedIn = Boolean(state.token);
  $('view-login').hidden = loggedIn;
  $('view-main').hidden = !loggedIn;
  for (const id of ['btn-info', 'btn-settings', 'btn-logout']) $(id).hidden = !loggedIn;
  const p = state.position;
  const dot = $('status-dot');
  dot.className = 'dot';
  if (!loggedIn) {
    $('agent-name').textContent = 'ctibridge';
    $('agent-state').textContent = '';
    return;
  }
  $('agent-name').textContent = `${state.agent?.user || p?.user || ''} · ${state.agent?.device || p?.device || ''}`;
  const s = state.socketStatus;
  let stateText = '';
  if (s && s.kind === 'reconnecting') {
    stateText = t('reconnecting', { secs: s.secs });
    dot.classList.add('offline');
  } else if (!p) {
    stateText = t('connecting');
  } else {
    stateText = t(STATE_WORDS[p.state] || 'stateLoggedIn', { reason: p.pause?.name || '' });
    if (p.campaign) stateText += ` · ${p.campaign.name}`;
    dot.classList.add(p.state === 'available' ? 'available' : p.state === 'paused' ? 'paused' : 'busy');
  }
  $('agent-state').textContent = stateText;

  const call = p?.call || null;
  const contact = p?.contact || (call && p?.state === 'ringing' ? call : null);
  const info = state.contact;
  $('contact').hidden = !contact;
  if (contact) {
    $('contact-name').textContent = info?.record?.name || contact.phoneNumber || contact.crmKey || '—';
    const callState = call ? t(`call${call.state.charAt(0).toUpperCase()}${call.state.slice(1)}`) : '';
    $('contact-phone').textContent = [contact.phoneNumber, callState].filter(Boolean).join(' · ');
    $('new-record-warning').hidden = !info?.pending;
    $('btn-sync').hidden = !info?.pending;
  }

  for (const b of document.querySelectorAll('.tabs button')) {
    b.setAttribute('aria-selected', String(b.dataset.tab === state.tab));
    b.tabIndex = b.dataset.tab === state.tab ? 0 : -1;
  }
  $('btn-monitor-tab').hidden = !(p?.role === 'supervisor' || state.agent?.role === 'supervisor');
  for (const panel of document.querySelectorAll('.panel')) panel.hidden = panel.id !== `tab-${state.tab}`;

  const connected = call && call.state === 'connected';
  const hasCall = Boolean(call) && call.state !== 'ended';
  $('btn-dial').disabled = !p || hasCall || p.state === 'loggedOut';
  $('btn-hangup').disabled = !hasCall;
  $('btn-dtmf').disabled = !connected;
  $('btn-schedule').disabled = !p?.contact || p.contact.scheduled;
  const canPlay = p && (p.state === 'paused' || p.crm === 'Unavailable' || (p.contact && !hasCall));
  $('btn-play').disabled = !canPlay;
  $('btn-unpause').disabled = !(p && p.state === 'paused');

  // Release (LIBERAR): after the call, with the contact still on screen.
  const releasable = Boolean(p?.contact) && !hasCall && !p.contact.scheduled;
  $('release-box').hidden = !releasable;
  $('categorize').hidden = !state.settings.allowCategorization;
  $('btn-release').hidden = !(state.settings.allowContactRelease || !state.settings.allowCategorization);
  const campaign = campaignOfContact();
  const categories = campaign?.categories || [];
  fillSelect($('release-category'), categories.map((c) => [c.id, c.name]));
  const chosen = categories.find((c) => String(c.id) === $('release-category').value);
  fillSelect($('release-subcategory'), (chosen?.subcategories || []).map((s) => [s.id, s.name]));
  $('auto-release').textContent = state.autoRelease
    ? t('autoRelease', { secs: Math.max(0, Math.ceil((state.autoRelease.until - Date.now()) / 1000)) })
    : '';

  // Transfers.
  const dir = state.directory;
  const current = dir?.campaigns?.find((c) => c.id === (call?.callCampaing ?? p?.campaign?.id)) || campaign;
  fillSelect($('transfer-phone'), (current?.transferPhones || []).map((n) => [n, n]));
  const others = (dir?.users || []).filter((u) => u.user !== (state.agent?.user || p?.user));
  fillSelect($('transfer-user'), others.map((u) => [u.user, `${u.user} (${u.state})`]));
  const queues = [...new Set((dir?.campaigns || []).map((c) => c.queue).filter(Boolean))];
  fillSelect($('transfer-queue'), queues.map((q) => [q, q]));
  fillSelect($('transfer-campaign'), (dir?.campaigns || []).map((c) => [c.id, `${c.id} - ${c.name}`]));
  const transfer = call?.transfer;
  $('btn-transfer-direct').disabled = !connected || Boolean(transfer);
  $('btn-transfer-attended').disabled = !connected || Boolean(transfer);
  $('btn-transfer-complete').disabled = !(transfer && transfer.mode === 'attended');
  $('btn-transfer-cancel').disabled = !(transfer && transfer.mode === 'attended');

  // Conference.
  const conference = call?.conference;
  $('btn-conf-start').disabled = !connected || Boolean(conference);
  $('btn-conf-end').disabled = !conference;
  $('btn-conf-invite-number').disabled = !conference;
  $('btn-conf-invite-user').disabled = !conference;
  $('btn-conf-kick').disabled = !conference || conference.length === 0;
  fillSelect($('conf-user'), others.map((u) => [u.user, u.user]));
  $('conf-participants').textContent = (conference || []).map((x) => x.who).join(', ') || t('none');

  // Monitor.
  fillSelect($('monitor-user'), (dir?.users || []).filter((u) => u.role === 'agent').map((u) => [u.user, `${u.user} (${u.state})`]));
  $('btn-monitor-end').disabled = !p?.monitoring;
  $('monitor-status').textContent = p?.monitoring
    ? t('monitoring', { user: p.monitoring.target, mode: t(p.monitoring.mode === 'assist' ? 'monitorAssist' : 'monitorListen') })
    : '';

  // Rest states.
  renderRest(dir, p);

  // Campaigns.
  fillSelect($('campaign-select'), (dir?.campaigns || []).map((c) => [c.id, `${c.id} - ${c.name}`]), { empty: false });
  $('btn-campaign-login').disabled = !p || Boolean(p.campaign) || hasCall;
  $('btn-campaign-logout').disabled = !p?.campaign || hasCall;
  $('campaign-current').textContent = p?.campaign ? `${p.campaign.id} - ${p.campaign.name}` : t('noCampaign');

  // Information.
  const data = p?.contact || call || {};
  $('info-call-id').textContent = String(call?.callId ?? 0);
  $('info-contact-id').textContent = data.contactId ?? t('none');
  $('info-base-id').textContent = data.contactBaseId ?? t('none');
  $('info-crm-id').textContent = data.crmId ?? t('none');
  $('info-search-key').textContent = info?.searchKey || data.SearchData || data.crmKey || t('none');
  $('info-record').textContent = info?.record ? `${info.record.type} ${info.record.id}` : t('none');
}

function renderRest(dir, p) {
  const states = dir?.restStates || [];
  const key = (r) => `${r.kind}:${r.id}`;
  const pressed = p?.pause ? key(p.pause.reason) : null;
  for (const [containerId, kind] of [['rest-system', 'system'], ['rest-custom', 'custom']]) {
    const container = $(containerId);
    const wanted = states.filter((s) => s.reason.kind === kind && s.reason.id !== 'noAnswer');
    const signature = wanted.map((s) => key(s.reason)).join(',');
    if (container.dataset.signature !== signature) {
      container.dataset.signature = signature;
      container.replaceChildren(
        ...wanted.map((s) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = s.name;
          b.dataset.reason = JSON.stringify(s.reason);
          b.dataset.key = key(s.reason);
          return b;
        }),
      );
    }
    for (const b of container.querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.key === pressed));
      b.disabled = !p || !p.campaign;
    }
  }
}

// --- wiring --------------------------------------------------------------------------------
function buildKeypad() {
  const keypad = $('keypad');
  for (const key of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = key;
    b.addEventListener('click', () => {
      const target = state.position?.call?.state === 'connected' ? $('dtmf-digits') : $('dial-number');
      target.value += key;
    });
    keypad.append(b);
  }
}

function transferTarget() {
  const manual = normalizeNumber($('transfer-number').value);
  if ($('transfer-number').value.trim() && !manual) throw new ApiError(400, 'invalid_number', t('errInvalidNumber'));
  if (manual) return { kind: 'external', to: manual };
  if ($('transfer-phone').value) return { kind: 'external', to: $('transfer-phone').value };
  if ($('transfer-user').value) return { kind: 'user', to: $('transfer-user').value };
  if ($('transfer-queue').value) return { kind: 'queue', to: $('transfer-queue').value };
  if ($('transfer-campaign').value) return { kind: 'campaign', to: Number($('transfer-campaign').value) };
  throw new ApiError(400, 'no_target', t('errInvalidNumber'));
}

function wire() {
  const on = (id, fn) => $(id).addEventListener('click', (e) => act(e.currentTarget, fn));
  $('view-login').addEventListener('submit', onLogin);
  $('notice-close').addEventListener('click', clearNotice);
  on('btn-logout', logout);
  $('btn-info').addEventListener('click', () => {
    $('overlay-info').hidden = !$('overlay-info').hidden;
    $('overlay-settings').hidden = true;
    if (!$('overlay-info').hidden) $('btn-info-close').focus();
  });
  $('btn-info-close').addEventListener('click', () => {
    $('overlay-info').hidden = true;
    $('btn-info').focus();
  });
  $('btn-settings').addEventListener('click', openSettings);
  $('btn-settings-close').addEventListener('click', () => {
    $('overlay-settings').hidden = true;
    $('btn-settings').focus();
  });
  on('btn-settings-apply', applySettings);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      $('overlay-info').hidden = true;
      $('overlay-settings').hidden = true;
    }
  });

  const tabs = [...document.querySelectorAll('.tabs button')];
  tabs.find((b) => b.dataset.tab === 'monitor').id = 'btn-monitor-tab';
  for (const b of tabs) {
    b.id ||= `btn-tab-${b.dataset.tab}`;
    b.addEventListener('click', () => {
      state.tab = b.dataset.tab;
      render();
    });
    b.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const visible = tabs.filter((x) => !x.hidden);
      const i = visible.indexOf(b) + (e.key === 'ArrowRight' ? 1 : -1);
      const next = visible[(i + visible.length) % visible.length];
      state.tab = next.dataset.tab;
      render();
      next.focus();
    });
  }

  $('btn-keypad').addEventListener('click', () => {
    $('keypad').hidden = !$('keypad').hidden;
    $('btn-keypad').setAttribute('aria-expanded', String(!$('keypad').hidden));
  });
  $('dial-number').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') $('btn-dial').click();
  });
  on('btn-dial', async () => {
    const raw = $('dial-number').value;
    if (!raw.trim() && state.position?.state === 'previewing') {
      await call('Dial', {});
      return;
    }
    const number = normalizeNumber(raw);
    if (!number) throw new ApiError(400, 'invalid_number', t('errInvalidNumber'));
    await call('Dial', { phone: number });
  });
  on('btn-hangup', () => call('Hangup', {}));
  on('btn-dtmf', async () => {
    const digits = dtmfDigits($('dtmf-digits').value);
    if (!digits) throw new ApiError(400, 'invalid_digits', t('errInvalidDigits'));
    // One by one, as the manual says: each digit is its own tone.
    for (const digit of digits) await call('SendDtmf', { digits: digit });
    $('dtmf-digits').value = '';
  });
  $('btn-schedule').addEventListener('click', () => {
    $('schedule-box').hidden = false;
    $('schedule-at').focus();
  });
  $('btn-schedule-cancel').addEventListener('click', () => {
    $('schedule-box').hidden = true;
  });
  on('btn-schedule-confirm', async () => {
    const at = localDateTimeToIso($('schedule-at').value);
    if (!at || new Date(at).getTime() <= Date.now()) throw new ApiError(400, 'invalid_date', t('errInvalidDate'));
    await call('ScheduleCallback', { at });
    $('schedule-box').hidden = true;
  });
  on('btn-play', async () => {
    const p = state.position;
    if (p?.state === 'paused') await call('Unpause');
    else if (p?.contact) await release(false);
    else await call('CRM_Available');
  });
  on('btn-unpause', () => call('Unpause'));
  $('release-category').addEventListener('change', render);
  on('btn-release-categorized', () => release(true));
  on('btn-release', () => release(false));
  on('btn-sync', syncFromIcon);

  // One transfer target at a time: choosing one clears the others.
  const targets = ['transfer-phone', 'transfer-number', 'transfer-user', 'transfer-queue', 'transfer-campaign'];
  for (const id of targets) {
    $(id).addEventListener(id === 'transfer-number' ? 'input' : 'change', () => {
      if (!$(id).value) return;
      for (const other of targets) if (other !== id) $(other).value = '';
    });
  }
  on('btn-transfer-direct', () => call('Transfer', { target: transferTarget(), mode: 'direct' }));
  on('btn-transfer-attended', () => call('Transfer', { target: transferTarget(), mode: 'attended' }));
  on('btn-transfer-complete', () => call('CompleteTransfer'));
  on('btn-transfer-cancel', () => call('CancelTransfer'));

  on('btn-conf-start', () => call('JoinConference'));
  on('btn-conf-end', () => call('EndConference'));
  on('btn-conf-invite-number', async () => {
    const number = normalizeNumber($('conf-number').value);
    if (!number) throw new ApiError(400, 'invalid_number', t('errInvalidNumber'));
    await call('InviteParticipant', { participant: { kind: 'external', who: number } });
    $('conf-number').value = '';
  });
  on('btn-conf-invite-user', async () => {
    if (!$('conf-user').value) return;
    await call('InviteParticipant', { participant: { kind: 'user', who: $('conf-user').value } });
  });
  on('btn-conf-kick', () => call('KickAll'));

  on('btn-monitor-listen', () => call('Monitor', { target: $('monitor-user').value, mode: 'listen' }));
  on('btn-monitor-assist', () => call('Monitor', { target: $('monitor-user').value, mode: 'assist' }));
  on('btn-monitor-end', () => call('EndMonitor'));

  for (const id of ['rest-system', 'rest-custom']) {
    $(id).addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      act(b, () => call('Pause', { reason: JSON.parse(b.dataset.reason) }));
    });
  }
  on('btn-campaign-login', async () => {
    await call('Login_Campaign', { campaign: Number($('campaign-select').value) });
    await loadDirectory();
  });
  on('btn-campaign-logout', () => call('Logout_Campaign'));
}

function openSettings() {
  const prefs = loadPrefs();
  $('pref-width').value = prefs.width || '';
  $('pref-height').value = prefs.height || '';
  $('pref-minimize').checked = Boolean(prefs.autoMinimize);
  $('pref-language').value = language();
  $('overlay-settings').hidden = false;
  $('overlay-info').hidden = true;
  $('pref-width').focus();
}

async function applySettings() {
  const clamp = (v, lo, hi) => (v ? Math.min(hi, Math.max(lo, Math.round(Number(v)))) : null);
  const prefs = {
    width: clamp($('pref-width').value, 200, 1920),
    height: clamp($('pref-height').value, 240, 2560),
    autoMinimize: $('pref-minimize').checked,
  };
  savePrefs(prefs);
  setLanguage($('pref-language').value);
  translate();
  await applyPanelSize(prefs);
  $('overlay-settings').hidden = true;
}

async function applyPanelSize(prefs) {
  if (!state.cti.available) return;
  if (prefs.width) await state.cti.call('setSoftphonePanelWidth', { widthPX: prefs.width });
  if (prefs.height) await state.cti.call('setSoftphonePanelHeight', { heightPX: prefs.height });
}

// --- start ---------------------------------------------------------------------------------
async function initCti() {
  let adapterConfig = { devMode: false, salesforceOrigins: [] };
  try {
    adapterConfig = await request('/softphone/adapter-config.json', { method: 'GET' });
  } catch (e) {
    fail(e);
  }
  state.taskLog = adapterConfig.taskLog || 'server';
  const problem = await state.cti.load(adapterConfig);
  if (problem) {
    notify(t(problem.key, problem.params), 'error');
    return;
  }
  try {
    const flat = await state.cti.call('getCallCenterSettings');
    state.settings = parseSettings(flat);
    const bad = [...state.settings.externalData.errors, ...state.settings.defaultNewRowData.errors];
    if (bad.length) notify(t('errSettings', { value: bad.join(', ') }), 'error');
  } catch (e) {
    fail(e);
  }
  state.cti.listen('onClickToDial', (payload) => {
    onClickToDial(payload);
  });
  state.cti.listen('onNavigationChange', (payload) => {
    if (state.contact?.pending && payload?.recordId) syncRecord(payload).catch(fail);
  });
  try {
    await state.cti.call('enableClickToDial');
    await applyPanelSize(loadPrefs());
  } catch (e) {
    fail(e);
  }
  // Whatever failed above, Lightning must hear that the adapter is up, or it shows the standby
  // page after reqTimeout.
  try {
    await state.cti.call('notifyInitializationComplete');
  } catch (e) {
    fail(e);
  }
  render();
}

function main() {
  pickLanguage();
  translate();
  buildKeypad();
  wire();
  const session = load(SESSION_KEY);
  if (session && session.token) startSession(session.token, session.agent);
  render();
  initCti()
    .then(() => {
      // A contact that arrived before Open CTI was ready is popped now.
      if (state.position) setPosition(state.position);
    })
    .catch(fail);
  if (!state.token) $('login-device').focus();
}

main();
