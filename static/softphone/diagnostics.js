// Keeps the page's uncaught errors (window errors, unhandled rejections, console.error, CSP
// violations) in `window.__ctibridgeErrors`, for support and for the browser tests, which
// require it empty. Loaded first, as a classic script, to see the modules' errors too.
(function () {
  var errors = [];
  window.__ctibridgeErrors = errors;
  window.addEventListener('error', function (e) {
    errors.push('error: ' + (e.message || (e.error && e.error.message) || 'unknown') + ' @' + (e.filename || '') + ':' + (e.lineno || ''));
  });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    errors.push('unhandledrejection: ' + ((r && (r.stack || r.message)) || String(r)));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    errors.push('csp: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' @' + (e.sourceFile || '') + ':' + (e.lineNumber || ''));
  });
  var original = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return original.apply(console, arguments);
  };
})();
