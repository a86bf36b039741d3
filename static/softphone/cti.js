// Salesforce Open CTI: loads `opencti_min.js` from the org framing the page (after checking the
// origin against the configured Salesforce domains) and wraps its callback API in promises.
// Without a trusted origin the softphone still does telephony; `available` is then false.

import { isAllowedOrigin, openCtiUrl } from './logic.js';

export class OpenCtiError extends Error {}

export class Cti {
  constructor() {
    this.available = false;
    this.api = null;
  }

  /// Returns null when loaded, or an {key, params} problem to show the agent.
  async load(adapterConfig) {
    const params = new URLSearchParams(location.search);
    const origin = params.get('sfdcIframeOrigin');
    if (!origin) return { key: 'errNoOrigin' };
    if (!isAllowedOrigin(origin, adapterConfig.salesforceOrigins, adapterConfig.devMode, location.origin)) {
      return { key: 'errOrigin', params: { origin } };
    }
    const src = openCtiUrl(new URL(origin).origin, location.origin, adapterConfig.devMode);
    try {
      await new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = src;
        script.onload = resolve;
        script.onerror = () => reject(new OpenCtiError(src));
        document.head.appendChild(script);
      });
    } catch {
      return { key: 'errOpenCti' };
    }
    if (!window.sforce || !window.sforce.opencti) return { key: 'errOpenCti' };
    this.api = window.sforce.opencti;
    this.available = true;
    return null;
  }

  /// Calls `sforce.opencti[method]` and resolves with its returnValue; rejects with the
  /// Salesforce error messages.
  call(method, args = {}, timeoutMs = 15000) {
    if (!this.available) return Promise.reject(new OpenCtiError('Open CTI not loaded'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new OpenCtiError(`${method}: no answer`)), timeoutMs);
      try {
        this.api[method]({
          ...args,
          callback: (response) => {
            clearTimeout(timer);
            if (response && response.success) resolve(response.returnValue);
            else {
              const errors = (response && response.errors) || [];
              const text = errors.map((e) => (e && (e.description || e.message)) || String(e)).join('; ');
              reject(new OpenCtiError(`${method}: ${text || 'failed'}`));
            }
          },
        });
      } catch (e) {
        clearTimeout(timer);
        reject(new OpenCtiError(`${method}: ${e?.message || e}`));
      }
    });
  }

  listen(method, listener) {
    if (!this.available) return;
    try {
      this.api[method]({ listener });
    } catch {
      // An org without the listener is not fatal.
    }
  }

  get SCREENPOP_TYPE() {
    return this.api?.SCREENPOP_TYPE || {};
  }

  get CALL_TYPE() {
    return this.api?.CALL_TYPE || {};
  }
}
