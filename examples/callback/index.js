// Callback style: the answer is sent once the event loop drains (callbackWaitsForEmptyEventLoop).
let invocations = 0;

exports.handler = (event, context, callback) => {
  invocations += 1;
  setTimeout(() => {
    callback(null, { style: 'callback', invocations, remaining: context.getRemainingTimeInMillis() > 0 });
  }, 10);
};
