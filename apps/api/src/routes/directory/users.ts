/**
 * Users for product backends (issue 3 "Directory"), all with an API key holding `directory:write`:
 * - `PUT /users/:externalId` creates or updates the user the product knows by its own id and,
 *   like the seed's UserObserver (seeds/personal-token-implementation.md "User Creation/Sync"),
 *   enqueues a `sync-user` job: create/update the Mattermost user, make sure it has a token.
 * - `POST /users/:externalId/sessions` signs that user in: a session JWT the backend hands to its
 *   frontend (the seeds' "Cookie (Equa session)" for users who never type a Parley password).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { findUserByExternalId, isUniqueViolation, upsertDirectoryUser } from '@parley/db'
import { mattermostJobId } from '@parley/queue'
import { Conflict, Forbidden, NotFound } from '../../errors.js'
import { ErrorSchema, errorResponses } from '../../schemas/common.js'
import { DirectoryUserSchema, ExternalIdParamsSchema, PutDirectoryUserSchema, SessionSchema } from './schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, queues, config } = app
  app.addHook('preHandler', app.requireScope('directory:write'))

  app.put('/users/:externalId', {
    schema: { tags: ['directory'], params: ExternalIdParamsSchema, body: PutDirectoryUserSchema, response: { 200: DirectoryUserSchema, 201: DirectoryUserSchema, 409: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const { externalId } = request.params
    const { username, displayName, email } = request.body
    let result
    try {
      result = await upsertDirectoryUser(db, externalId, { username, displayName, email: email?.toLowerCase() ?? null })
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`Username "${username}" is taken by another user`)
      throw err
    }
    const { user, created, changed } = result
    if (changed && config.MATTERMOST_URL && queues.mattermost) {
      try {
        await queues.mattermost.add('sync-user', { v: 1, userId: user.id }, { jobId: mattermostJobId.syncUser(user.id, user.updatedAt.getTime()) })
      } catch (err) {
        // The user is saved; the next session request or `mattermost:sync-users --missing` provisions it.
        request.log.warn({ err, userId: user.id }, 'could not enqueue sync-user')
      }
    }
    return reply.code(created ? 201 : 200).send({ id: user.id, externalId, username: user.username, displayName: user.displayName, email: user.email })
  })

  app.post('/users/:externalId/sessions', {
    schema: { tags: ['directory'], params: ExternalIdParamsSchema, response: { 201: SessionSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const user = await findUserByExternalId(db, request.params.externalId)
    if (!user || user.deletedAt) throw new NotFound(`No user with external id ${request.params.externalId}`)
    if (user.status !== 'active') throw new Forbidden(`User ${request.params.externalId} is disabled`)
    const { token, expiresAt } = app.signSession(user)
    return reply.code(201).send({ token, expiresAt: expiresAt.toISOString() })
  })
}
export default routes
