/**
 * The Fastify app behind the simulator: every `/api/v4` route goes through one pipeline —
 * call record, latency, outage, injected failures, rate limits, session — and answers JSON with
 * `Content-Type: application/json` exactly (Mattermost never adds a charset, and `@mattermost/client`
 * only parses that exact value) plus `X-Request-Id` and `X-Version-Id` on every response.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { appErrorBody, SimError } from '../app-error.js'
import { authenticate } from '../domain/users.js'
import type { FaultState, GcraLimiter } from '../faults.js'
import { newId } from '../ids.js'
import { validateRequestBody, validateResponse } from '../openapi.js'
import type { State, UserRecord } from '../state.js'
import { tokenFromHeaders } from '../websocket.js'
import type { AddRoute, Ctx, Handler, RouteOptions } from './context.js'
import { channelRoutes } from './routes/channels.js'
import { postRoutes } from './routes/posts.js'
import { botRoutes, systemRoutes } from './routes/system.js'
import { teamRoutes } from './routes/teams.js'
import { userRoutes } from './routes/users.js'

/** One REST call as the simulator saw it. */
export interface CallRecord {
  method: string
  /** Actual path, without the query string. */
  path: string
  /** `METHOD /api/v4/...{param}` — the OpenAPI path template, or the actual path when no route matched. */
  route: string
  query: Record<string, string>
  /** Final HTTP status (0 until answered). */
  status: number
  /** Bearer (or `Token`) credential used, if any. */
  token: string | undefined
  /** Parsed JSON request body, undefined when none. */
  body: unknown
  /** `Date.now()` when received. */
  at: number
  /** With `validate: true`: request body errors against the spec (empty = valid). */
  requestErrors?: string[]
  /** With `validate: true`: response body errors against the spec (not checked for injected faults). */
  responseErrors?: string[]
}

export interface CallLog {
  calls: CallRecord[]
  counts: Map<string, number>
}

export interface HttpDeps {
  s: State
  faults: FaultState
  limiter: GcraLimiter | null
  log: CallLog
  validate: boolean
  versionId: string
}

interface Meta {
  record: CallRecord
  template: string | undefined
  requestId: string
  user: UserRecord | undefined
  /** The object behind the JSON payload, for response validation. */
  sent: unknown
  fault: boolean
}

const JSON_TYPE = 'application/json'

export function buildHttp (deps: HttpDeps): FastifyInstance {
  const { s, faults, log } = deps
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024, forceCloseConnections: true })
  const meta = new WeakMap<FastifyRequest, Meta>()

  // Mattermost decodes every body as JSON whatever its Content-Type.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'body is not valid JSON'), undefined)
    }
  })

  function sendJson (reply: FastifyReply, status: number, body: unknown): FastifyReply {
    const m = meta.get(reply.request)
    if (m !== undefined) m.sent = body
    // A Buffer keeps Fastify from appending "; charset=utf-8" to the type.
    return reply.code(status).header('content-type', JSON_TYPE).send(Buffer.from(JSON.stringify(body)))
  }

  function sendError (reply: FastifyReply, err: SimError): FastifyReply {
    const m = meta.get(reply.request)
    return sendJson(reply, err.status, appErrorBody(err, m?.requestId ?? newId()))
  }

  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/__sim/')) return
    const requestId = newId()
    reply.header('X-Request-Id', requestId)
    reply.header('X-Version-Id', deps.versionId)
    const template = (request.routeOptions.config as { template?: string } | undefined)?.template
    const q = request.url.indexOf('?')
    const path = q < 0 ? request.url : request.url.slice(0, q)
    const route = `${request.method} ${template ?? path}`
    const record: CallRecord = {
      method: request.method,
      path,
      route,
      query: { ...(request.query as Record<string, string>) },
      status: 0,
      token: tokenFromHeaders(request.headers.authorization, undefined),
      body: undefined,
      at: Date.now()
    }
    log.calls.push(record)
    log.counts.set(route, (log.counts.get(route) ?? 0) + 1)
    const m: Meta = { record, template, requestId, user: undefined, sent: undefined, fault: false }
    meta.set(request, m)

    if (faults.latencyMs > 0) await new Promise(resolve => setTimeout(resolve, faults.latencyMs))
  })

  // §2: plain text, not an AppError; reset and Retry-After in seconds from now.
  function sendTooMany (reply: FastifyReply, v: { limit: number, remaining: number, resetSeconds: number, retryAfterSeconds: number }): FastifyReply {
    return reply.code(429)
      .header('X-Ratelimit-Limit', String(v.limit))
      .header('X-Ratelimit-Remaining', String(v.remaining))
      .header('X-Ratelimit-Reset', String(v.resetSeconds))
      .header('Retry-After', String(v.retryAfterSeconds))
      .header('content-type', 'text/plain')
      .send(Buffer.from('limit exceeded\n'))
  }

  // Faults act after the body is parsed, so a failed call's record still shows what was sent.
  app.addHook('preHandler', async (request, reply) => {
    const m = meta.get(request)
    if (m === undefined) return
    const { record, template } = m
    const route = record.route
    record.body = request.body
    if (faults.isDown) {
      m.fault = true
      return sendError(reply, new SimError(503, 'api.server.service_unavailable.app_error'))
    }
    const fail = faults.takeFailure(route)
    if (fail !== undefined) {
      m.fault = true
      return sendError(reply, new SimError(fail.status, fail.id ?? 'api.sim.injected_fault.app_error'))
    }
    const forced = faults.takeRateLimit(route)
    if (forced !== undefined) {
      m.fault = true
      return sendTooMany(reply, { limit: deps.limiter?.limit ?? 10, remaining: 0, resetSeconds: forced.resetSeconds, retryAfterSeconds: forced.resetSeconds })
    }
    if (deps.limiter !== null) {
      const key = record.token ?? request.ip
      const verdict = deps.limiter.check(key)
      reply.header('X-Ratelimit-Limit', String(verdict.limit))
      reply.header('X-Ratelimit-Remaining', String(verdict.remaining))
      reply.header('X-Ratelimit-Reset', String(verdict.resetSeconds))
      if (verdict.limited) {
        m.fault = true
        return sendTooMany(reply, verdict)
      }
    }
    const token = record.token ?? tokenFromHeaders(undefined, request.headers.cookie)
    if (token !== undefined) m.user = authenticate(s, token)
    const q = request.query as Record<string, string>
    if (token === undefined && typeof q.access_token === 'string' && q.access_token !== '') {
      return sendError(reply, new SimError(401, 'api.context.token_provided.app_error'))
    }
    const opts = (request.routeOptions.config as { auth?: RouteOptions } | undefined)?.auth
    if (opts?.auth !== false && m.user === undefined && template !== undefined) {
      return sendError(reply, new SimError(401, 'api.context.session_expired.app_error', undefined, token === undefined ? '' : 'token=<redacted>'))
    }
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const m = meta.get(request)
    if (m === undefined) return payload
    m.record.status = reply.statusCode
    if (deps.validate && m.template !== undefined) {
      m.record.requestErrors = validateRequestBody(request.method, m.template, m.record.body)
      m.record.responseErrors = m.fault ? [] : validateResponse(request.method, m.template, reply.statusCode, m.sent)
    }
    return payload
  })

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof SimError) return sendError(reply, err)
    const e = err as { statusCode?: number, code?: string, message?: string }
    const status = typeof e.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500
    if (status >= 500) console.error('[mattermost-sim] handler error', request.method, request.url, err)
    const id = status === 413 ? 'api.context.request_body_too_large.app_error' : status < 500 ? 'api.context.invalid_body_param.app_error' : 'api.context.unknown.app_error'
    return sendError(reply, new SimError(status, id, undefined, e.message ?? ''))
  })

  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/api/v4/')) return sendError(reply, new SimError(404, 'api.context.404.app_error'))
    return reply.code(404).header('content-type', 'text/plain').send(Buffer.from('404 page not found\n'))
  })

  const route: AddRoute = (method, template, handler: Handler, opts: RouteOptions = {}) => {
    app.route({
      method,
      url: template.replace(/\{([^}]+)\}/g, ':$1'),
      config: { template, auth: opts },
      handler: async (request, reply) => {
        const m = meta.get(request)
        const ctx: Ctx = {
          s,
          params: request.params as Record<string, string>,
          query: request.query as Record<string, string>,
          body: request.body,
          user: m?.user
        }
        const result = await handler(ctx)
        return sendJson(reply, result.status, result.body)
      }
    })
  }

  systemRoutes(route)
  userRoutes(route)
  botRoutes(route)
  teamRoutes(route)
  channelRoutes(route)
  postRoutes(route)
  return app
}
