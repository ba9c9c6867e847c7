// The first thing this function does is print: at load, before any invoke, a lone string
// with % escapes (util.format leaves a lone string as it is), then in the handler. Also
// reports what user code sees of the runtime's globals and of the telemetry fd variable.
console.log('loading 100%% of %s');

exports.handler = async () => {
  console.log('in handler %d');
  console.warn('two', 'args %s');
  return {
    awslambda: Object.entries(Object.getOwnPropertyDescriptors(awslambda))
      .map(([k, d]) => [k, typeof d.value, d.writable, d.enumerable, d.configurable]),
    telemetryFd: process.env._LAMBDA_TELEMETRY_LOG_FD === undefined ? 'unset' : 'set',
  };
};
