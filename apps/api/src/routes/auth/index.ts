/**
 * `POST /api/auth/login` and `GET /api/auth/me` (seeds/secure-chat-server-plugin-api.md,
 * "Authentication"). Login answers the JWT in the body and sets it as an httpOnly, SameSite=Lax
 * cookie; it is rate-limited per client address and username.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { and, eq } from 'drizzle-orm'
import { findUserByUsername, users } from '@parley/db'
import { hashPassword, passwordNeedsRehash, verifyPassword } from '../../auth/passwords.js'
import { Unauthorized } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, PublicUserSchema, publicUser } from '../../schemas/common.js'

/** A hash to verify against when the user does not exist, so timing does not reveal usernames. */
let dummyHash: Promise<string> | undefined

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app
  dummyHash ??= hashPassword('not-a-real-password')

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
    const ok = await verifyPassword(hash, password)
    if (!user || !user.passwordHash || !ok || user.status !== 'active') throw new Unauthorized('Invalid username or password')
    if (passwordNeedsRehash(user.passwordHash)) {
      // Made with older parameters: upgraded now that the password is known (sessions stay valid).
      const upgraded = await hashPassword(password)
      await db.update(users).set({ passwordHash: upgraded }).where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash)))
    }
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
