Promise.reject(new Error('rejected at load'));
exports.handler = async () => 'never';
