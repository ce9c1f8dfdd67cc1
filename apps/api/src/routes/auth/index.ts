/**
 * `POST /api/auth/login` and `GET /api/auth/me` (seeds/secure-chat-server-plugin-api.md,
 * "Authentication"). Login answers the JWT in the body and sets it as an httpOnly, SameSite=Lax
 * cookie; it is rate-limited per client address and username.
 */
import argon2 from 'argon2'
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { findUserByUsername } from '@parley/db'
import { Unauthorized } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, PublicUserSchema, publicUser } from '../../schemas/common.js'

/** A hash to verify against when the user does not exist, so timing does not reveal usernames. */
let dummyHash: Promise<string> | undefined

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app
  dummyHash ??= argon2.hash('not-a-real-password', { type: argon2.argon2id })

  app.post('/login', {
    config: { rateLimit: { max: config.LOGIN_RATE_LIMIT_PER_MINUTE, timeWindow: 60_000, keyGenerator: (req) => `${req.ip}:${String((req.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase().slice(0, 64)}` } },
    schema: {
      tags: ['auth'],
      body: Type.Object({
        username: Type.String({ minLength: 1, maxLength: 64 }),
        password: Type.String({ minLength: 1, maxLength: 256 })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), user: PublicUserSchema }), 400: ErrorSchema, 401: ErrorSchema, 429: ErrorSchema }
    }
  }, async (request, reply) => {
    const { username, password } = request.body
    const user = await findUserByUsername(db, username)
    const hash = user?.passwordHash ?? await dummyHash!
    const ok = await argon2.verify(hash, password).catch(() => false)
    if (!user || !user.passwordHash || !ok || user.status !== 'active') throw new Unauthorized('Invalid username or password')
    const { token, expiresAt } = app.signSession(user)
    app.setSessionCookie(reply, token, expiresAt)
    return { token, user: publicUser(user) }
  })

  app.get('/me', {
    preHandler: app.requireUser,
    schema: { tags: ['auth'], response: { 200: PublicUserSchema, 401: ErrorSchema, 403: ErrorSchema } }
  }, async (request) => publicUser(currentUser(request)))
}
export default routes
