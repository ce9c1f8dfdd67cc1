import { sql } from 'drizzle-orm'
import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { conversations } from './conversations.js'
import { users } from './users.js'

export const messageFormat = pgEnum('message_format', ['text', 'markdown'])

/**
 * Chat messages (a post in Mattermost's terms; seeds/secure-chat-server-plugin-api.md,
 * "POST /api/conversations/:id/messages"). `content` is 1–2000 characters; `clientId` is the
 * sender's own id for the send, so a retried send returns the first message instead of a copy
 * (like Mattermost's `pending_post_id`). Pages are read by the `(created_at, id)` keyset.
 */
export const messages = pgTable('messages', {
  id: uuid('id').primaryKey().defaultRandom(),
  conversationId: uuid('conversation_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
  senderId: uuid('sender_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  content: text('content').notNull(),
  format: messageFormat('format').notNull().default('text'),
  clientId: text('client_id'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
}, (t) => [
  uniqueIndex('messages_sender_client_id_key').on(t.senderId, t.clientId).where(sql`${t.clientId} is not null`),
  index('messages_conversation_created_idx').on(t.conversationId, t.createdAt, t.id)
])

export type Message = typeof messages.$inferSelect
export type NewMessage = typeof messages.$inferInsert
