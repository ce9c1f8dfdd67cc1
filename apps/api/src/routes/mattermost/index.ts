/**
 * `/api/v1/mattermost/*` (seeds/equa-mattermost-endpoints.md, with its paths, shapes and codes):
 * session, config, team-mapping, user-mapping, token-health; and project channels
 * (seeds/personal-token-implementation.md, createChannelForProject / archiveChannelForProject /
 * addUserToChannel). The API never calls Mattermost: it answers from Postgres or has the worker
 * do the work through the `mattermost` queue (see ./jobs.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  deletePendingChannel, findMattermostAccount, findMattermostAccountByMmUserId, findMattermostChannel, findMattermostChannelByName,
  findMattermostTeamByMmTeamId, findOrgMember, findOrganization, findUserById, insertMattermostChannel, type MattermostChannel
} from '@parley/db'
import { channelNameProblem, mattermostJobId, type TokenHealth } from '@parley/queue'
import { BadRequest, Conflict, Forbidden, NotFound, errorHandler } from '../../errors.js'
import { SESSION_COOKIE, currentUser } from '../../plugins/auth.js'
import { ErrorSchema, errorResponses } from '../../schemas/common.js'
import { ServerMisconfigured, runMattermostJob, sendMisconfigured } from './jobs.js'
import {
  AddChannelMemberSchema, ChannelMemberSchema, ChannelParamsSchema, ChannelSchema, ConfigResponseSchema, CreateChannelSchema,
  SessionBodySchema, SessionResponseSchema, TeamMappingParamsSchema, TeamMappingSchema, TokenHealthResponseSchema,
  UserMappingParamsSchema, UserMappingSchema
} from './schemas.js'
import { createSessionService } from './session.js'

const fiveXX = { 500: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const channelView = (c: MattermostChannel) => ({
  id: c.id, organizationId: c.orgId, name: c.name, displayName: c.displayName, type: c.type, status: c.status,
  mattermostChannelId: c.mmChannelId, archivedAt: c.archivedAt?.toISOString() ?? null
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config, queues, redis } = app
  const sessions = createSessionService(app)
  const directoryWriter = app.requireScope('directory:write')
  const healthKey = (userId: string) => `${queues.notifications.opts.prefix}:parley:token-health:${userId}`
  ;(queues.mattermostEvents as unknown as NodeJS.EventEmitter | undefined)?.setMaxListeners(0)

  // A 500 here must say which setting is missing (the seed's condition), so it is sent as is.
  app.setErrorHandler((err, request, reply) => err instanceof ServerMisconfigured ? sendMisconfigured(reply, err) : errorHandler(err as never, request, reply))

  /** preHandler: any valid credential (401 otherwise); each route then checks what it allows. */
  async function authenticated (request: FastifyRequest, reply: FastifyReply) {
    try {
      await directoryWriter.call(app, request, reply)
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 403) throw err
    }
  }

  /** Admin, `directory:write` key, or an admin of organisation `orgId` (or the user `orSelf` themself). */
  async function requireOrgManager (request: FastifyRequest, reply: FastifyReply, orgId: string, orSelf?: string) {
    try {
      await directoryWriter.call(app, request, reply)
    } catch (err) {
      const p = request.principal
      if ((err as { statusCode?: number }).statusCode !== 403 || p?.kind !== 'user') throw err
      if (orSelf && p.user.id === orSelf) return
      if ((await findOrgMember(db, orgId, p.user.id))?.role !== 'admin') {
        throw new Forbidden('Requires a Parley admin, an API key with directory:write, or an admin of this organisation')
      }
    }
  }

  /** The verified session JWT claims of a request (Bearer or cookie), or undefined. Never throws. */
  function sessionClaims (request: FastifyRequest): { sub: string, sv: number } | undefined {
    const header = request.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : undefined
    const jwt = header ? match?.[1] : request.cookies[SESSION_COOKIE]
    if (!jwt || jwt.split('.').length !== 3) return undefined
    try {
      const claims = app.jwt.verify<{ sub: string, sv: number }>(jwt)
      return typeof claims.sub === 'string' && UUID.test(claims.sub) && Number.isInteger(claims.sv) ? claims : undefined
    } catch {
      return undefined
    }
  }

  // Warm path first: the verified JWT plus one prepared statement that checks the user (active,
  // session version) together with membership and provisioning. Anything else — no or bad
  // credentials, not a member, not provisioned — takes the full path below, which gives the errors.
  app.post('/session', {
    schema: { tags: ['mattermost'], body: SessionBodySchema, response: { 200: SessionResponseSchema, 404: ErrorSchema, 409: ErrorSchema, ...fiveXX, ...errorResponses } }
  }, async (request, reply) => {
    const claims = sessionClaims(request)
    const warm = claims && await sessions.warmSession(claims.sub, claims.sv, request.body.organizationId)
    if (warm) return reply.header('cache-control', 'no-store').send(warm)
    await app.requireUser.call(app, request, reply)
    const session = await sessions.sessionFor(currentUser(request), request.body.organizationId)
    return reply.header('cache-control', 'no-store').send(session)
  })

  app.get('/config', {
    preHandler: app.requireUser,
    schema: { tags: ['mattermost'], response: { 200: ConfigResponseSchema, ...errorResponses } }
  }, async () => ({ enabled: Boolean(config.MATTERMOST_URL), baseUrl: config.MATTERMOST_URL ? sessions.baseUrl ?? null : null }))

  app.get('/team-mapping/:teamId', {
    preHandler: app.requireScope('gateway:read'),
    schema: { tags: ['mattermost'], params: TeamMappingParamsSchema, response: { 200: TeamMappingSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    const team = await findMattermostTeamByMmTeamId(db, request.params.teamId)
    if (!team) throw new NotFound(`No organisation is mapped to Mattermost team ${request.params.teamId}`)
    return { organizationId: team.orgId }
  })

  app.get('/user-mapping/:mmUserId', {
    preHandler: app.requireScope('gateway:read'),
    schema: { tags: ['mattermost'], params: UserMappingParamsSchema, response: { 200: UserMappingSchema, ...errorResponses } }
  }, async (request) => {
    const account = await findMattermostAccountByMmUserId(db, request.params.mmUserId)
    return { userId: account?.userId ?? null }
  })

  app.get('/token-health', {
    preHandler: app.requireUser,
    schema: { tags: ['mattermost'], response: { 200: TokenHealthResponseSchema, ...errorResponses } }
  }, async (request) => {
    const userId = currentUser(request).id
    const cached = config.TOKEN_HEALTH_CACHE_SECONDS > 0 ? await redis.get(healthKey(userId)).catch(() => null) : null
    if (cached) return JSON.parse(cached) as TokenHealth
    const account = await findMattermostAccount(db, userId)
    if (!account?.tokenEnc) return { valid: false, reason: 'no_token' as const }
    let health: TokenHealth = { valid: false, reason: 'check_failed' }
    try {
      for (let i = 0; i < 2; i++) {
        const outcome = await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'token-health', { v: 1, userId },
          mattermostJobId.tokenHealth(userId), Math.min(config.SESSION_WAIT_TIMEOUT_MS, 10_000))
        if (outcome.state === 'completed') { health = outcome.value as TokenHealth; break }
      }
    } catch (err) {
      request.log.warn({ reason: (err as Error).message }, 'token health check did not complete')
      return health // check_failed, not cached: the next poll tries again
    }
    // The worker marked the token revoked: the next session must not wait for Postgres's notification to see it.
    if (health.valid === false && health.reason === 'revoked') app.sessionStates.invalidate()
    // A failed check is not cached: the next poll asks again.
    if (config.TOKEN_HEALTH_CACHE_SECONDS > 0 && !(health.valid === false && health.reason === 'check_failed')) await redis.set(healthKey(userId), JSON.stringify(health), 'EX', config.TOKEN_HEALTH_CACHE_SECONDS).catch(() => {})
    return health
  })

  // --- project channels ---

  app.post('/channels', {
    preHandler: authenticated,
    schema: { tags: ['mattermost'], body: CreateChannelSchema, response: { 201: ChannelSchema, 404: ErrorSchema, 409: ErrorSchema, ...fiveXX, ...errorResponses } }
  }, async (request, reply) => {
    const { organizationId, name, displayName, type } = request.body
    const problem = channelNameProblem(name)
    await requireOrgManager(request, reply, organizationId)
    if (!await findOrganization(db, organizationId)) throw new NotFound(`No organisation with id ${organizationId}`)
    if (problem) throw new BadRequest(`body/name ${problem} (Mattermost channel name rules)`)
    sessions.requireConfigured()
    let row = await insertMattermostChannel(db, { orgId: organizationId, name, displayName, type })
    if (!row) {
      const existing = (await findMattermostChannelByName(db, organizationId, name))!
      if (existing.status !== 'pending') throw new Conflict(`Organisation ${organizationId} already has a channel named "${name}" (${existing.id}, ${existing.status})`)
      row = existing // an earlier attempt did not finish: finish it
    }
    try {
      await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'create-channel', { v: 1, channelId: row.id }, mattermostJobId.createChannel(row.id), config.SESSION_WAIT_TIMEOUT_MS)
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 400) await deletePendingChannel(db, row.id)
      throw err
    }
    return reply.code(201).send(channelView((await findMattermostChannel(db, row.id))!))
  })

  app.delete('/channels/:id', {
    preHandler: authenticated,
    schema: { tags: ['mattermost'], params: ChannelParamsSchema, response: { 200: ChannelSchema, 404: ErrorSchema, ...fiveXX, ...errorResponses } }
  }, async (request, reply) => {
    const row = await findMattermostChannel(db, request.params.id)
    if (!row) throw new NotFound(`No channel with id ${request.params.id}`)
    await requireOrgManager(request, reply, row.orgId)
    if (row.status !== 'archived') {
      sessions.requireConfigured()
      await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'archive-channel', { v: 1, channelId: row.id }, mattermostJobId.archiveChannel(row.id), config.SESSION_WAIT_TIMEOUT_MS)
    }
    return channelView((await findMattermostChannel(db, row.id))!)
  })

  app.post('/channels/:id/members', {
    preHandler: authenticated,
    schema: { tags: ['mattermost'], params: ChannelParamsSchema, body: AddChannelMemberSchema, response: { 200: ChannelMemberSchema, 404: ErrorSchema, 409: ErrorSchema, ...fiveXX, ...errorResponses } }
  }, async (request, reply) => {
    const { userId } = request.body
    const row = await findMattermostChannel(db, request.params.id)
    if (!row) throw new NotFound(`No channel with id ${request.params.id}`)
    await requireOrgManager(request, reply, row.orgId, userId)
    if (!await findUserById(db, userId)) throw new NotFound(`No user with id ${userId}`)
    if (row.status === 'archived') throw new Conflict(`Channel "${row.name}" is archived`)
    if (!await findOrgMember(db, row.orgId, userId)) throw new Forbidden(`User ${userId} is not a member of organisation ${row.orgId}`)
    sessions.requireConfigured()
    const outcome = await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'add-channel-member', { v: 1, channelId: row.id, userId },
      mattermostJobId.addChannelMember(row.id, userId), config.SESSION_WAIT_TIMEOUT_MS)
    const channel = (await findMattermostChannel(db, row.id))!
    const account = await findMattermostAccount(db, userId)
    if (outcome.state !== 'completed' && !account) throw new Conflict('The member was not added; retry the request')
    return { channelId: row.id, userId, mattermostChannelId: channel.mmChannelId!, mmUserId: account!.mmUserId }
  })
}
export default routes
