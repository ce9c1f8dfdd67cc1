/**
 * Schemas shared by several route groups.
 */
import { Type, type Static } from 'typebox'
import type { User } from '@parley/db'

export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  code: Type.String(),
  message: Type.String()
}, { $id: 'Error', description: 'Every 4xx/5xx answer' })

/** `?limit&offset` for admin and debugging lists. */
export const PageQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })
}, { additionalProperties: false })

export const UuidParamSchema = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const PresenceSchema = Type.Union([Type.Literal('online'), Type.Literal('idle'), Type.Literal('away'), Type.Literal('dnd'), Type.Literal('offline')])

/** The sanitized user of seeds/secure-chat-server-plugin-api.md ("POST /api/auth/login"). */
export const PublicUserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  displayName: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('moderator'), Type.Literal('admin')]),
  manager: Type.Boolean(),
  presenceStatus: PresenceSchema,
  idleTimeoutMinutes: Type.Integer()
})
export type PublicUser = Static<typeof PublicUserSchema>

/** Strips a user row down to what any signed-in user may see. */
export const publicUser = (u: User): PublicUser => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  role: u.role,
  manager: u.manager,
  presenceStatus: u.presenceStatus,
  idleTimeoutMinutes: u.idleTimeoutMinutes
})

export const errorResponses = {
  400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema
}
