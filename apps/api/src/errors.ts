/**
 * The API's error catalogue and its one error handler. Every error leaves as Fastify's own
 * envelope `{ statusCode, error, code, message }`; 5xx details are logged, never sent.
 */
import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

export const Unauthorized = createError('PARLEY_UNAUTHORIZED', '%s', 401)
export const Forbidden = createError('PARLEY_FORBIDDEN', '%s', 403)
export const NotFound = createError('PARLEY_NOT_FOUND', '%s', 404)
export const Conflict = createError('PARLEY_CONFLICT', '%s', 409)
export const BadRequest = createError('PARLEY_BAD_REQUEST', '%s', 400)
export const Unavailable = createError('PARLEY_UNAVAILABLE', '%s', 503)
export const GatewayTimeout = createError('PARLEY_TIMEOUT', '%s', 504)

/** Fastify error handler: picks the log level and hides 5xx internals (STYLE §8). */
export function errorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const statusCode = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
  if (statusCode >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code: err.code, reason: err.message }, 'request rejected')
  const code = err.validation ? 'PARLEY_VALIDATION' : err.code ?? 'PARLEY_INTERNAL'
  const message = statusCode >= 500 && statusCode !== 503 && statusCode !== 504 ? 'Internal Server Error' : err.message
  if (statusCode === 429 || statusCode === 503) {
    const retryAfter = (err as { retryAfter?: number }).retryAfter
    if (retryAfter) reply.header('retry-after', String(retryAfter))
  }
  return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message })
}

/** 404 for unknown routes, in the same envelope. */
export function notFoundHandler (request: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send({ statusCode: 404, error: 'Not Found', code: 'PARLEY_ROUTE_NOT_FOUND', message: `Route ${request.method} ${request.url.split('?')[0]} not found` })
}
