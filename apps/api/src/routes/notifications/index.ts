/**
 * Notifications (seeds/devicehub-notification-system.md, "API Endpoints"): accept, look up,
 * status, initialise, retry, and the admin debugging lists.
 *
 * The API never calls Mattermost: it records the notification in the Postgres ledger and enqueues
 * a `deliver` job; the worker posts. A send whose key was admitted less than the window ago is a
 * duplicate and enqueues nothing.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { acceptNotifications, createBatcher, findNotification, type AcceptInput, listIdempotencyKeys, listNotifications, listRecipients, requeueFailed, type Notification } from '@parley/db'
import { SendNotificationSchema, actionFieldErrors, addAndWait, workerConnection, deliverJobId, notificationJobOptions, notificationKey, publishNotificationWindow, readStatus } from '@parley/queue'
import { admitThroughGate } from './gate.js'
import { BadRequest, Conflict, GatewayTimeout, NotFound, Unavailable } from '../../errors.js'
import { ErrorSchema, PageQuerySchema, UuidParamSchema, errorResponses } from '../../schemas/common.js'
import { AcceptedSchema, DuplicateSchema, IdempotencyPageSchema, NotificationSchema, RecipientPageSchema, StatusSchema } from './schemas.js'

const iso = (d: Date | null) => d?.toISOString() ?? null
export const notificationView = (n: Notification) => ({
  id: n.id,
  idempotencyKey: n.idempotencyKey,
  action: n.action,
  requestId: n.requestId,
  userId: n.userId,
  mattermostUsername: n.mattermostUsername,
  source: n.source,
  status: n.status,
  delivery: n.delivery,
  mattermostPostId: n.mattermostPostId,
  attempts: n.attempts,
  lastError: n.lastError,
  lastErrorId: n.lastErrorId,
  createdAt: n.createdAt.toISOString(),
  updatedAt: n.updatedAt.toISOString(),
  lastAttemptAt: iso(n.lastAttemptAt),
  deliveredAt: iso(n.deliveredAt)
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, queues, config, redis } = app
  // Auto-pipelined: one socket write for the claims of concurrent sends (see AppDeps.gateRedis).
  const gateRedis = app.gateRedis ?? redis
  const missingSetting = !config.MATTERMOST_URL ? 'MATTERMOST_URL' : !config.MATTERMOST_NOTIFICATION_CHANNEL_ID ? 'MATTERMOST_NOTIFICATION_CHANNEL_ID' : undefined
  const notConfigured = missingSetting && `Notifications are not configured: ${missingSetting} is not set`
  // Queue producers (packages/client) claim keys for the window the server publishes here.
  await publishNotificationWindow(redis, queues.notifications.opts.prefix!, config.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS).catch(err => app.log.warn({ err }, 'could not publish the idempotency window'))

  // Group commit: concurrent sends share one ledger statement (one commit) and one addBulk round trip.
  // Each request still answers only after its own row is committed and its job is in Redis.
  const accept = createBatcher((inputs: AcceptInput[]) => acceptNotifications(db, inputs), { maxSize: 100, waitMs: 0 })
  const enqueue = createBatcher(async (ids: string[]) => {
    await queues.notifications.addBulk(ids.map(notificationId => ({ name: 'deliver' as const, data: { v: 1 as const, notificationId }, opts: { ...notificationJobOptions, jobId: deliverJobId(notificationId) } })))
    return ids.map(() => undefined)
  }, { maxSize: 100, waitMs: 0 })

  app.post('/send', {
    preHandler: app.requireScope('notifications:send'),
    schema: {
      tags: ['notifications'],
      body: SendNotificationSchema,
      response: { 202: AcceptedSchema, 200: DuplicateSchema, 503: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const body = request.body
    const problem = actionFieldErrors(body)
    if (problem) throw new BadRequest(problem)
    if (notConfigured) throw new Unavailable(notConfigured)
    const idempotencyKey = notificationKey(body)
    const { action, requestId, userId, mattermostUsername, ...payload } = body
    // Redis gate shared with queue producers (packages/client) first, Postgres ledger second: see gate.ts.
    const gateDeps = { db, redis: gateRedis, prefix: queues.notifications.opts.prefix!, windowSeconds: config.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS, log: request.log }
    const { notificationId, created } = await admitThroughGate(gateDeps, idempotencyKey, (id) => accept({
      idempotencyKey, action, requestId: String(requestId), userId: String(userId), notificationId: id,
      mattermostUsername: mattermostUsername.toLowerCase(), payload, windowSeconds: config.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS
    }))
    if (!created) return reply.code(200).send({ notificationId, status: 'duplicate' as const, idempotencyKey })
    try {
      // Same id on re-enqueue: BullMQ ignores a second add while the job exists.
      await enqueue(notificationId)
    } catch (err) {
      // The row is committed; the worker's sweep enqueues queued rows it finds without a job.
      request.log.warn({ err, notificationId }, 'enqueue failed; the ledger sweep will enqueue it')
    }
    return reply.code(202).send({ notificationId, status: 'queued' as const, idempotencyKey })
  })

  app.get('/status', {
    preHandler: app.requireScope('notifications:send'),
    schema: { tags: ['notifications'], response: { 200: StatusSchema, ...errorResponses } }
  }, async () => {
    const [status, counts] = await Promise.all([
      readStatus(redis, queues.notifications.opts.prefix!),
      queues.notifications.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized')
    ])
    return {
      configured: !notConfigured,
      ...(notConfigured ? { reason: notConfigured } : {}),
      initialized: status.initialized,
      botUser: status.botUserId ? { id: status.botUserId, username: status.botUsername } : null,
      notificationChannelId: config.MATTERMOST_NOTIFICATION_CHANNEL_ID ?? null,
      websocket: { state: status.websocketState ?? 'unknown', lastEventAt: status.websocketLastEventAt ?? null, holder: status.listenerHolder ?? null },
      queue: counts,
      ...(status.lastError ? { lastError: status.lastError } : {})
    }
  })

  app.post('/initialize', {
    preHandler: app.requireRole('admin'),
    schema: { tags: ['notifications'], response: { 200: Type.Object({ initialized: Type.Boolean(), botUser: Type.Union([Type.Object({ id: Type.String(), username: Type.Optional(Type.String()) }), Type.Null()]) }), 503: ErrorSchema, 504: ErrorSchema, ...errorResponses } }
  }, async () => {
    if (notConfigured) throw new Unavailable(notConfigured)
    try {
      await addAndWait(queues.notifications, workerConnection(config.REDIS_URL), 'initialize', {}, { attempts: 1, removeOnComplete: true, removeOnFail: 100 }, 15_000)
    } catch (err) {
      if (/timed out/i.test((err as Error).message)) throw new GatewayTimeout('The worker did not answer within 15 s; is it running?')
      throw new Unavailable(`Initialisation failed: ${(err as Error).message}`)
    }
    const status = await readStatus(redis, queues.notifications.opts.prefix!)
    return { initialized: status.initialized, botUser: status.botUserId ? { id: status.botUserId, username: status.botUsername } : null }
  })

  app.get('/users', {
    preHandler: app.requireRole('admin'),
    schema: { tags: ['notifications'], querystring: PageQuerySchema, response: { 200: RecipientPageSchema, ...errorResponses } }
  }, async (request) => {
    const { limit, offset } = request.query
    const rows = await listRecipients(db, { limit, offset })
    return {
      items: rows.map(r => ({ mmUserId: r.mmUserId, username: r.username, dmReady: r.dmReady, dmChannelId: r.dmChannelId, dmReadyAt: iso(r.dmReadyAt), welcomeSentAt: iso(r.welcomeSentAt), updatedAt: r.updatedAt.toISOString() })),
      limit, offset
    }
  })

  app.get('/idempotency', {
    preHandler: app.requireRole('admin'),
    schema: { tags: ['notifications'], querystring: PageQuerySchema, response: { 200: IdempotencyPageSchema, ...errorResponses } }
  }, async (request) => {
    const { limit, offset } = request.query
    const rows = await listIdempotencyKeys(db, { limit, offset })
    return { items: rows.map(r => ({ key: r.key, notificationId: r.notificationId, createdAt: r.createdAt.toISOString(), expiresAt: r.expiresAt.toISOString() })), limit, offset }
  })

  app.get('/', {
    preHandler: app.requireRole('admin'),
    schema: { tags: ['notifications'], querystring: PageQuerySchema, response: { 200: Type.Object({ items: Type.Array(NotificationSchema), limit: Type.Integer(), offset: Type.Integer() }), ...errorResponses } }
  }, async (request) => {
    const { limit, offset } = request.query
    return { items: (await listNotifications(db, { limit, offset })).map(notificationView), limit, offset }
  })

  app.get('/:id', {
    preHandler: app.requireScope('notifications:send'),
    schema: { tags: ['notifications'], params: UuidParamSchema, response: { 200: NotificationSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    const n = await findNotification(db, request.params.id)
    if (!n) throw new NotFound(`No notification with id ${request.params.id}`)
    return notificationView(n)
  })

  app.post('/:id/retry', {
    preHandler: app.requireRole('admin'),
    schema: { tags: ['notifications'], params: UuidParamSchema, response: { 202: NotificationSchema, 404: ErrorSchema, 409: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const { id } = request.params
    const n = await findNotification(db, id)
    if (!n) throw new NotFound(`No notification with id ${id}`)
    if (!await requeueFailed(db, id)) throw new Conflict(`Notification ${id} is ${n.status}; only failed notifications can be retried`)
    const jobId = deliverJobId(id)
    const old = await queues.notifications.getJob(jobId)
    if (old) await old.remove()
    await queues.notifications.add('deliver', { v: 1, notificationId: id }, { jobId })
    return reply.code(202).send(notificationView((await findNotification(db, id))!))
  })
}
export default routes
