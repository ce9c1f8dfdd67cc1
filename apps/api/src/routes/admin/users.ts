/**
 * User administration (seeds/secure-chat-server-plugin-api.md, "Admin APIs"; Mattermost's
 * system console users list): `GET /api/admin/users`, `GET /api/admin/stats`,
 * `POST /api/admin/users`, `PATCH /api/admin/users/:id`, `POST /api/admin/users/:id/reset-password`,
 * `DELETE /api/admin/users/:id`.
 *
 * Powers:
 * - admin: everything below.
 * - moderator: list users, read stats, and disable or re-enable accounts whose role is `user`
 *   (`PATCH` with only `status`). Creating users, changing roles or the manager flag, resetting
 *   passwords and deleting are admin-only, as is touching a moderator's or admin's account.
 * - Nobody can delete, disable or demote the last active admin (409), checked under a lock so two
 *   concurrent requests cannot each remove "another" admin.
 * Disabling, deleting or resetting a password bumps the user's session version — every JWT of that
 * user stops working at once — and closes its WebSockets on every replica (close code 4401).
 * Deleting is a soft delete: the row stays (messages keep their sender, the username stays taken).
 */
import { randomBytes } from 'node:crypto'
import { hashPassword } from '../../auth/passwords.js'
import { Type } from 'typebox'
import { and, asc, eq, isNull, ne, sql, type SQL } from 'drizzle-orm'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { countConversations, countMessages, findUserByUsername, users, type Executor, type NewUser, type User } from '@parley/db'
import { Conflict, Forbidden, NotFound } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, PageQuerySchema, PresenceSchema, UuidParamSchema, errorResponses } from '../../schemas/common.js'

const RoleSchema = Type.Union([Type.Literal('user'), Type.Literal('moderator'), Type.Literal('admin')])
const StatusSchema = Type.Union([Type.Literal('active'), Type.Literal('disabled')])
const LAST_ADMIN_LOCK = 7_263_155_101

const AdminUserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  displayName: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: RoleSchema,
  manager: Type.Boolean(),
  status: StatusSchema,
  presenceStatus: PresenceSchema,
  hasPassword: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})
const adminUser = (u: User) => ({
  id: u.id, username: u.username, displayName: u.displayName, email: u.email, role: u.role, manager: u.manager,
  status: u.status, presenceStatus: u.presenceStatus, hasPassword: u.passwordHash !== null,
  createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString()
})

/** Locks out concurrent last-admin checks for the rest of transaction `tx`, then counts other active admins. */
async function otherActiveAdmins (tx: Executor, exceptId: string): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(${LAST_ADMIN_LOCK})`)
  const [row] = await tx.select({ n: sql<number>`count(*)::int` }).from(users)
    .where(and(eq(users.role, 'admin'), eq(users.status, 'active'), isNull(users.deletedAt), ne(users.id, exceptId)))
  return row.n
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  const adminOrModerator = app.requireRole('admin', 'moderator')
  const adminOnly = app.requireRole('admin')

  async function target (id: string): Promise<User> {
    const [u] = await db.select().from(users).where(and(eq(users.id, id), isNull(users.deletedAt))).limit(1)
    if (!u) throw new NotFound(`No user ${id}`)
    return u
  }

  app.get('/users', {
    preHandler: adminOrModerator,
    schema: {
      tags: ['admin'],
      querystring: Type.Object({
        ...PageQuerySchema.properties,
        q: Type.Optional(Type.String({ maxLength: 100 })),
        role: Type.Optional(RoleSchema),
        status: Type.Optional(StatusSchema)
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(AdminUserSchema), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...errorResponses }
    }
  }, async (request) => {
    const { limit, offset, q, role, status } = request.query
    const pattern = q ? `%${q.trim().replace(/[\\%_]/g, c => `\\${c}`)}%` : undefined
    const where = and(isNull(users.deletedAt), role ? eq(users.role, role) : undefined, status ? eq(users.status, status) : undefined,
      pattern ? sql`(${users.username} ilike ${pattern} or ${users.displayName} ilike ${pattern} or ${users.email} ilike ${pattern})` : undefined)
    const [rows, [{ total }]] = await Promise.all([
      db.select().from(users).where(where).orderBy(asc(sql`lower(${users.username})`)).limit(limit).offset(offset),
      db.select({ total: sql<number>`count(*)::int` }).from(users).where(where)
    ])
    return { items: rows.map(adminUser), total, limit, offset }
  })

  app.get('/stats', {
    preHandler: adminOrModerator,
    schema: {
      tags: ['admin'],
      response: {
        200: Type.Object({
          users: Type.Object({ total: Type.Integer(), active: Type.Integer(), disabled: Type.Integer(), admins: Type.Integer(), moderators: Type.Integer(), managers: Type.Integer(), online: Type.Integer({ description: 'Users whose presence is not offline' }) }),
          conversations: Type.Object({ total: Type.Integer(), direct: Type.Integer(), rooms: Type.Integer() }),
          messages: Type.Object({ total: Type.Integer(), last24h: Type.Integer() }),
          sockets: Type.Object({ thisReplica: Type.Integer() })
        }),
        ...errorResponses
      }
    }
  }, async () => {
    const [[u], conversations, messages] = await Promise.all([
      db.select({
        total: sql<number>`count(*)::int`,
        active: sql<number>`count(*) filter (where ${users.status} = 'active')::int`,
        disabled: sql<number>`count(*) filter (where ${users.status} = 'disabled')::int`,
        admins: sql<number>`count(*) filter (where ${users.role} = 'admin')::int`,
        moderators: sql<number>`count(*) filter (where ${users.role} = 'moderator')::int`,
        managers: sql<number>`count(*) filter (where ${users.manager})::int`,
        online: sql<number>`count(*) filter (where ${users.presenceStatus} <> 'offline' and ${users.status} = 'active')::int`
      }).from(users).where(isNull(users.deletedAt)),
      countConversations(db),
      countMessages(db)
    ])
    return { users: u, conversations, messages, sockets: { thisReplica: app.presence.localSockets() } }
  })

  app.post('/users', {
    preHandler: adminOnly,
    schema: {
      tags: ['admin'],
      body: Type.Object({
        username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
        displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
        password: Type.String({ minLength: 8, maxLength: 256 }),
        role: Type.Optional(RoleSchema),
        manager: Type.Optional(Type.Boolean()),
        email: Type.Optional(Type.String({ format: 'email', maxLength: 254 }))
      }, { additionalProperties: false }),
      response: { 201: AdminUserSchema, 409: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const b = request.body
    if (await findUserByUsername(db, b.username)) throw new Conflict(`Username ${b.username} is taken`)
    const passwordHash = await hashPassword(b.password)
    const rows = await db.insert(users).values({
      username: b.username, displayName: b.displayName?.trim() || b.username, passwordHash,
      role: b.role ?? 'user', manager: b.manager ?? false, email: b.email ?? null
    }).onConflictDoNothing().returning()
    if (!rows[0]) throw new Conflict(`Username ${b.username} is taken`)
    return reply.code(201).send(adminUser(rows[0]))
  })

  app.patch('/users/:id', {
    preHandler: adminOrModerator,
    schema: {
      tags: ['admin'],
      params: UuidParamSchema,
      body: Type.Object({
        role: Type.Optional(RoleSchema),
        status: Type.Optional(StatusSchema),
        manager: Type.Optional(Type.Boolean())
      }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: AdminUserSchema, 404: ErrorSchema, 409: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const actor = currentUser(request)
    const b = request.body
    const before = await target(request.params.id)
    if (actor.role === 'moderator') {
      if (b.role !== undefined || b.manager !== undefined) throw new Forbidden('Moderators may only change status; role and manager need an admin')
      if (before.role !== 'user') throw new Forbidden('Moderators may only disable or enable accounts with role user')
    }
    const signsOut = b.status === 'disabled' && before.status !== 'disabled'
    const updated = await db.transaction(async (tx) => {
      const losesAdmin = before.role === 'admin' && ((b.role !== undefined && b.role !== 'admin') || b.status === 'disabled')
      if (losesAdmin && await otherActiveAdmins(tx, before.id) === 0) throw new Conflict('This is the last active admin; make another admin first')
      const set: { [K in keyof NewUser]?: NewUser[K] | SQL } = {}
      if (b.role !== undefined) set.role = b.role
      if (b.status !== undefined) set.status = b.status
      if (b.manager !== undefined) {
        set.manager = b.manager
        if (!b.manager) set.managerTokenEnc = null // the token is only a manager's
      }
      if (signsOut) set.sessionVersion = sql`${users.sessionVersion} + 1`
      const [row] = await tx.update(users).set(set).where(eq(users.id, before.id)).returning()
      return row
    })
    if (signsOut) {
      app.sessionStates.invalidate()
      await app.events.signOut([updated.id], 'Account disabled')
      await app.presence.refresh(updated.id)
    }
    request.log.info({ actor: actor.id, target: updated.id, changes: Object.keys(b) }, 'admin changed user')
    return adminUser(updated)
  })

  app.post('/users/:id/reset-password', {
    preHandler: adminOnly,
    // The seed's call has no body; an absent body means "generate one".
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      tags: ['admin'],
      description: 'Sets a new password (the one given, or a generated one answered once) and signs the user out everywhere.',
      params: UuidParamSchema,
      body: Type.Object({ newPassword: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ id: Type.String(), temporaryPassword: Type.Optional(Type.String({ description: 'Only when generated; shown once' })) }), 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const u = await target(request.params.id)
    const given = request.body.newPassword
    const password = given ?? randomBytes(12).toString('base64url')
    const passwordHash = await hashPassword(password)
    await db.update(users).set({ passwordHash, sessionVersion: sql`${users.sessionVersion} + 1` }).where(eq(users.id, u.id))
    app.sessionStates.invalidate()
    await app.events.signOut([u.id], 'Password reset')
    return given ? { id: u.id } : { id: u.id, temporaryPassword: password }
  })

  app.delete('/users/:id', {
    preHandler: adminOnly,
    schema: { tags: ['admin'], params: UuidParamSchema, response: { 204: Type.Null(), 404: ErrorSchema, 409: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const u = await target(request.params.id)
    await db.transaction(async (tx) => {
      if (u.role === 'admin' && u.status === 'active' && await otherActiveAdmins(tx, u.id) === 0) throw new Conflict('This is the last active admin; make another admin first')
      await tx.update(users).set({ deletedAt: new Date(), status: 'disabled', managerTokenEnc: null, sessionVersion: sql`${users.sessionVersion} + 1` })
        .where(eq(users.id, u.id))
    })
    app.sessionStates.invalidate()
    await app.events.signOut([u.id], 'Account deleted')
    await app.presence.refresh(u.id)
    return reply.code(204).send(null)
  })
}
export default routes
