import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { users } from './users.js'

/**
 * API keys for backends. The key is shown once; only its SHA-256 is kept (keys are 32 random
 * bytes, so a fast hash is enough and lets the lookup use an index).
 */
export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  scopes: text('scopes').array().notNull(),
  keyHash: text('key_hash').notNull().unique(),
  /** First characters of the key, to recognise it in lists without revealing it. */
  keyPrefix: text('key_prefix').notNull(),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  ...timestamps
})

export type ApiKey = typeof apiKeys.$inferSelect
