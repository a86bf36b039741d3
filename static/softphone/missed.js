// Missed calls: the open missed calls the agent may see (`GET /api/missed`: those of records
// the agent owns first, then those of the agent's campaign) and "Call back", which dials the
// number linked to the missed call (`POST /api/missed/{id}/callback`); when that call connects
// the server closes the missed call and its Salesforce Task. The list is read again whenever
// the server says it changed (the websocket's `missedCallsChanged` frame).

import { request } from './api.js';

export function loadMissed(token) {
  return request('/api/missed', { token, method: 'GET' }).then((answer) => answer?.missedCalls || []);
}

export function callBack(token, callId) {
  return request(`/api/missed/${encodeURIComponent(callId)}/callback`, { token });
}

/// Fills `list` (a <ul>) with one entry per missed call: the number (or that it was private),
/// the record when known, when it came, how long it waited and why it was missed, and the
/// Call back button. Text only (textContent): nothing the caller sent becomes markup.
export function renderMissed(list, missed, { t, lang, onCallBack, disabledWhy }) {
  list.replaceChildren();
  for (const m of missed) {
    const item = document.createElement('li');
    item.className = 'missed';
    item.dataset.callId = String(m.callId);
    const who = document.createElement('div');
    who.className = 'missed-who';
    who.textContent = m.phone || t('missedPrivate');
    const record = document.createElement('div');
    record.className = 'muted';
    // The record's name when the owner lookup found it, else its type and id.
    if (m.recordName) record.textContent = m.recordType ? `${m.recordName} (${m.recordType})` : m.recordName;
    else record.textContent = m.recordType ? `${m.recordType} ${m.recordId || ''}`.trim() : '';
    const when = document.createElement('div');
    when.className = 'muted';
    const at = new Date(m.arrivedAt).toLocaleString(lang);
    when.textContent = t('missedWhen', { at, secs: m.waitedSecs, reason: t(`missedReason_${m.reason}`) });
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'primary missed-callback';
    button.textContent = t('missedCallBack');
    const why = m.phone ? disabledWhy : t('missedPrivate');
    button.disabled = Boolean(why);
    if (why) button.title = why;
    button.addEventListener('click', (e) => onCallBack(e.currentTarget, m));
    item.append(who, record, when, button);
    list.append(item);
  }
}
