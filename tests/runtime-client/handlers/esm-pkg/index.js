import { basename } from 'path';
export const handler = async () => `esm ${basename('/a/b.js')}`;
