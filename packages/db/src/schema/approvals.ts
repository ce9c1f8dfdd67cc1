import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { conversations } from './conversations.js'
import { messages } from './messages.js'
import { users } from './users.js'
import { decisionStatus } from './room-join-requests.js'

/**
 * Approval requests from a user (typically a bot) to a manager (seeds/secure-chat-server-plugin-api.md,
 * "Approvals + Manager Tokens"). `conversationId` is where the requester asked, and where the token
 * message goes on approval; without it the token goes to the manager↔requester direct conversation.
 * Audit: `decidedBy`/`decidedAt` say who decided and when; `tokenConversationId`/`tokenMessageId`
 * record where the token was posted. The token itself is never stored here.
 */
export const approvals = pgTable('approvals', {
  id: uuid('id').primaryKey().defaultRandom(),
  requesterId: uuid('requester_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  targetId: uuid('target_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  note: text('note').notNull().default(''),
  conversationId: uuid('conversation_id').references(() => conversations.id, { onDelete: 'set null' }),
  status: decisionStatus('status').notNull().default('pending'),
  decidedBy: uuid('decided_by').references(() => users.id, { onDelete: 'set null' }),
  decidedAt: timestamp('decided_at', { withTimezone: true }),
  tokenConversationId: uuid('token_conversation_id').references(() => conversations.id, { onDelete: 'set null' }),
  tokenMessageId: uuid('token_message_id').references(() => messages.id, { onDelete: 'set null' }),
  ...timestamps
}, (t) => [
  index('approvals_target_created_idx').on(t.targetId, t.createdAt),
  index('approvals_requester_created_idx').on(t.requesterId, t.createdAt)
])

export type Approval = typeof approvals.$inferSelect
