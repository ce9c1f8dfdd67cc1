/**
 * `/api/mattermost/magic-link` and `/api/mattermost/redirect` (seeds/personal-token-implementation.md,
 * "API Endpoints": both use the signed-in user's own personal access token).
 *
 * The link opens the user's team: the organisation given by `?organizationId`, else the user's
 * first organisation with a team, else the server root for a user in no organisation. The user's
 * account, token, team and membership are provisioned first when missing (as for the session).
 * `redirect` answers 302 to the link and, with `MATTERMOST_COOKIE_DOMAIN`, sets Mattermost's
 * session cookies `MMAUTHTOKEN` (httpOnly) and `MMUSERID` for that domain so the user lands signed in.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { findOrgMember, firstOrgOfUser } from '@parley/db'
import { Forbidden, errorHandler } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, errorResponses } from '../../schemas/common.js'
import { ServerMisconfigured, sendMisconfigured } from './jobs.js'
import { MagicLinkQuerySchema, MagicLinkSchema } from './schemas.js'
import { createSessionService } from './session.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app
  const sessions = createSessionService(app)
  app.setErrorHandler((err, request, reply) => err instanceof ServerMisconfigured ? sendMisconfigured(reply, err) : errorHandler(err as never, request, reply))

  async function link (request: FastifyRequest, organizationId: string | undefined) {
    const user = currentUser(request)
    const { baseUrl } = sessions.requireConfigured()
    let orgId = organizationId
    if (orgId && !await findOrgMember(db, orgId, user.id)) throw new Forbidden(`You are not a member of organisation ${orgId}`)
    orgId ??= await firstOrgOfUser(db, user.id)
    if (!orgId) {
      const { token, mmUserId } = await sessions.accountFor(user.id)
      return { url: baseUrl, token, mmUserId }
    }
    const s = await sessions.sessionFor(user, orgId)
    return { url: `${baseUrl}/${encodeURIComponent(s.teamName)}`, token: s.token, mmUserId: s.mmUserId }
  }

  const responses = { 404: ErrorSchema, 409: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema, ...errorResponses }

  app.get('/magic-link', {
    preHandler: app.requireUser,
    schema: { tags: ['mattermost'], querystring: MagicLinkQuerySchema, response: { 200: MagicLinkSchema, ...responses } }
  }, async (request, reply) => {
    const { url, token } = await link(request, request.query.organizationId)
    return reply.header('cache-control', 'no-store').send({ url, token })
  })

  app.get('/redirect', {
    preHandler: app.requireUser,
    schema: { tags: ['mattermost'], querystring: MagicLinkQuerySchema, response: { 302: { type: 'null' }, ...responses } }
  }, async (request, reply) => {
    const { url, token, mmUserId } = await link(request, request.query.organizationId)
    if (config.MATTERMOST_COOKIE_DOMAIN) {
      const common = { domain: config.MATTERMOST_COOKIE_DOMAIN, path: '/', sameSite: 'lax' as const, secure: config.COOKIE_SECURE, maxAge: 30 * 24 * 3600 }
      reply.setCookie('MMAUTHTOKEN', token, { ...common, httpOnly: true })
      reply.setCookie('MMUSERID', mmUserId, { ...common, httpOnly: false })
    }
    return reply.header('cache-control', 'no-store').redirect(url, 302)
  })
}
export default routes
