import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the built dashboard (dashboard/dist, produced by `vite build`).
 * The cloud serves this folder at '/' (e.g. with @fastify/static); the page then talks
 * to the same origin: GET /api/district, GET /api/schools and socket.io at /socket.io.
 */
export const DASHBOARD_DIST: string = fileURLToPath(new URL('../dist/', import.meta.url));
