// Loads a module from a layer (/opt/nodejs/node_modules is on NODE_PATH).
const greeting = require('greeting');

exports.handler = async (event) => ({ greeting: greeting.greet((event && event.name) || 'layer') });
