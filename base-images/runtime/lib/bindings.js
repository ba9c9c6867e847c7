'use strict';
// Node's internal bindings, for the few cold-start paths where the public module costs more
// than the whole job: Node 14 to 18 hand these out through process.binding().
//
// process.binding is deprecated (DEP0111). Some bindings (http_parser among them), and every
// one under --pending-deprecation, print a warning on first use; the runtime's own use must
// not show up in the function's log, so warnings are muted for the call. A side effect: a
// function that later calls process.binding itself for the same binding gets no warning.
//
// Returns undefined when the binding is not there (a Node that dropped it): callers then use
// the public module.

function binding(name) {
  if (typeof process.binding !== 'function') return undefined;
  const muted = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return process.binding(name);
  } catch (_) {
    return undefined;
  } finally {
    process.noDeprecation = muted;
  }
}

module.exports = { binding };
