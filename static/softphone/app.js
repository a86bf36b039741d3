// The softphone: login, the agent's live state from the websocket, every action of Neotel's
// "Funcionalidades", and the screen pop / neoSyncId sync through Open CTI.
//
// The session token lives in sessionStorage (per tab, survives a reload, never in a URL).

import {
  parseSettings, searchKey, matchesOf, choosePop, layoutAction, mapFields, localDateTimeToIso,
  dtmfDigits, normalizeNumber, backoffDelay, formatDuration,
} from './logic.js';
import { t, translate, pickLanguage, setLanguage, language, errorText } from './i18n.js';
import { ApiError, login as apiLogin, neo, request, retryable, salesforceHelper } from './api.js';
import { AgentSocket } from './socket.js';
import { Cti } from './cti.js';
import { loadMissed, callBack, renderMissed } from './missed.js';

const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'ctibridge.session';
const CONTACT_KEY = 'ctibridge.contact';
const PREFS_KEY = 'ctibridge.prefs';
const CLOCK_KEY = 'ctibridge.clock';

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
  // What the adapter did for the contact on screen: {key, callId, contactId, record, linked,
  // pending, choices, searchKey}. `record` is the Salesforce record popped or picked; `linked`
  // says the server confirmed it (`popped`); `pending` is the new record opened with its
  // neoSyncId; `choices` the records of a search page the agent may pick from.
  contact: null,
  // Linking the record to the call: retried with backoff until the server confirms.
  link: { busy: false, timer: null, attempt: 0 },
  // The call the screen was last set up for (notices and the transfer target clear per call).
  callId: null,
  // The external site of the connected call (triggers automatic / agent): {callId, site}.
  crm: { callId: null, site: null },
  // Since when the agent is in the current phase of the call: {callId, phase, since}.
  clock: null,
  ticker: null,
  directoryLoad: null,
  // Set while a refused session waits for the socket to say why (see sessionGone).
  gone: null,
  popped: new Set(),
  showing: null,
  autoRelease: null,
  socketStatus: null,
  // Who writes the call's Task: 'server' (outbox) or 'adapter' (saveLog).
  taskLog: 'server',
  // The open missed calls the agent may call back (GET /api/missed), and a load under way.
  missed: [],
  missedLoad: null,
  // What the missed-call list shows now (see render).
  missedShown: null,
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

/// A refusal of the page itself (bad input), already in the agent's words.
class Refusal extends Error {}
function refuse(key) {
  return new Refusal(t(key));
}

/// Words for an error in the chosen language, never a stack trace nor the server's English:
/// the server's error codes map to sentences.
function describe(error) {
  if (error instanceof Refusal) return error.message;
  if (error instanceof ApiError) {
    const words = errorText(error.code);
    if (words) return words;
    if (error.status === 401) return t('errSessionExpired');
    return t('errRefused', { code: error.code });
  }
  if (error && error.name === 'OpenCtiError') return t('errSalesforce', { message: error.message });
  return t('errGeneric', { message: String(error?.message || error) });
}
function fail(error) {
  if (error instanceof ApiError && error.status === 401 && state.token) {
    sessionGone();
    return;
  }
  notify(describe(error), 'error');
}

/// The server no longer takes the session. When it was ended (a logout in another tab) or
/// replaced (a login in another tab), the socket closes at once and its reason says so; give it
/// that moment before saying the session expired.
function sessionGone() {
  if (state.gone) return;
  const expired = () => {
    state.gone = null;
    endSession();
    notify(t('errSessionExpired'), 'error');
  };
  if (state.socket?.ws?.readyState === WebSocket.OPEN) state.gone = setTimeout(expired, 2000);
  else expired();
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
    onExpired: (reason) => {
      clearTimeout(state.gone);
      state.gone = null;
      endSession();
      // The close reason says why: another tab logged in, a logout elsewhere, or expiry.
      if (/replaced/.test(reason)) notify(t('sessionReplaced'));
      else if (/ended/.test(reason)) notify(t('sessionClosed'));
      else notify(t('errSessionExpired'), 'error');
    },
    onMalformed: () => notify(t('errMalformed'), 'error'),
  });
  state.socket.start();
  loadDirectory();
  refreshMissed();
  render();
}

/// Reads the missed calls again (the server said they changed, or the session started);
/// overlapping reads merge into one more.
function refreshMissed() {
  if (state.missedLoad) {
    state.missedLoad.again = true;
    return;
  }
  const load = { again: false };
  state.missedLoad = load;
  (async () => {
    try {
      do {
        load.again = false;
        if (!state.token) break;
        state.missed = await loadMissed(state.token);
        render();
      } while (load.again);
    } catch (e) {
      fail(e);
    } finally {
      state.missedLoad = null;
      render();
    }
  })();
}

/// Why a call cannot be placed now (in words), or null.
function whyNoDial(p) {
  const call = p?.call;
  if (!p || p.state === 'loggedOut') return t('whyNotLoggedIn');
  if ((call && call.state !== 'ended') || p.monitoring) return t('whyInCall');
  if (p.state === 'wrapUp') return t('whyWrapUp');
  return null;
}

/// Call back: dials the missed number linked to the missed call; the Llamada tab comes forward.
async function onCallBack(button, missed) {
  await act(button, async () => {
    await callBack(state.token, missed.callId);
    state.tab = 'call';
  });
}

/// The lists (users and their states, campaigns, rest states). Reloaded when they may have
/// changed: the agent's own state changed, a tab or list that shows them opens, a supervisor
/// hears of the contact center's calls. Loads that overlap are merged into one more.
function loadDirectory() {
  if (state.directoryLoad) {
    state.directoryLoad.again = true;
    return state.directoryLoad.promise;
  }
  const load = { again: false, promise: null };
  state.directoryLoad = load;
  load.promise = (async () => {
    try {
      do {
        load.again = false;
        if (!state.token) break;
        state.directory = await call('Directory');
        render();
      } while (load.again);
    } catch (e) {
      fail(e);
    } finally {
      state.directoryLoad = null;
      render();
    }
  })();
  return load.promise;
}

function endSession() {
  clearTimeout(state.gone);
  state.gone = null;
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.token = null;
  state.position = null;
  state.directory = null;
  state.contact = null;
  state.callId = null;
  state.missed = [];
  clearTimeout(state.link.timer);
  state.link = { busy: false, timer: null, attempt: 0 };
  clearTimeout(state.autoRelease?.timer);
  clearInterval(state.autoRelease?.ticker);
  state.autoRelease = null;
  setClock(null);
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
    // The socket is back: what waits for the server is tried again now.
    if (event.type === 'snapshot') {
      pushLink({ now: true });
      loadDirectory();
      refreshMissed();
    }
    return;
  }
  if (event.type === 'missedCallsChanged') {
    refreshMissed();
    return;
  }
  if (event.type === 'error') {
    const code = event.error?.code || 'unknown';
    notify(errorText(code) || t('errRefused', { code }), 'error');
    return;
  }
  // A supervisor hears of every agent's state change: the lists follow.
  if (event.type === 'userState') {
    const user = state.directory?.users?.find((u) => u.user === event.user);
    if (user) {
      user.state = event.state;
      render();
    } else {
      loadDirectory();
    }
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

/// Whether `subject` (with `callId`) is the contact the adapter already handles: the same key,
/// or the same call under another key (the contact's data filled in during the call), or the
/// same telephony contact handed before its call existed (preview).
function sameContact(info, subject, key, callId) {
  if (!info) return false;
  if (info.key === key) return true;
  if (callId && info.callId === callId) return true;
  const contactId = subject.contactId ?? null;
  return !info.callId && contactId !== null && info.contactId === contactId;
}

function setPosition(position) {
  const before = state.position;
  state.position = position;
  const subject = position.monitoring
    ? null
    : position.contact || (position.call && position.state === 'ringing' ? position.call : null);
  const callId = position.call?.callId || 0;
  if (callId && callId !== state.callId) newCall(callId);
  if (callId && position.call.state === 'connected' && state.crm.callId !== callId) loadCrmSite(callId);
  if (!callId && !position.contact && state.crm.site) {
    state.crm = { callId: null, site: null };
    $('btn-crm').hidden = true;
  }
  if (!subject) {
    // Released: the same contact calling again is popped again.
    state.popped.clear();
    state.showing = null;
    if (state.contact) {
      state.contact = null;
      store(CONTACT_KEY, null);
      clearTimeout(state.link.timer);
      state.link = { busy: false, timer: null, attempt: 0 };
    }
  } else {
    const key = contactKey(subject);
    const subjectCallId = subject.callId || callId;
    if (sameContact(state.contact, subject, key, subjectCallId)) {
      const info = state.contact;
      if (info.key !== key) {
        // Popped under its first key: never popped twice.
        if (state.popped.has(info.key)) state.popped.add(key);
        info.key = key;
      }
      if (!info.callId && subjectCallId) info.callId = subjectCallId;
      if (info.contactId === null && subject.contactId !== undefined) info.contactId = subject.contactId ?? null;
      rememberContact();
    } else {
      state.contact = {
        key, callId: subjectCallId, contactId: subject.contactId ?? null, record: null, linked: false,
        pending: null, choices: null, searchKey: null,
      };
      rememberContact();
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
    pushLink();
  }
  if (position.state === 'ringing' && before?.state !== 'ringing') {
    // The call needs the agent: the Llamada tab (Cortar, the timer) comes forward.
    state.tab = 'call';
    if (state.cti.available) state.cti.call('setSoftphonePanelVisibility', { visible: true }).catch(() => {});
  }
  if (before && before.state !== position.state && position.state !== 'loggedOut') loadDirectory();
  updateClock(position);
  scheduleAutoRelease();
  render();
}

/// A new call on the agent's screen: what belonged to the previous one goes.
function newCall(callId) {
  const first = state.callId === null;
  state.callId = callId;
  if (first && load(CLOCK_KEY)?.callId === callId) return;
  clearNotice();
  for (const id of ['transfer-phone', 'transfer-number', 'transfer-user', 'transfer-queue', 'transfer-campaign']) $(id).value = '';
  $('dtmf-digits').value = '';
  $('dtmf-status').textContent = '';
  $('schedule-box').hidden = true;
}

// --- the call's external site (CRM interaction) -----------------------------------------------
/// Asks the server which site the connected call's campaign opens: `automatic` opens it now,
/// `agent` shows the button that opens it.
async function loadCrmSite(callId) {
  state.crm = { callId, site: null };
  let answer;
  try {
    answer = await request('/api/crm/site', { token: state.token, method: 'GET' });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409) console.warn('CRM site', e);
    return;
  }
  if (state.crm.callId !== callId || answer?.callId !== callId) return;
  const site = answer.site || null;
  state.crm.site = site;
  $('btn-crm').hidden = !(site && site.trigger === 'agent');
  if (site && site.trigger === 'automatic') openCrm(site);
}

/// Opens the site: a GET as a page, a POST as a form submitted, in the panel or a new tab.
function openCrm(site) {
  const embedded = site.target === 'embedded';
  if (embedded) {
    $('crm-name').textContent = site.name;
    $('crm-panel').hidden = false;
  }
  const target = embedded ? 'crm-frame' : '_blank';
  if (site.method === 'GET') {
    if (embedded) $('crm-frame').src = site.url;
    else window.open(site.url, '_blank', 'noopener');
    return;
  }
  const form = document.createElement('form');
  form.method = 'post';
  form.action = site.url;
  form.enctype = site.enctype || 'application/x-www-form-urlencoded';
  form.target = target;
  form.hidden = true;
  for (const [name, value] of site.fields || []) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
  form.remove();
}

// --- the call timer --------------------------------------------------------------------------
/// The phase the agent is in: the call ringing (or being dialled), talking, wrap-up.
function phaseOf(p) {
  if (!p) return null;
  if (p.state === 'wrapUp' && p.contact) return 'wrapUp';
  const c = p.call;
  if (!c || c.state === 'ended') return null;
  if (c.state === 'connected') return 'talk';
  return 'ringing';
}

function setClock(clock) {
  state.clock = clock;
  store(CLOCK_KEY, clock);
  if (clock && !state.ticker) state.ticker = setInterval(renderClock, 1000);
  if (!clock && state.ticker) {
    clearInterval(state.ticker);
    state.ticker = null;
  }
}

function updateClock(p) {
  const phase = phaseOf(p);
  if (!phase) {
    if (state.clock) setClock(null);
    return;
  }
  const callId = p.call?.callId || p.contact?.callId || 0;
  const clock = state.clock || load(CLOCK_KEY);
  // Kept across a reload: the same call in the same phase keeps counting.
  if (clock && clock.callId === callId && clock.phase === phase) {
    if (!state.clock || !state.ticker) setClock(clock);
    return;
  }
  setClock({ callId, phase, since: Date.now() });
}

function renderClock() {
  const el = $('call-timer');
  const clock = state.clock;
  if (!clock || !state.token) {
    el.textContent = '';
    return;
  }
  const key = { ringing: 'timerRinging', talk: 'timerTalk', wrapUp: 'timerWrapUp' }[clock.phase];
  let text = t(key, { time: formatDuration(Date.now() - clock.since) });
  if (clock.phase === 'wrapUp' && state.autoRelease) {
    text += ` · ${t('autoRelease', { secs: Math.max(0, Math.ceil((state.autoRelease.until - Date.now()) / 1000)) })}`;
  }
  el.textContent = text;
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
      // The agent picks one of these on the search page: that record is then the call's.
      info.choices = matches;
      rememberContact();
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

/// The record on screen is the call's: the server writes externalData on it and links the
/// call's Task (`popped`). Until the server confirms, the link is pending and retried.
async function linkRecord(record) {
  const info = state.contact;
  if (!info) return;
  info.record = { id: record.id, name: record.name || record.id, type: record.type || '' };
  info.linked = false;
  info.pending = null;
  info.choices = null;
  rememberContact();
  render();
  await pushLink({ now: true });
}

/// Sends `popped` for the contact's record unless the server already confirmed it. A refusal
/// that may pass (server unreachable or busy, the call not saved yet) is retried with backoff,
/// and at once when the socket comes back or the page reloads; the agent sees it pending, not
/// as an error.
async function pushLink({ now = false } = {}) {
  const info = state.contact;
  const link = state.link;
  if (!info || !info.record || info.linked || !state.token || link.busy) return;
  if (link.timer && !now) return;
  clearTimeout(link.timer);
  link.timer = null;
  link.busy = true;
  let retry = false;
  try {
    await salesforceHelper(state.token, 'popped', {
      callId: info.callId,
      recordId: info.record.id,
      objectType: info.record.type || '',
    });
    if (state.contact === info) {
      info.linked = true;
      link.attempt = 0;
      rememberContact();
    }
  } catch (e) {
    if (state.contact !== info) return;
    if (e instanceof ApiError && e.status === 401) {
      fail(e);
    } else if (retryable(e)) {
      retry = true;
    } else {
      // Refused for good (the call is over, the record is not one): said once, not retried.
      info.linked = 'refused';
      rememberContact();
      notify(t('errLink', { reason: describe(e) }), 'error');
    }
  } finally {
    link.busy = false;
    if (retry && state.contact === info && state.link === link) {
      const delay = backoffDelay(link.attempt);
      link.attempt += 1;
      link.timer = setTimeout(() => {
        link.timer = null;
        pushLink();
      }, delay);
    }
    render();
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// A fresh neoSyncId__c for the call, from the server (it keeps it with the call, so the sync
/// finds the record). Asked again while the refusal may pass; null when the server has none
/// to give, and then no number is made up here.
async function newSyncId(info) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const answer = await salesforceHelper(state.token, 'new-sync-id', { callId: info.callId });
      if (answer && answer.neoSyncId !== undefined && answer.neoSyncId !== null) return String(answer.neoSyncId);
      return null;
    } catch (e) {
      if (!retryable(e) || attempt >= 6 || state.contact !== info) {
        notify(t('errSyncId', { reason: describe(e) }), 'error');
        return null;
      }
      await pause(backoffDelay(attempt));
    }
  }
}

async function openNewRecord(entity, subject) {
  const info = state.contact;
  // Opening: a second pop of the same contact must not open a second screen.
  info.pending = { entity, neoSyncId: null };
  const neoSyncId = await newSyncId(info);
  if (state.contact !== info) return;
  const defaultFieldValues = { ...mapFields(state.settings.defaultNewRowData, subject) };
  if (neoSyncId) defaultFieldValues.neoSyncId__c = neoSyncId;
  await state.cti.call('screenPop', {
    type: state.cti.SCREENPOP_TYPE.NEW_RECORD_MODAL,
    params: { entityName: entity, defaultFieldValues },
  });
  info.pending = neoSyncId ? { entity, neoSyncId } : null;
  rememberContact();
  render();
  await minimizeIfAsked();
}

/// neoSyncId sync: only the record created with this call's neoSyncId__c is linked. The server
/// looks it up by neoSyncId__c (and links it); when it has no Salesforce access, the record the
/// agent is on is taken only if its own neoSyncId__c is the call's (read through the shipped
/// Apex class). Anything else is "not found", said when the agent asked (`manual`).
async function syncRecord(candidate, { manual = false } = {}) {
  const info = state.contact;
  if (!info || !info.pending || !info.pending.neoSyncId) {
    if (manual) notify(t('syncNotFound'));
    return;
  }
  const { entity, neoSyncId } = info.pending;
  let found = null;
  let serverLooked = false;
  try {
    found = await salesforceHelper(state.token, 'sync', { callId: info.callId, neoSyncId });
    serverLooked = found !== null;
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
    serverLooked = true;
  }
  if (state.contact !== info) return;
  if (found && found.recordId) {
    const name = candidate?.recordId === found.recordId && candidate.recordName ? candidate.recordName : found.name;
    info.record = { id: found.recordId, name: name || found.recordId, type: found.objectType || '' };
    // The server linked it as it found it.
    info.linked = true;
    info.pending = null;
    rememberContact();
    notify(t('synced', { name: info.record.name }));
    return;
  }
  if (!serverLooked && candidate?.recordId && String(candidate.objectType || '').toLowerCase() === entity.toLowerCase()) {
    const fields = await recordFields(candidate.objectType, candidate.recordId);
    if (state.contact !== info) return;
    if (fields && String(fields.neoSyncId__c ?? '') === String(neoSyncId)) {
      await linkRecord({ id: candidate.recordId, name: candidate.recordName, type: candidate.objectType });
      notify(t('synced', { name: info.record.name }));
      return;
    }
  }
  if (manual) notify(t('syncNotFound'));
}

/// A record the agent opened from the search page the adapter popped: one of the matches.
function pickFromSearch(view) {
  const info = state.contact;
  if (!info || info.record || !info.choices || !view?.recordId) return false;
  const chosen = info.choices.find((m) => m.id === view.recordId);
  if (!chosen) return false;
  linkRecord({ id: chosen.id, name: view.recordName || chosen.name, type: chosen.type || view.objectType }).catch(fail);
  return true;
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
  await syncRecord(view, { manual: true });
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
  const number = normalizeNumber(payload.number);
  let searching = false;
  try {
    if (!number) throw refuse('errInvalidNumber');
    if (!state.position?.contact && state.settings.allowClickToDialSearch && payload.recordId && payload.objectType) {
      searching = true;
      notify(t('clickToDialSearch'));
      const fields = await recordFields(payload.objectType, payload.recordId);
      const crmId = fields?.neoCrmId__c;
      if (crmId !== undefined && crmId !== null && crmId !== '' && Number.isFinite(Number(crmId))) {
        // The clicked number is the one dialled; the record's IdCrm finds the telephony contact.
        await call('Dial', { phone: number, clickToDial: { crmId: Number(crmId), crmKey: payload.recordId } });
        return;
      }
    }
    await call('Dial', { phone: number });
  } catch (e) {
    searching = false;
    fail(e);
  } finally {
    if (searching && $('notice-text').textContent === t('clickToDialSearch')) clearNotice();
    render();
  }
}

/// A record's fields through the shipped Apex class (NeotelDataRetrieval), or null.
async function recordFields(objectType, recordId) {
  try {
    const answer = await state.cti.call('runApex', {
      apexClass: 'NeotelDataRetrieval',
      methodName: `get${objectType}ById`,
      methodParams: `Id=${recordId}`,
    });
    const text = typeof answer === 'string' ? answer : answer?.runApex;
    const rows = JSON.parse(text || '[]');
    return rows[0] || null;
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

/// A user's state as the lists show it, in the chosen language.
function userStateWord(s) {
  if (s === 'paused') return t('statePausedPlain');
  return t(STATE_WORDS[s] || 'stateLoggedIn');
}

/// A rest state's name: the system ones translated, the custom ones as configured.
function restName(rest) {
  if (!rest) return '';
  if (rest.reason?.kind === 'system') return t(`rest_${rest.reason.id}`);
  return rest.name;
}

/// Enables `id`, or disables it with the reason on hover.
function able(id, why) {
  const el = typeof id === 'string' ? $(id) : id;
  el.disabled = Boolean(why);
  el.title = why ? t(why) : '';
}

function fillSelect(select, options, { empty = true } = {}) {
  const previous = select.value;
  select.replaceChildren();
  if (empty) select.append(new Option('—', ''));
  for (const [value, label, disabled] of options) {
    const option = new Option(label, String(value));
    option.disabled = Boolean(disabled);
    select.append(option);
  }
  if ([...select.options].some((o) => o.value === previous && !o.disabled)) select.value = previous;
}

function transferChosen() {
  return ['transfer-phone', 'transfer-number', 'transfer-user', 'transfer-queue', 'transfer-campaign'].some(
    (id) => $(id).value.trim() !== '',
  );
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
    stateText = t(STATE_WORDS[p.state] || 'stateLoggedIn', { reason: restName(p.pause) });
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
    const waiting = Boolean(info?.pending?.neoSyncId);
    $('new-record-warning').hidden = !waiting;
    $('btn-sync').hidden = !waiting;
    $('link-status').hidden = !(info?.record && info.linked === false);
  }
  renderClock();

  for (const b of document.querySelectorAll('.tabs button')) {
    b.setAttribute('aria-selected', String(b.dataset.tab === state.tab));
    b.tabIndex = b.dataset.tab === state.tab ? 0 : -1;
  }
  $('btn-monitor-tab').hidden = !(p?.role === 'supervisor' || state.agent?.role === 'supervisor');
  for (const panel of document.querySelectorAll('.panel')) panel.hidden = panel.id !== `tab-${state.tab}`;
  $('btn-tab-missed').textContent = state.missed.length ? t('missedCount', { count: state.missed.length }) : t('tabMissed');
  $('missed-empty').hidden = state.missed.length > 0;
  // Rebuilt only when something it shows changed (a click must find its button).
  const missedView = { missed: state.missed, why: whyNoDial(p), lang: language() };
  const missedKey = JSON.stringify(missedView);
  if (missedKey !== state.missedShown) {
    state.missedShown = missedKey;
    renderMissed($('missed-list'), state.missed, { t, lang: missedView.lang, onCallBack, disabledWhy: missedView.why });
  }

  const connected = call && call.state === 'connected';
  const hasCall = Boolean(call) && call.state !== 'ended';
  const wrapUp = p?.state === 'wrapUp';
  const noSession = !p || p.state === 'loggedOut' ? 'whyNotLoggedIn' : null;
  const busy = hasCall || p?.monitoring ? 'whyInCall' : wrapUp ? 'whyWrapUp' : null;
  able('btn-dial', noSession || busy);
  able('btn-hangup', hasCall ? null : 'whyNoCall');
  able('btn-dtmf', connected ? null : hasCall ? 'whyNotConnected' : 'whyNoCall');
  able('btn-schedule', !p?.contact ? 'whyNoContact' : p.contact.scheduled ? 'whyScheduled' : null);
  // Play: back from a rest state, or to take contacts again; the contact on screen is released
  // with Liberar / Categorizar y liberar, which already make the agent available.
  const releasable = Boolean(p?.contact) && !hasCall && !p.contact.scheduled;
  let playWhy = null;
  if (noSession) playWhy = noSession;
  else if (releasable) playWhy = 'whyReleaseFirst';
  else if (hasCall) playWhy = 'whyInCall';
  else if (!(p.state === 'paused' || p.crm === 'Unavailable')) playWhy = 'whyNoCrm';
  able('btn-play', playWhy);
  able('btn-unpause', p && p.state === 'paused' ? null : 'whyNotPaused');

  // Release (LIBERAR): after the call, with the contact still on screen.
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
  const me = state.agent?.user || p?.user;
  const others = (dir?.users || []).filter((u) => u.user !== me);
  fillSelect($('transfer-user'), others.map((u) => [u.user, `${u.user} (${userStateWord(u.state)})`, u.state !== 'available']));
  const queues = [...new Set((dir?.campaigns || []).map((c) => c.queue).filter(Boolean))];
  fillSelect($('transfer-queue'), queues.map((q) => [q, q]));
  fillSelect($('transfer-campaign'), (dir?.campaigns || []).map((c) => [c.id, `${c.id} - ${c.name}`]));
  const transfer = call?.transfer;
  const startWhy = !connected ? (hasCall ? 'whyNotConnected' : 'whyNoCall')
    : transfer ? 'whyTransferInProgress' : !transferChosen() ? 'whyNoTarget' : null;
  able('btn-transfer-direct', startWhy);
  able('btn-transfer-attended', startWhy);
  const attended = transfer && transfer.mode === 'attended';
  able('btn-transfer-complete', !attended ? 'whyNoAttended' : !transfer.answered ? 'whyTransferNotAnswered' : null);
  able('btn-transfer-cancel', attended ? null : 'whyNoAttended');

  // Conference.
  const conference = call?.conference;
  able('btn-conf-start', !connected ? (hasCall ? 'whyNotConnected' : 'whyNoCall') : conference ? 'whyInConference' : null);
  able('btn-conf-end', conference ? null : 'whyNoConference');
  able('btn-conf-invite-number', conference ? null : 'whyNoConference');
  fillSelect($('conf-user'), others.map((u) => [u.user, `${u.user} (${userStateWord(u.state)})`, u.state !== 'available']));
  able('btn-conf-invite-user', !conference ? 'whyNoConference' : !$('conf-user').value ? 'whyChooseUser' : null);
  able('btn-conf-kick', !conference ? 'whyNoConference' : conference.length === 0 ? 'whyNoParticipants' : null);
  $('conf-participants').textContent = (conference || []).map((x) => x.who).join(', ') || t('none');

  // Monitor: only an agent in a call can be listened to.
  const agents = (dir?.users || []).filter((u) => u.role === 'agent');
  fillSelect($('monitor-user'), agents.map((u) => [u.user, `${u.user} (${userStateWord(u.state)})`, u.state !== 'inCall']));
  const target = agents.find((u) => u.user === $('monitor-user').value);
  const monitorWhy = target && target.state === 'inCall' ? null : 'whyChooseAgent';
  able('btn-monitor-listen', monitorWhy);
  able('btn-monitor-assist', monitorWhy);
  able('btn-monitor-end', p?.monitoring ? null : 'whyNotMonitoring');
  $('monitor-status').textContent = p?.monitoring
    ? t('monitoring', { user: p.monitoring.target, mode: t(p.monitoring.mode === 'assist' ? 'monitorAssist' : 'monitorListen') })
    : '';

  // Rest states.
  renderRest(dir, p);

  // Campaigns.
  fillSelect($('campaign-select'), (dir?.campaigns || []).map((c) => [c.id, `${c.id} - ${c.name}`]), { empty: false });
  able('btn-campaign-login', noSession || (p.campaign ? 'whyHasCampaign' : busy));
  able('btn-campaign-logout', noSession || (!p.campaign ? 'whyNoCampaign' : busy));
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

/// Rest states may be taken when no call or contact needs the agent.
const PAUSABLE = ['loggedIn', 'available', 'paused', 'previewing'];

function renderRest(dir, p) {
  const states = dir?.restStates || [];
  const key = (r) => `${r.kind}:${r.id}`;
  const pressed = p?.pause ? key(p.pause.reason) : null;
  let why = null;
  if (!p || p.state === 'loggedOut') why = 'whyNotLoggedIn';
  else if (!p.campaign) why = 'whyNoCampaign';
  else if (!PAUSABLE.includes(p.state)) why = p.state === 'wrapUp' ? 'whyWrapUp' : 'whyInCall';
  for (const [containerId, kind] of [['rest-system', 'system'], ['rest-custom', 'custom']]) {
    const container = $(containerId);
    const wanted = states.filter((s) => s.reason.kind === kind && s.reason.id !== 'noAnswer');
    const signature = `${language()}|${wanted.map((s) => `${key(s.reason)}=${s.name}`).join(',')}`;
    if (container.dataset.signature !== signature) {
      container.dataset.signature = signature;
      container.replaceChildren(
        ...wanted.map((s) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = restName(s);
          b.dataset.reason = JSON.stringify(s.reason);
          b.dataset.key = key(s.reason);
          return b;
        }),
      );
    }
    container.previousElementSibling.hidden = wanted.length === 0;
    for (const b of container.querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.key === pressed));
      able(b, why);
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
  if ($('transfer-number').value.trim() && !manual) throw refuse('errInvalidNumber');
  if (manual) return { kind: 'external', to: manual };
  if ($('transfer-phone').value) return { kind: 'external', to: $('transfer-phone').value };
  if ($('transfer-user').value) return { kind: 'user', to: $('transfer-user').value };
  if ($('transfer-queue').value) return { kind: 'queue', to: $('transfer-queue').value };
  if ($('transfer-campaign').value) return { kind: 'campaign', to: Number($('transfer-campaign').value) };
  throw refuse('errNoTransferTarget');
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
      if (state.tab !== 'call') loadDirectory();
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
    if (!number) throw refuse('errInvalidNumber');
    await call('Dial', { phone: number });
  });
  on('btn-hangup', () => call('Hangup', {}));
  on('btn-dtmf', async () => {
    const digits = dtmfDigits($('dtmf-digits').value);
    if (!digits) throw refuse('errInvalidDigits');
    // One by one, as the manual says: each digit is its own tone.
    $('dtmf-status').textContent = '';
    let sent = '';
    try {
      for (const digit of digits) {
        await call('SendDtmf', { digits: digit });
        sent += digit;
      }
    } finally {
      if (sent) $('dtmf-status').textContent = t('dtmfSent', { digits: sent });
    }
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
    if (!at || new Date(at).getTime() <= Date.now()) throw refuse('errInvalidDate');
    await call('ScheduleCallback', { at });
    $('schedule-box').hidden = true;
  });
  on('btn-play', async () => {
    if (state.position?.state === 'paused') await call('Unpause');
    else await call('CRM_Available');
  });
  on('btn-unpause', () => call('Unpause'));
  $('release-category').addEventListener('change', render);
  on('btn-release-categorized', () => release(true));
  on('btn-release', () => release(false));
  on('btn-sync', syncFromIcon);
  on('btn-crm', () => { if (state.crm.site) openCrm(state.crm.site); });
  on('btn-crm-close', () => {
    $('crm-panel').hidden = true;
    $('crm-frame').src = 'about:blank';
  });

  // One transfer target at a time: choosing one clears the others.
  const targets = ['transfer-phone', 'transfer-number', 'transfer-user', 'transfer-queue', 'transfer-campaign'];
  for (const id of targets) {
    $(id).addEventListener(id === 'transfer-number' ? 'input' : 'change', () => {
      if ($(id).value) for (const other of targets) if (other !== id) $(other).value = '';
      render();
    });
  }
  // The lists of users are read again when the agent opens one: their states move.
  for (const id of ['transfer-user', 'conf-user', 'monitor-user']) {
    $(id).addEventListener('focus', () => loadDirectory());
    $(id).addEventListener('change', render);
  }
  on('btn-transfer-direct', () => call('Transfer', { target: transferTarget(), mode: 'direct' }));
  on('btn-transfer-attended', () => call('Transfer', { target: transferTarget(), mode: 'attended' }));
  on('btn-transfer-complete', () => call('CompleteTransfer'));
  on('btn-transfer-cancel', () => call('CancelTransfer'));

  on('btn-conf-start', () => call('JoinConference'));
  on('btn-conf-end', () => call('EndConference'));
  on('btn-conf-invite-number', async () => {
    const number = normalizeNumber($('conf-number').value);
    if (!number) throw refuse('errInvalidNumber');
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
  render();
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
    if (!payload?.recordId) return;
    if (pickFromSearch(payload)) return;
    if (state.contact?.pending) syncRecord(payload).catch(fail);
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
  // Read-only views for the development harness (same origin) and the browser tests.
  window.ctibridgeSoftphone = {
    position: () => state.position,
    contact: () => state.contact,
  };
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
