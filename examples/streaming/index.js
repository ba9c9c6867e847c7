// A streamed response (awslambda.streamifyResponse): bytes reach the invoker as they are
// written. event.failAfter makes it fail after that many chunks, which Lambda reports
// through the stream's error trailers.
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/plain');
  const chunks = event.chunks || 3;
  for (let i = 1; i <= chunks; i++) {
    if (event.failAfter !== undefined && i > event.failAfter) throw new Error(`stream broke at chunk ${i}`);
    responseStream.write(`chunk ${i}\n`);
    await new Promise((r) => setTimeout(r, 20));
  }
  responseStream.end();
});
