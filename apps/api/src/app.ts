/**
 * Builds the Parley API as a Fastify instance from its dependencies, without listening, so tests
 * drive it with `app.inject` and `server.ts` only adds process matters (STYLE §2).
 */
import Fastify, { LogController, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import rateLimit from '@fastify/rate-limit'
import depsPlugin, { type AppDeps } from './plugins/deps.js'
import authPlugin from './plugins/auth.js'
import docsPlugin from './plugins/docs.js'
import { errorHandler, notFoundHandler } from './errors.js'
import { schemaErrorFormatter, validatorCompiler } from './validation.js'
import healthRoutes from './routes/health/index.js'
import authRoutes from './routes/auth/index.js'
import apiKeyRoutes from './routes/admin/api-keys.js'
import notificationRoutes from './routes/notifications/index.js'
import { uploadFileRoutes, uploadRoutes } from './routes/media/index.js'
import roomRoutes from './routes/rooms/index.js'
import approvalRoutes from './routes/approvals/index.js'
import eventsPlugin from './plugins/events.js'
import sessionStatesPlugin from './plugins/session-states.js'
import presencePlugin from './plugins/presence.js'
import chatSocketRoutes from './routes/ws/index.js'
import userRoutes from './routes/users/index.js'
import conversationRoutes from './routes/conversations/index.js'
import adminUserRoutes from './routes/admin/users.js'
import orgRoutes from './routes/directory/orgs.js'
import directoryUserRoutes from './routes/directory/users.js'
import mattermostRoutes from './routes/mattermost/index.js'
import syncOrgRoutes from './routes/mattermost/sync-org.js'
import magicLinkRoutes from './routes/mattermost/magic-link.js'

export type { AppDeps } from './plugins/deps.js'

/** Log redaction: secrets never reach the logs (DESIGN.md, "Errors and bad input"). */
export const redactPaths = [
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
  '*.password', '*.currentPassword', '*.newPassword', '*.token', '*.key', '*.managerToken', '*.apiKey'
]

export async function buildApp (deps: AppDeps, opts: FastifyServerOptions = {}) {
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    trustProxy: deps.config.TRUST_PROXY,
    schemaErrorFormatter,
    return503OnClosing: true,
    // One log line per request (the onResponse hook below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    ...opts
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setErrorHandler(errorHandler)
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url.split('?')[0], statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request completed')
  })
  // 404 for unknown paths; 405 with Allow when the path exists under other methods.
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0]
    const allowed = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter(m => m !== request.method && app.findRoute({ method: m as 'GET', url }))
    if (allowed.length === 0) return notFoundHandler(request, reply)
    return reply.code(405).header('allow', allowed.join(', ')).send({
      statusCode: 405, error: 'Method Not Allowed', code: 'PARLEY_METHOD_NOT_ALLOWED', message: `${request.method} is not allowed on ${url}; allowed: ${allowed.join(', ')}`
    })
  })

  await app.register(depsPlugin, deps)
  await app.register(docsPlugin)
  await app.register(rateLimit, { global: false, redis: deps.redis, skipOnError: true, nameSpace: `${deps.queues.notifications.opts.prefix}:rl:` })
  await app.register(authPlugin)
  await app.register(eventsPlugin)
  await app.register(sessionStatesPlugin)
  await app.register(presencePlugin, deps.chat ?? {})

  await app.register(healthRoutes)
  await app.register(authRoutes, { prefix: '/api/auth' })
  await app.register(apiKeyRoutes, { prefix: '/api/admin/api-keys' })
  await app.register(notificationRoutes, { prefix: '/api/notifications' })
  await app.register(orgRoutes, { prefix: '/api/orgs' })
  await app.register(directoryUserRoutes, { prefix: '/api/directory' })
  await app.register(mattermostRoutes, { prefix: '/api/v1/mattermost' })
  await app.register(syncOrgRoutes, { prefix: '/api/v1/mattermost/sync-org' })
  await app.register(magicLinkRoutes, { prefix: '/api/mattermost' })
  await app.register(chatSocketRoutes)
  await app.register(userRoutes, { prefix: '/api/users' })
  await app.register(conversationRoutes, { prefix: '/api/conversations' })
  await app.register(adminUserRoutes, { prefix: '/api/admin' })
  await app.register(roomRoutes, { prefix: '/api/rooms' })
  await app.register(approvalRoutes, { prefix: '/api/approvals' })
  await app.register(uploadRoutes, { prefix: '/api/uploads' })
  await app.register(uploadFileRoutes, { prefix: '/uploads' })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
