/**
 * Directory and own profile (seeds/secure-chat-server-plugin-api.md, "User + Directory APIs"):
 * `GET /api/users?q=`, `GET|PUT /api/users/me/profile`, `POST /api/users/me/password`.
 *
 * The manager token is a secret: stored encrypted with `app.tokenCipher`, returned only to a
 * manager reading its own profile, never logged (`*.managerToken` is redacted).
 */
import { hashPassword, verifyPassword } from '../../auth/passwords.js'
import { Type } from 'typebox'
import { and, asc, eq, isNull, sql } from 'drizzle-orm'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { uploadExists, users, type User } from '@parley/db'
import { BadRequest, Forbidden, Unavailable } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, PresenceSchema, PublicUserSchema, errorResponses, publicUser } from '../../schemas/common.js'

/** A profile media path from `POST /api/uploads/images` (`/uploads/…`) or an https URL. */
const MediaUrl = Type.Union([
  Type.String({ maxLength: 500, pattern: '^(/uploads/[A-Za-z0-9._~/-]+|https://[^\\s"<>]+)$' }),
  Type.Literal(''), Type.Null()
], { description: '`/uploads/...` path or https URL; "" or null clears it' })

export const DirectoryUserSchema = Type.Object({
  ...PublicUserSchema.properties,
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  profilePhotoUrl: Type.Union([Type.String(), Type.Null()])
})
export const directoryUser = (u: User) => ({ ...publicUser(u), avatarUrl: u.avatarUrl, profilePhotoUrl: u.profilePhotoUrl })

export const ProfileSchema = Type.Object({
  ...DirectoryUserSchema.properties,
  email: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  profileTheme: Type.Union([Type.String(), Type.Null()]),
  bio: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  managerToken: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Managers only: the 32-character token, or null when unset' }))
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app

  function profile (u: User) {
    const view = {
      ...directoryUser(u), email: u.email, status: u.status, profileTheme: u.profileTheme, bio: u.bio,
      createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString()
    }
    if (!u.manager) return view
    let managerToken: string | null = null
    if (u.managerTokenEnc) {
      if (!app.tokenCipher) throw new Unavailable('Token encryption is not configured (TOKEN_ENCRYPTION_KEYS)')
      managerToken = app.tokenCipher.decrypt(u.managerTokenEnc)
    }
    return { ...view, managerToken }
  }

  app.get('/', {
    preHandler: app.requireUser,
    schema: {
      tags: ['users'],
      description: 'Searches active users by username or display name (case-insensitive substring); for DM bootstrap.',
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 100 })),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ users: Type.Array(DirectoryUserSchema) }), ...errorResponses }
    }
  }, async (request) => {
    const q = (request.query.q ?? '').trim()
    const pattern = `%${q.replace(/[\\%_]/g, c => `\\${c}`)}%`
    const rows = await db.select().from(users)
      .where(and(isNull(users.deletedAt), eq(users.status, 'active'),
        q ? sql`(${users.username} ilike ${pattern} or ${users.displayName} ilike ${pattern})` : undefined))
      .orderBy(asc(sql`lower(${users.username})`)).limit(request.query.limit)
    return { users: rows.map(directoryUser) }
  })

  app.get('/me/profile', {
    preHandler: app.requireUser,
    schema: { tags: ['users'], response: { 200: ProfileSchema, 503: ErrorSchema, ...errorResponses } }
  }, async (request) => profile(currentUser(request)))

  app.put('/me/profile', {
    preHandler: app.requireUser,
    schema: {
      tags: ['users'],
      description: 'Updates the caller\'s profile; only the fields sent change. `presenceStatus` away/dnd/offline stick until changed; online/idle return to automatic presence.',
      body: Type.Object({
        displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
        profileTheme: Type.Optional(Type.Union([Type.String({ maxLength: 50, pattern: '^[A-Za-z0-9_-]*$' }), Type.Null()])),
        profilePhotoUrl: Type.Optional(MediaUrl),
        avatarUrl: Type.Optional(MediaUrl),
        bio: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
        presenceStatus: Type.Optional(PresenceSchema),
        idleTimeoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 240 })),
        managerToken: Type.Optional(Type.Union([Type.Literal(''), Type.String({ minLength: 32, maxLength: 32 })], { description: 'Managers only: "" clears, else exactly 32 characters' }))
      }, { additionalProperties: false }),
      response: { 200: ProfileSchema, 503: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const me = currentUser(request)
    const b = request.body
    const set: Partial<User> = {}
    if (b.displayName !== undefined) {
      if (!b.displayName.trim()) throw new BadRequest('body/displayName must not be blank')
      set.displayName = b.displayName.trim()
    }
    if (b.profileTheme !== undefined) set.profileTheme = b.profileTheme || null
    // Issue 6 (routes/media): a profile photo or avatar must be an existing upload of that scope.
    for (const [field, scope] of [['profilePhotoUrl', 'photo'], ['avatarUrl', 'avatar']] as const) {
      const url = b[field]
      if (url && !await uploadExists(db, url, scope)) throw new BadRequest(`body/${field} must be a URL returned by POST /api/uploads/images?scope=${scope}`)
    }
    if (b.profilePhotoUrl !== undefined) set.profilePhotoUrl = b.profilePhotoUrl || null
    if (b.avatarUrl !== undefined) set.avatarUrl = b.avatarUrl || null
    if (b.bio !== undefined) set.bio = b.bio || null
    if (b.idleTimeoutMinutes !== undefined) set.idleTimeoutMinutes = b.idleTimeoutMinutes
    if (b.presenceStatus !== undefined) {
      set.presenceOverride = b.presenceStatus === 'online' || b.presenceStatus === 'idle' ? null : b.presenceStatus
    }
    if (b.managerToken !== undefined) {
      if (!me.manager) throw new Forbidden('Only managers have a manager token')
      if (b.managerToken === '') set.managerTokenEnc = null
      else if (!app.tokenCipher) throw new Unavailable('Token encryption is not configured (TOKEN_ENCRYPTION_KEYS)')
      else set.managerTokenEnc = app.tokenCipher.encrypt(b.managerToken)
    }
    if (Object.keys(set).length > 0) await db.update(users).set(set).where(eq(users.id, me.id))
    if (b.presenceStatus !== undefined || b.idleTimeoutMinutes !== undefined) {
      await app.presence.refresh(me.id, { activity: b.presenceStatus === 'idle' ? 'none' : b.presenceStatus === 'online' ? 'now' : undefined })
    }
    const [fresh] = await db.select().from(users).where(eq(users.id, me.id))
    return profile(fresh)
  })

  app.post('/me/password', {
    preHandler: app.requireUser,
    config: { rateLimit: { max: app.config.LOGIN_RATE_LIMIT_PER_MINUTE, timeWindow: 60_000, keyGenerator: (req) => `pw:${req.ip}` } },
    schema: {
      tags: ['users'],
      description: 'Changes the caller\'s password. Signs out every other session and socket; answers a fresh session token.',
      body: Type.Object({
        currentPassword: Type.String({ minLength: 1, maxLength: 256 }),
        newPassword: Type.String({ minLength: 8, maxLength: 256 })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), user: PublicUserSchema }), 429: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const me = currentUser(request)
    const { currentPassword, newPassword } = request.body
    if (!me.passwordHash) throw new BadRequest('This account signs in through a backend and has no password')
    if (!await verifyPassword(me.passwordHash, currentPassword)) throw new Forbidden('body/currentPassword is incorrect')
    if (newPassword === currentPassword) throw new BadRequest('body/newPassword must differ from the current password')
    const passwordHash = await hashPassword(newPassword)
    const [fresh] = await db.update(users).set({ passwordHash, sessionVersion: sql`${users.sessionVersion} + 1` })
      .where(eq(users.id, me.id)).returning()
    app.sessionStates.invalidate()
    await app.events.signOut([me.id], 'Password changed')
    const { token, expiresAt } = app.signSession(fresh)
    app.setSessionCookie(reply, token, expiresAt)
    return { token, user: publicUser(fresh) }
  })
}
export default routes
