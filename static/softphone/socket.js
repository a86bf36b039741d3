// The agent websocket: authenticates with the first frame, hands every event to `onEvent`,
// reconnects with backoff (naming the last sequence number it saw: the server then sends what
// was missed, or a fresh snapshot when it cannot), and stops for good when the
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
    // The last sequence number of this agent's frames seen (null: none yet).
    this.lastSeq = null;
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
      const auth = { type: 'auth', token: this.token };
      if (this.lastSeq !== null) auth.lastSeq = this.lastSeq;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (message) => {
      const event = parseServerFrame(message.data);
      if (!event) {
        this.onMalformed(message.data);
        return;
      }
      if (event.type === 'snapshot' || event.type === 'resumed') {
        this.attempt = 0;
        this.onStatus({ kind: 'connected' });
      }
      if (event.type === 'snapshot') {
        this.lastSeq = typeof event.seq === 'number' ? event.seq : null;
      } else if (typeof event.seq === 'number' && event.agent) {
        this.lastSeq = event.seq;
      }
      // The missed frames follow: nothing for the page to redraw.
      if (event.type === 'resumed') return;
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
