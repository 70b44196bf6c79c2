import { METHODS } from 'node:http';

/**
 * Every method a request can reach the app with: those Node.js's HTTP parser takes, but CONNECT,
 * which the server handles apart. A key's request with any of them is counted and logged, so the
 * usage and request-log filters take each of them.
 */
export const REQUEST_METHODS: readonly string[] = METHODS.filter((method) => method !== 'CONNECT');
