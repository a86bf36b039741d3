// The agent websocket: authenticates with the first frame, hands every event to `onEvent`,
// reconnects with backoff (the server then sends a fresh snapshot), and stops for good when the
// server says the token is bad (close code 4001, whose reason says why: ended, replaced,
// expired).

import { backoffDelay, parseServerFrame } from './logic.js';

export class AgentSocket {
  constructor(token, { onEvent, onStatus, onExpired, onMalformed }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onExpired = onExpired;
    this.onMalformed = onMalformed;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
    this.ws = null;
  }

  start() {
    this.closed = false;
    this.connect();
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      try {
        this.ws.close(1000, 'logout');
      } catch {
        // already closed
      }
    }
    this.ws = null;
  }

  connect() {
    if (this.closed) return;
    this.onStatus({ kind: 'connecting' });
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/neoapi/ws`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token: this.token }));
    };
    ws.onmessage = (message) => {
      const event = parseServerFrame(message.data);
      if (!event) {
        this.onMalformed(message.data);
        return;
      }
      if (event.type === 'snapshot') {
        this.attempt = 0;
        this.onStatus({ kind: 'connected' });
      }
      try {
        this.onEvent(event);
      } catch (e) {
        this.onMalformed(String(e?.message || e));
      }
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      if (close.code === 4001) {
        this.closed = true;
        this.onExpired(close.reason || '');
        return;
      }
      this.retry();
    };
    ws.onerror = () => {
      // onclose follows and decides.
    };
  }

  retry() {
    if (this.closed) return;
    const delay = backoffDelay(this.attempt, Math.random());
    this.attempt += 1;
    this.onStatus({ kind: 'reconnecting', secs: Math.max(1, Math.round(delay / 1000)) });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
