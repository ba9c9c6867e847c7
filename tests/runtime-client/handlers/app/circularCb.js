// An unserializable result delivered through the callback once the event loop drains.
exports.handler = (event, context, callback) => { const o = {}; o.self = o; callback(null, o); };
