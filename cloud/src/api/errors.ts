/**
 * Answering with an error of the catalog (device-profiles/src/api/errors.ts): the one way a
 * route says no, so every refusal has a code the dashboard can word in Vietnamese.
 */
import type { FastifyReply } from 'fastify';
import { errorBody, type ApiErrorCode, type ErrorParams } from '@schoolops/device-profiles/api';

export function sendError(reply: FastifyReply, code: ApiErrorCode, params: ErrorParams = {}, headers: Record<string, string | number> = {}) {
  const body = errorBody(code, params);
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  return reply.code(body.statusCode).send(body);
}
