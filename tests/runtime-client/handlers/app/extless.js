exports.handler = async () => 'js-lost-to-extensionless';
