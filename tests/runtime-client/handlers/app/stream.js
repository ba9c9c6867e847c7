// Response streaming handlers (awslambda is the runtime's global).
exports.chunks = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/plain');
  responseStream.write('hello ');
  await new Promise((r) => setTimeout(r, 10));
  responseStream.write('world');
  responseStream.end();
});
exports.http = awslambda.streamifyResponse(async (event, responseStream) => {
  const s = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201, headers: { 'x-a': 'b' } });
  s.write('body');
  s.end();
});
exports.failsLate = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('partial');
  await new Promise((r) => setTimeout(r, 10));
  throw new Error('stream broke');
});
exports.notAsync = awslambda.streamifyResponse((event, responseStream) => { responseStream.write('x'); });
exports.lateContentType = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('x');
  responseStream.setContentType('text/plain');
});
// A small socket buffer: the client builds its connection with this highWaterMark.
exports.smallBuffer = awslambda.streamifyResponse(async (event, responseStream) => {
  for (let i = 0; i < 4; i++) responseStream.write(`chunk${i};`.repeat(8));
  responseStream.end();
}, { highWaterMark: 16 });
