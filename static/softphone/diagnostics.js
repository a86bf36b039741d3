// Keeps the page's uncaught errors (window errors, unhandled rejections, console.error) so the
// information panel can show them and support can ask for them. Loaded first, as a classic
// script, to see errors of the modules too.
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
  var original = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return original.apply(console, arguments);
  };
})();
