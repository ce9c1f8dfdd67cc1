import { pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { users } from './users.js'

/**
 * A Parley user's Mattermost counterpart and personal access token
 * (seeds/personal-token-implementation.md, "Database Schema" — but encrypted, not plain text).
 *
 * `tokenEnc` is AES-256-GCM ciphertext from packages/db token-cipher, `tokenKeyId` the key it was
 * written with (so `tokens:reencrypt` can find rows on old keys). `tokenId` is Mattermost's id of
 * the token (for revocation); `tokenExpiresAt` is set when the server enforces a lifetime.
 * `tokenInvalidAt` is stamped when Mattermost answered 401 to the token: the next session request
 * issues a new one.
 */
export const mattermostAccounts = pgTable('mattermost_accounts', {
  userId: uuid('user_id').primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  mmUserId: text('mm_user_id').notNull(),
  mmUsername: text('mm_username').notNull(),
  /** Email the Mattermost user was created/updated with (lowercase). */
  mmEmail: text('mm_email').notNull(),
  tokenEnc: text('token_enc'),
  tokenKeyId: text('token_key_id'),
  tokenId: text('token_id'),
  tokenIssuedAt: timestamp('token_issued_at', { withTimezone: true }),
  tokenExpiresAt: timestamp('token_expires_at', { withTimezone: true }),
  tokenInvalidAt: timestamp('token_invalid_at', { withTimezone: true }),
  /** Last time the Mattermost profile was written from the Parley user (sync-user). */
  syncedAt: timestamp('synced_at', { withTimezone: true }),
  ...timestamps
}, (t) => [uniqueIndex('mattermost_accounts_mm_user_id_key').on(t.mmUserId)])

export type MattermostAccount = typeof mattermostAccounts.$inferSelect
