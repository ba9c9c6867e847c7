// Top-level await must finish before the first invoke.
const value = await new Promise((resolve) => setTimeout(() => resolve('awaited'), 50));
export const handler = async () => value;
