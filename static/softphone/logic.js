// Pure decisions of the adapter, without DOM, network or Salesforce: parsing the call-center
// options, CLAVESF and field maps, choosing what to pop, checking origins, backoff delays.
// Unit-tested with `node --test` (tests/js/logic.test.mjs).

export const NEOTEL_NAMES = [
  'callId', 'callCampaing', 'callDialer', 'callQueue', 'callReason', 'phoneNumber',
  'contactId', 'contactBaseId', 'crmId', 'crmKey', 'campaignCrmId', 'campaignBaseId',
  'userOutCampaign', 'SearchBy', 'SearchData',
];

const SETTINGS_PREFIX = '/neotelConfigOptions/';

function bool(value, fallback) {
  if (value === undefined || value === null || String(value).trim() === '') return fallback;
  return String(value).trim().toLowerCase() === 'true';
}

/// The `neotelConfigOptions` of getCallCenterSettings' flat `/section/item` map, typed.
export function parseSettings(flat) {
  const get = (name) => (flat && typeof flat === 'object' ? flat[SETTINGS_PREFIX + name] : undefined);
  const seconds = Number.parseInt(String(get('automaticContactRelease') ?? '-1').trim(), 10);
  return {
    searchTypePriority: parsePriority(get('searchTypePriority')),
    externalData: parseFieldMap(get('externalData')),
    defaultNewRowData: parseFieldMap(get('defaultNewRowData')),
    allowCategorization: bool(get('allowCategorization'), false),
    allowClickToDialSearch: bool(get('allowClickToDialSearch'), false),
    useTaskDescriptionField: bool(get('useTaskDescriptionField'), false),
    allowContactRelease: bool(get('allowContactRelease'), true),
    automaticContactRelease: Number.isFinite(seconds) && seconds > 0 ? seconds : -1,
    saveActivityLog: bool(get('saveActivityLog'), false),
    allowTextMessage: bool(get('allowTextMessage'), false),
    campaignEntityName: (() => {
      const v = String(get('campaignEntityName') ?? '').trim();
      return v === '' || v.toLowerCase() === 'false' ? null : v;
    })(),
  };
}

/// `Contact|Account|Lead` → ['Contact','Account','Lead'] (blank entries dropped).
export function parsePriority(value) {
  return String(value ?? '')
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/// `SfField-neotelName|…` (trailing `|` allowed) → [{field, name}]. Entries that are not
/// `field-name` with a known Neotel name are reported in `errors`, never thrown.
export function parseFieldMap(value) {
  const entries = [];
  const errors = [];
  for (const raw of String(value ?? '').split('|')) {
    const part = raw.trim();
    if (part === '') continue;
    const dash = part.lastIndexOf('-');
    const field = dash > 0 ? part.slice(0, dash).trim() : '';
    const name = dash > 0 ? part.slice(dash + 1).trim() : '';
    if (field === '' || !NEOTEL_NAMES.includes(name)) {
      errors.push(part);
      continue;
    }
    entries.push({ field, name });
  }
  return { entries, errors };
}

/// The Salesforce field values of a field map for one call's Neotel data (missing data left out).
export function mapFields(map, data) {
  const values = {};
  for (const { field, name } of map.entries) {
    const v = data ? data[name] : undefined;
    if (v === undefined || v === null || v === '') continue;
    values[field] = String(v);
  }
  return values;
}

/// CLAVESF `idContacto-Data` → {contactId, data, search}. `idContacto-` (empty Data) means the
/// caller was unknown and inserted: do not search, the softphone layout decides.
export function parseClavesf(clavesf) {
  if (typeof clavesf !== 'string' || clavesf.trim() === '') return null;
  const value = clavesf.trim();
  const dash = value.indexOf('-');
  if (dash < 0) return { contactId: value, data: '', search: false };
  const data = value.slice(dash + 1).trim();
  return { contactId: value.slice(0, dash), data, search: data !== '' };
}

/// What to search Salesforce with for a call or contact, or null when nothing should be
/// searched (CLAVESF `idContacto-`, or no key and no phone).
export function searchKey(data, clavesf) {
  const parsed = parseClavesf(clavesf);
  if (parsed && !parsed.search) return null;
  const candidates = [data?.crmKey, parsed?.data, data?.phoneNumber];
  for (const c of candidates) {
    if (c !== undefined && c !== null && String(c).trim() !== '') return String(c).trim();
  }
  return null;
}

/// The records of a searchAndScreenPop answer (its `SCREEN_POP_DATA` left aside).
export function matchesOf(returnValue) {
  if (!returnValue || typeof returnValue !== 'object') return [];
  return Object.entries(returnValue)
    .filter(([key, v]) => key !== 'SCREEN_POP_DATA' && v && typeof v === 'object')
    .map(([key, v]) => ({ id: v.Id || key, name: v.Name || '', type: v.RecordType || v.type || '' }));
}

/// Decides what to pop among `matches` (see matchesOf):
/// - none → {kind:'none'} (the layout's NoMatch decides);
/// - one → {kind:'record', record};
/// - several and a priority type with exactly one match → that record;
/// - several otherwise → {kind:'multiple'} (the layout's MultipleMatches decides).
/// Types are compared case-insensitively; priority types without matches are skipped.
export function choosePop(matches, priority) {
  if (!matches.length) return { kind: 'none' };
  if (matches.length === 1) return { kind: 'record', record: matches[0] };
  for (const type of priority || []) {
    const ofType = matches.filter((m) => m.type.toLowerCase() === type.toLowerCase());
    if (ofType.length === 1) return { kind: 'record', record: ofType[0], by: type };
    if (ofType.length > 1) return { kind: 'multiple', type };
  }
  return { kind: 'multiple' };
}

/// The softphone layout's setting for a call type and match count:
/// {type:'DoNotPop'|'PopToEntity'|'PopToSearch'|…, entity?}.
export function layoutAction(layout, callType, which) {
  const key = callType === 'outbound' ? 'Outbound' : callType === 'internal' ? 'Internal' : 'Inbound';
  const settings = layout?.[key]?.screenPopSettings?.[which];
  if (!settings) return { type: 'DoNotPop' };
  return { type: settings.screenPopType || 'DoNotPop', entity: settings.screenPopData || null };
}

/// Whether `origin` may be trusted as the Salesforce org framing the page: it must match one of
/// the configured `frame-ancestors` sources (`https://*.lightning.force.com`, …), or, in
/// development mode only, be this server's own origin (the local harness).
export function isAllowedOrigin(origin, patterns, devMode, selfOrigin) {
  let url;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin !== origin.replace(/\/$/, '')) return false;
  if (devMode && url.origin === selfOrigin) return true;
  for (const pattern of patterns || []) {
    if (pattern === "'self'") continue;
    const m = /^(https?):\/\/(\*\.)?([^/:]+)(?::(\d+))?$/.exec(pattern);
    if (!m) continue;
    const [, scheme, wildcard, host, port] = m;
    if (url.protocol !== scheme + ':') continue;
    if ((url.port || '') !== (port || '')) continue;
    const h = url.hostname.toLowerCase();
    const base = host.toLowerCase();
    if (wildcard ? h.endsWith('.' + base) && h.length > base.length + 1 : h === base) return true;
  }
  return false;
}

/// Salesforce's Open CTI library on the org's domain (or the harness's stand-in in dev mode).
export function openCtiUrl(origin, selfOrigin, devMode, apiVersion = '62.0') {
  const base = devMode && origin === selfOrigin ? `${origin}/dev/lightning` : origin;
  return `${base}/support/api/${apiVersion}/lightning/opencti_min.js`;
}

/// Reconnect delay: 0.5 s doubling to 15 s, with up to 20 % jitter (rand in [0,1)).
export function backoffDelay(attempt, rand = 0.5) {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.9 + 0.2 * rand));
}

/// `2026-11-21T15:30` (datetime-local, the agent's time zone) → ISO UTC, or null.
export function localDateTimeToIso(value) {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/// Digits for DTMF: 0-9 * # A-D, anything else refused.
export function dtmfDigits(value) {
  const digits = String(value ?? '').replace(/\s+/g, '').toUpperCase();
  return /^[0-9*#A-D]+$/.test(digits) ? digits : null;
}

/// A dialable number: digits with an optional leading +, separators removed.
export function normalizeNumber(value) {
  const n = String(value ?? '').replace(/[\s().-]/g, '');
  return /^\+?[0-9*#]{2,32}$/.test(n) ? n : null;
}

/// One websocket text frame → the event, or null when it is not an event the page can use
/// (not JSON, no `type`, a snapshot / position without a `state`).
export function parseServerFrame(data) {
  if (typeof data !== 'string') return null;
  let event;
  try {
    event = JSON.parse(data);
  } catch {
    return null;
  }
  if (!event || typeof event !== 'object' || Array.isArray(event) || typeof event.type !== 'string') return null;
  if ((event.type === 'snapshot' || event.type === 'position') && typeof event.state !== 'string') return null;
  return event;
}

/// Milliseconds as `m:ss` (or `h:mm:ss` from an hour on), for the call timer.
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(Number(ms) / 1000) || 0);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
