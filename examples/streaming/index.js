// A streamed response (awslambda.streamifyResponse): bytes reach the invoker as they are
// written. event.failAfter makes it fail after that many chunks, which Lambda reports
// through the stream's error trailers (event.unterminated: chunks without their newline);
// event.bytes streams that many bytes of "x" instead
// of the chunk lines (past Lambda's 20 MB streaming limit, the invoke fails).
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/plain');
  if (event.bytes) {
    const mib = Buffer.alloc(1 << 20, 'x');
    for (let left = event.bytes; left > 0; left -= mib.length) {
      const piece = left < mib.length ? mib.subarray(0, left) : mib;
      if (!responseStream.write(piece)) await new Promise((r) => responseStream.once('drain', r));
    }
    responseStream.end();
    return;
  }
  const chunks = event.chunks || 3;
  for (let i = 1; i <= chunks; i++) {
    if (event.failAfter !== undefined && i > event.failAfter) throw new Error(`stream broke at chunk ${i}`);
    responseStream.write(event.unterminated ? `chunk ${i}` : `chunk ${i}\n`);
    await new Promise((r) => setTimeout(r, 20));
  }
  responseStream.end();
});
