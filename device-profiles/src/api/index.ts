/**
 * The district API's contract, written once: the HTTP schemas (TypeBox: the cloud validates
 * and serialises with them, the OpenAPI document comes from them, the dashboard takes their
 * types), the socket.io events, and the URL of every route. The dashboard imports only types
 * from here, and values only from paths.ts and ../kinds.ts, which import nothing with effects.
 */
export * from './district.ts';
export * from './auth.ts';
export * from './attendance.ts';
export * from './commands.ts';
export * from './live.ts';
export * from './paths.ts';
export * from './errors.ts';
