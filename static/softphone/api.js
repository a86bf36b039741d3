// The server's HTTP API: NeoApi methods (`POST /neoapi/{Method}` with the agent's bearer token)
// and the Salesforce helper endpoints. Every failure becomes an ApiError with a stable code,
// never a silent `undefined`.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

const TIMEOUT_MS = 10000;

// The server's answers to the Salesforce helper requests, newest last (at most 100): what the
// server said to the adapter's own requests, for support and for the browser tests.
const answers = [];
window.__ctibridgeApi = answers;
function noteAnswer(path, status, code) {
  if (!path.startsWith('/api/salesforce/')) return;
  answers.push({ path, status, code: code || null, at: Date.now() });
  if (answers.length > 100) answers.shift();
}

export async function request(path, { token, body, method = 'POST' } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    noteAnswer(path, 0, 'unreachable');
    throw new ApiError(0, 'unreachable', e && e.name === 'AbortError' ? 'timeout' : String(e?.message || e));
  } finally {
    clearTimeout(timer);
  }
  const text = await response.text().catch(() => '');
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  noteAnswer(path, response.status, json && json.error && json.error.code);
  if (!response.ok) {
    const err = json && json.error;
    throw new ApiError(
      response.status,
      (err && err.code) || (response.status === 401 ? 'unauthorized' : `http_${response.status}`),
      (err && err.message) || response.statusText,
    );
  }
  return json;
}

export function login(device, user, password) {
  return request('/neoapi/Login', { body: { device, user, password } });
}

/// Calls a NeoApi method (`Dial`, `Login_Campaign`, …) as the logged-in agent.
export function neo(token, method, body = {}) {
  return request(`/neoapi/${encodeURIComponent(method)}`, { token, body });
}

/// The Salesforce helper endpoints; null when the server does not offer them (a 404 without an
/// error code of its own) or cannot now (501, 503: no Salesforce credentials, say), so the
/// adapter falls back to what it can do in the browser.
export async function salesforceHelper(token, name, body) {
  try {
    return await request(`/api/salesforce/${name}`, { token, body });
  } catch (e) {
    if (e instanceof ApiError && ((e.status === 404 && e.code === 'http_404') || e.status === 501 || e.status === 503)) {
      return null;
    }
    throw e;
  }
}
