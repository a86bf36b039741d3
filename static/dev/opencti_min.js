// Stand-in for Salesforce's opencti_min.js, served only in development mode by the local
// Lightning harness (/dev/lightning). Like the real library, every `sforce.opencti.*` call goes
// to the Lightning host (here the harness page, the parent frame) by postMessage, and the
// answer comes back as `{success, returnValue, errors}` to the call's callback.
(function () {
  'use strict';
  var params = new URLSearchParams(window.location.search);
  var hostOrigin = params.get('sfdcIframeOrigin');
  var nextId = 1;
  var callbacks = {};
  var listeners = {};
  var METHODS = [
    'getCallCenterSettings', 'getSoftphoneLayout', 'searchAndScreenPop', 'screenPop', 'saveLog',
    'enableClickToDial', 'disableClickToDial', 'onClickToDial', 'onNavigationChange', 'getAppViewInfo',
    'setSoftphonePanelHeight', 'setSoftphonePanelWidth', 'setSoftphonePanelVisibility',
    'isSoftphonePanelVisible', 'setSoftphoneItemIcon', 'setSoftphoneItemLabel',
    'notifyInitializationComplete', 'runApex', 'refreshView',
  ];
  var LISTENERS = { onClickToDial: true, onNavigationChange: true };

  function send(method, args) {
    args = args || {};
    var id = nextId++;
    var payload = {};
    Object.keys(args).forEach(function (k) {
      if (k !== 'callback' && k !== 'listener') payload[k] = args[k];
    });
    if (typeof args.callback === 'function') callbacks[id] = args.callback;
    if (LISTENERS[method] && typeof args.listener === 'function') listeners[method] = args.listener;
    window.parent.postMessage({ ctiHarness: 'request', id: id, method: method, args: payload }, hostOrigin);
  }

  window.addEventListener('message', function (event) {
    if (event.source !== window.parent || event.origin !== hostOrigin) return;
    var m = event.data;
    if (!m || typeof m !== 'object') return;
    if (m.ctiHarness === 'response' && callbacks[m.id]) {
      var cb = callbacks[m.id];
      delete callbacks[m.id];
      cb(m.result);
    } else if (m.ctiHarness === 'event' && listeners[m.name]) {
      listeners[m.name](m.payload);
    }
  });

  var opencti = {
    SCREENPOP_TYPE: {
      SOBJECT: 'sobject', URL: 'url', OBJECTHOME: 'objecthome', LIST: 'list', SEARCH: 'search',
      NEW_RECORD_MODAL: 'newRecord', FLOW: 'flow',
    },
    CALL_TYPE: { INBOUND: 'inbound', OUTBOUND: 'outbound', INTERNAL: 'internal' },
  };
  METHODS.forEach(function (method) {
    opencti[method] = function (args) { send(method, args); };
  });
  window.sforce = window.sforce || {};
  window.sforce.opencti = opencti;
})();
