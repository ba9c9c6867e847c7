// An ES module handler with top-level await: the runtime waits for it before the first invoke.
const startedAt = await Promise.resolve(Date.now());

export const handler = async (event) => ({
  module: 'esm',
  initialised: typeof startedAt === 'number',
  echo: event,
});
