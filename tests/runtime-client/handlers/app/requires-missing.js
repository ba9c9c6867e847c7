require('definitely-not-installed-package');
exports.handler = async () => 'never';
