exports.handler = async () => 'cjs-lost-to-mjs';
