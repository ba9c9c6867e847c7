setTimeout(() => { throw new Error('thrown after load'); }, 1);
exports.handler = () => new Promise((r) => setTimeout(r, 1000));
