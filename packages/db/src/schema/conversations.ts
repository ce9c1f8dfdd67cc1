import { boolean, index, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { users } from './users.js'

export const conversationKind = pgEnum('conversation_kind', ['direct', 'room'])
export const memberRole = pgEnum('member_role', ['member', 'moderator'])

/**
 * Conversations of the chat server (seeds/secure-chat-server-plugin-api.md, "Conversations +
 * Messaging", "Rooms & Access Control"); a Mattermost channel in the field's terms. A `direct`
 * conversation is a direct channel between exactly two users; `dmKey` (the two user ids sorted and
 * joined by `:`) makes "create or fetch" race-free. A `room` has a title and an `isPublic` flag.
 */
export const conversations = pgTable('conversations', {
  id: uuid('id').primaryKey().defaultRandom(),
  kind: conversationKind('kind').notNull(),
  title: text('title'),
  isPublic: boolean('is_public').notNull().default(false),
  dmKey: text('dm_key').unique(),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  ...timestamps
})

/**
 * Who belongs to a conversation (a channel member). `role` `moderator` lets a room member manage
 * that room (issue 6); it is unrelated to the global user role.
 */
export const conversationMembers = pgTable('conversation_members', {
  conversationId: uuid('conversation_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: memberRole('role').notNull().default('member'),
  joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow()
}, (t) => [
  primaryKey({ columns: [t.conversationId, t.userId] }),
  index('conversation_members_user_idx').on(t.userId)
])

export type Conversation = typeof conversations.$inferSelect
export type NewConversation = typeof conversations.$inferInsert
export type ConversationMember = typeof conversationMembers.$inferSelect
