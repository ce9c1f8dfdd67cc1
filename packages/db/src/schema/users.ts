import { boolean, integer, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'
import { timestamps } from './columns.js'

export const userRole = pgEnum('user_role', ['user', 'moderator', 'admin'])
export const userStatus = pgEnum('user_status', ['active', 'disabled'])
export const presenceStatus = pgEnum('presence_status', ['online', 'idle', 'away', 'dnd', 'offline'])

/**
 * People and bots of Parley (seeds/secure-chat-server-plugin-api.md, "Authentication").
 * `passwordHash` is argon2id and null for users a backend signs in (directory users).
 * `sessionVersion` is part of every JWT: bumping it signs the user out everywhere.
 */
export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  username: text('username').notNull(),
  displayName: text('display_name').notNull(),
  email: text('email'),
  externalId: text('external_id'),
  role: userRole('role').notNull().default('user'),
  manager: boolean('manager').notNull().default(false),
  status: userStatus('status').notNull().default('active'),
  passwordHash: text('password_hash'),
  sessionVersion: integer('session_version').notNull().default(1),
  presenceStatus: presenceStatus('presence_status').notNull().default('offline'),
  idleTimeoutMinutes: integer('idle_timeout_minutes').notNull().default(5),
  /** Presence the user chose that sticks (`away`, `dnd`, `offline`); null = automatic online/idle/offline. */
  presenceOverride: presenceStatus('presence_override'),
  profileTheme: text('profile_theme'),
  profilePhotoUrl: text('profile_photo_url'),
  avatarUrl: text('avatar_url'),
  bio: text('bio'),
  /** AES-256-GCM ciphertext of the manager's 32-character token (packages/db crypto). */
  managerTokenEnc: text('manager_token_enc'),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
  ...timestamps
}, (t) => [
  uniqueIndex('users_username_key').on(sql`lower(${t.username})`),
  uniqueIndex('users_external_id_key').on(t.externalId)
])

export type User = typeof users.$inferSelect
export type NewUser = typeof users.$inferInsert
