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

// The adapter's Salesforce helper and missed-call requests and the server's answers, newest last (at most
// 100): for support, for the harness's log panel (the `ctibridge:api` event of this window) and
// for the browser tests.
const answers = [];
window.__ctibridgeApi = answers;
function noteAnswer(path, request, status, answer) {
  if (!path.startsWith('/api/salesforce/') && !path.startsWith('/api/missed')) return;
  const entry = { path, request: request ?? null, status, code: answer?.error?.code || (status === 0 ? 'unreachable' : null), answer: answer ?? null, at: Date.now() };
  answers.push(entry);
  if (answers.length > 100) answers.shift();
  window.dispatchEvent(new CustomEvent('ctibridge:api', { detail: entry }));
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
    noteAnswer(path, body, 0, null);
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
  noteAnswer(path, body, response.status, json);
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

/// Whether a refused request may succeed when repeated as it is: the server was unreachable or
/// busy, or the call it names is not saved yet (409 `no_call` while the call still rings).
export function retryable(error) {
  if (!(error instanceof ApiError)) return false;
  return error.status === 0 || error.status === 429 || error.status >= 500 || error.code === 'no_call';
}

/// The Salesforce helper endpoints; null when the server does not offer them (a 404 without an
/// error code of its own) or cannot (501; 503 `salesforce_not_configured`: no Salesforce
/// credentials), so the adapter falls back to what it can do in the browser. A passing outage
/// (other 503s) is thrown: the caller may retry.
export async function salesforceHelper(token, name, body) {
  try {
    return await request(`/api/salesforce/${name}`, { token, body });
  } catch (e) {
    if (e instanceof ApiError && ((e.status === 404 && e.code === 'http_404') || e.status === 501 || e.code === 'salesforce_not_configured')) {
      return null;
    }
    throw e;
  }
}
