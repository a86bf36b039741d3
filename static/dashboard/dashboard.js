// The supervisors' dashboard: logs in as the softphone does (POST /neoapi/Login), refuses
// anyone but a supervisor, opens the websocket, asks for the figures ({"type":"dashboard"})
// and draws each frame: the day's tiles, the agents with a live time in state, the queues with
// their longest wait, calls per hour and the service level over the day (inline SVG, no
// library). The clocks tick here, every second, from the frame's instants; the server sends
// a frame only when the figures change. Spanish first; `?lang=en` or the EN button switches.

const STRINGS = {
  es: {
    title: 'Supervisión', language: 'Idioma', logout: 'Salir', loginTitle: 'Ingreso de supervisores',
    device: 'Dispositivo', user: 'Usuario', password: 'Contraseña', login: 'Ingresar',
    offered: 'Ofrecidas', answered: 'Atendidas', abandoned: 'Abandonadas', missed: 'Perdidas',
    serviceLevel: (s) => `Nivel de servicio (${s} s)`, aht: 'TMO', wrap: 'Post-llamada',
    agents: 'Agentes', agent: 'Agente', state: 'Estado', timeInState: 'Tiempo', noAgents: 'Nadie conectado.',
    queues: 'Colas', queue: 'Cola', waiting: 'En espera', longestWait: 'Espera máx.', noQueues: 'Nadie espera.',
    perHour: 'Llamadas por hora', slOverDay: 'Nivel de servicio en el día', noCalls: 'Sin llamadas todavía',
    day: (d) => `Día ${d} (UTC)`,
    states: {
      loggedIn: 'Conectado', available: 'Disponible', paused: 'En descanso', ringing: 'Sonando',
      previewing: 'Vista previa', inCall: 'En llamada', wrapUp: 'Post-llamada', monitoring: 'Monitoreando',
    },
    notSupervisor: 'Este panel es solo para supervisores: ingrese con un usuario supervisor.',
    invalidCredentials: 'Dispositivo, usuario o contraseña incorrectos.',
    ended: 'La sesión terminó: ingrese de nuevo.',
    unreachable: 'No se puede contactar al servidor. Reintentando…',
    failed: (m) => `No se pudo ingresar: ${m}`,
  },
  en: {
    title: 'Supervision', language: 'Language', logout: 'Log out', loginTitle: 'Supervisor login',
    device: 'Device', user: 'User', password: 'Password', login: 'Log in',
    offered: 'Offered', answered: 'Answered', abandoned: 'Abandoned', missed: 'Missed',
    serviceLevel: (s) => `Service level (${s} s)`, aht: 'Avg handle', wrap: 'Avg wrap-up',
    agents: 'Agents', agent: 'Agent', state: 'State', timeInState: 'Time', noAgents: 'Nobody logged in.',
    queues: 'Queues', queue: 'Queue', waiting: 'Waiting', longestWait: 'Longest wait', noQueues: 'Nobody waiting.',
    perHour: 'Calls per hour', slOverDay: 'Service level over the day', noCalls: 'No calls yet',
    day: (d) => `Day ${d} (UTC)`,
    states: {
      loggedIn: 'Logged in', available: 'Available', paused: 'Paused', ringing: 'Ringing',
      previewing: 'Previewing', inCall: 'In call', wrapUp: 'Wrap-up', monitoring: 'Monitoring',
    },
    notSupervisor: 'This dashboard is for supervisors only: log in as a supervisor.',
    invalidCredentials: 'Wrong device, user or password.',
    ended: 'The session ended: log in again.',
    unreachable: 'Cannot reach the server. Retrying…',
    failed: (m) => `Could not log in: ${m}`,
  },
};

const LANG_KEY = 'ctibridge.lang';
const TOKEN_KEY = 'ctibridge.dashboard.token';
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

let lang = pickLanguage();
let token = sessionStorage.getItem(TOKEN_KEY);
let socket = null;
let attempt = 0;
let figures = null;
// Client clock minus server clock, from the last frame (the clocks tick on the server's time).
let skewMs = 0;

// For the browser tests and support: the last figures and how many frames came.
window.__dashboard = { figures: null, frames: 0, refused: null };

function pickLanguage() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'es' || asked === 'en') return asked;
  const kept = sessionStorage.getItem(LANG_KEY);
  if (kept === 'es' || kept === 'en') return kept;
  return 'es';
}

function t(key, ...args) {
  const value = STRINGS[lang][key];
  return typeof value === 'function' ? value(...args) : value;
}

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  $('btn-lang').textContent = lang === 'es' ? 'EN' : 'ES';
  document.title = `ctibridge · ${t('title')}`;
  if (figures) render(figures);
}

function notice(text) {
  $('notice').textContent = text || '';
  $('notice').hidden = !text;
}

function showLogin() {
  $('view-login').hidden = false;
  $('view-board').hidden = true;
  $('btn-logout').hidden = true;
}

function showBoard() {
  $('view-login').hidden = true;
  $('view-board').hidden = false;
  $('btn-logout').hidden = false;
}

async function onLogin(event) {
  event.preventDefault();
  notice('');
  const body = {
    device: $('login-device').value.trim(),
    user: $('login-user').value.trim(),
    password: $('login-password').value,
    // Agents are refused before their softphone's session or telephony login change.
    role: 'supervisor',
  };
  let response;
  try {
    response = await fetch('/neoapi/Login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    notice(t('unreachable'));
    return;
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const code = answer?.error?.code;
    if (code === 'wrong_role') {
      window.__dashboard.refused = 'not_supervisor';
      notice(t('notSupervisor'));
      return;
    }
    notice(code === 'invalid_credentials' ? t('invalidCredentials') : t('failed', answer?.error?.message || response.status));
    return;
  }
  $('login-password').value = '';
  if (answer.agent?.role !== 'supervisor') {
    window.__dashboard.refused = 'not_supervisor';
    notice(t('notSupervisor'));
    return;
  }
  token = answer.token;
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
}

function start() {
  showBoard();
  connect();
}

function stop(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (socket) {
    socket.onclose = null;
    socket.close(1000, 'logout');
  }
  socket = null;
  $('status-dot').className = 'dot';
  showLogin();
  notice(message || '');
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/neoapi/ws`);
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
  ws.onmessage = (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === 'snapshot' || frame.type === 'resumed') {
      attempt = 0;
      ws.send(JSON.stringify({ type: 'dashboard' }));
    } else if (frame.type === 'dashboard' && frame.figures) {
      $('status-dot').className = 'dot live';
      notice('');
      window.__dashboard.frames += 1;
      skewMs = Date.now() - Date.parse(frame.figures.at);
      render(frame.figures);
    } else if (frame.type === 'error' && frame.error?.code === 'forbidden') {
      window.__dashboard.refused = 'forbidden';
      stop(t('notSupervisor'));
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    $('status-dot').className = 'dot down';
    if (event.code === 4001) {
      stop(t('ended'));
      return;
    }
    attempt += 1;
    notice(t('unreachable'));
    setTimeout(() => token && connect(), Math.min(30000, 500 * 2 ** Math.min(attempt, 6)));
  };
}

function serverNow() {
  return Date.now() - skewMs;
}

function clock(secs) {
  secs = Math.max(0, Math.floor(secs));
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function since(iso) {
  return (serverNow() - Date.parse(iso)) / 1000;
}

function percent(value) {
  return value === null || value === undefined ? '–' : `${Math.round(value * 100)}%`;
}

function secs(value) {
  return value === null || value === undefined ? '–' : clock(value);
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function render(f) {
  figures = f;
  window.__dashboard.figures = f;
  $('day').textContent = t('day', f.day);
  $('t-offered').textContent = f.offered;
  $('t-answered').textContent = f.answered;
  $('t-abandoned').textContent = f.abandoned;
  $('t-missed').textContent = f.missed;
  $('t-sl').textContent = percent(f.serviceLevel);
  $('t-sl-label').textContent = t('serviceLevel', f.serviceLevelSecs);
  $('t-aht').textContent = secs(f.averageHandleSecs);
  $('t-wrap').textContent = secs(f.averageWrapUpSecs);

  const agents = $('agents').tBodies[0];
  agents.replaceChildren();
  for (const a of f.agents) {
    const row = document.createElement('tr');
    row.dataset.user = a.user;
    cell(row, a.user);
    const state = document.createElement('span');
    state.className = `state ${a.state}`;
    state.textContent = STRINGS[lang].states[a.state] || a.state;
    row.appendChild(document.createElement('td')).appendChild(state);
    const time = cell(row, clock(since(a.since)), 'num clock');
    time.dataset.since = a.since;
    agents.appendChild(row);
  }
  $('agents-none').hidden = f.agents.length > 0;

  const queues = $('queues').tBodies[0];
  queues.replaceChildren();
  for (const q of f.queues) {
    const row = document.createElement('tr');
    row.dataset.queue = q.queue;
    cell(row, q.queue);
    cell(row, String(q.waiting), 'num');
    const wait = cell(row, clock(since(q.oldestSince)), 'num clock');
    wait.dataset.since = q.oldestSince;
    queues.appendChild(row);
  }
  $('queues-none').hidden = f.queues.length > 0;
  drawHours(f.hours);
  drawServiceLevel(f.hours, f.serviceLevelSecs);
}

function tick() {
  for (const el of document.querySelectorAll('.clock[data-since]')) {
    el.textContent = clock(since(el.dataset.since));
  }
}

function svgEl(name, attributes, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

function frame(container, label) {
  const svg = svgEl('svg', { viewBox: '0 0 480 150', preserveAspectRatio: 'xMidYMid meet' });
  container.setAttribute('aria-label', label);
  container.replaceChildren(svg);
  return svg;
}

// Grouped bars, one group per hour: offered, answered, abandoned, missed.
function drawHours(hours) {
  const svg = frame($('chart-hours'), t('perHour'));
  const left = 36;
  const bottom = 130;
  const width = 480 - left - 4;
  svgEl('line', { x1: left, y1: bottom, x2: 476, y2: bottom, class: 'axis' }, svg);
  if (!hours.some((h) => h.offered > 0)) {
    svgEl('text', { x: 240, y: 70, 'text-anchor': 'middle', class: 'empty' }, svg).textContent = t('noCalls');
    return;
  }
  const max = Math.max(1, ...hours.map((h) => h.offered));
  svgEl('text', { x: left - 4, y: 14, 'text-anchor': 'end' }, svg).textContent = max;
  svgEl('text', { x: left - 4, y: bottom, 'text-anchor': 'end' }, svg).textContent = 0;
  const slot = width / hours.length;
  const bar = Math.max(1, Math.min(12, (slot - 4) / 4));
  const kinds = ['offered', 'answered', 'abandoned', 'missed'];
  hours.forEach((h, i) => {
    const x0 = left + i * slot + (slot - bar * 4) / 2;
    kinds.forEach((kind, k) => {
      const height = (h[kind] / max) * (bottom - 10);
      const rect = svgEl('rect', { x: x0 + k * bar, y: bottom - height, width: Math.max(bar - 1, 1), height, class: kind }, svg);
      svgEl('title', {}, rect).textContent = `${String(h.hour).padStart(2, '0')}:00 ${t(kind)}: ${h[kind]}`;
    });
    if (hours.length <= 12 || i % 2 === 0) {
      svgEl('text', { x: left + i * slot + slot / 2, y: bottom + 12, 'text-anchor': 'middle' }, svg).textContent =
        String(h.hour).padStart(2, '0');
    }
  });
}

// The service level of each hour's calls, 0–100 %.
function drawServiceLevel(hours, target) {
  const svg = frame($('chart-sl'), t('slOverDay'));
  const left = 36;
  const bottom = 130;
  const width = 480 - left - 4;
  svgEl('line', { x1: left, y1: bottom, x2: 476, y2: bottom, class: 'axis' }, svg);
  svgEl('line', { x1: left, y1: 10, x2: 476, y2: 10, class: 'axis' }, svg);
  svgEl('text', { x: left - 4, y: 14, 'text-anchor': 'end' }, svg).textContent = '100%';
  svgEl('text', { x: left - 4, y: bottom, 'text-anchor': 'end' }, svg).textContent = '0%';
  const judged = hours.filter((h) => h.serviceLevel !== null && h.serviceLevel !== undefined);
  if (judged.length === 0) {
    svgEl('text', { x: 240, y: 70, 'text-anchor': 'middle', class: 'empty' }, svg).textContent = t('noCalls');
    return;
  }
  const slot = width / hours.length;
  const points = [];
  hours.forEach((h, i) => {
    if (h.serviceLevel === null || h.serviceLevel === undefined) return;
    const x = left + i * slot + slot / 2;
    const y = bottom - h.serviceLevel * (bottom - 10);
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    const dot = svgEl('circle', { cx: x, cy: y, r: 3, class: 'sl-point' }, svg);
    svgEl('title', {}, dot).textContent = `${String(h.hour).padStart(2, '0')}:00 ${percent(h.serviceLevel)} (≤ ${target} s)`;
    if (hours.length <= 12 || i % 2 === 0) {
      svgEl('text', { x, y: bottom + 12, 'text-anchor': 'middle' }, svg).textContent = String(h.hour).padStart(2, '0');
    }
  });
  svgEl('polyline', { points: points.join(' '), class: 'sl-line' }, svg);
}

$('view-login').addEventListener('submit', onLogin);
$('btn-lang').addEventListener('click', () => {
  lang = lang === 'es' ? 'en' : 'es';
  sessionStorage.setItem(LANG_KEY, lang);
  applyLanguage();
});
$('btn-logout').addEventListener('click', async () => {
  const current = token;
  stop('');
  if (current) {
    await fetch('/neoapi/Logout', {
      method: 'POST',
      headers: { Authorization: `Bearer ${current}`, 'Content-Type': 'application/json' },
      body: '{}',
    }).catch(() => {});
  }
});
setInterval(tick, 1000);
applyLanguage();
if (token) start();
else showLogin();
