import { sql } from 'drizzle-orm'
import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { conversations } from './conversations.js'
import { users } from './users.js'

export const decisionStatus = pgEnum('decision_status', ['pending', 'approved', 'denied'])

/**
 * Requests to join a private room (seeds/secure-chat-server-plugin-api.md, "Rooms & Access
 * Control", `POST /api/rooms/:id/request-access`); in Mattermost's terms, a request to be added to
 * a private channel. At most one `pending` request per room and requester (partial unique index),
 * so a second request while one is pending is refused by the database, not by a race-prone check.
 * `decidedBy`/`decidedAt` record which moderator decided and when.
 */
export const roomJoinRequests = pgTable('room_join_requests', {
  id: uuid('id').primaryKey().defaultRandom(),
  roomId: uuid('room_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
  requesterId: uuid('requester_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  note: text('note'),
  status: decisionStatus('status').notNull().default('pending'),
  decidedBy: uuid('decided_by').references(() => users.id, { onDelete: 'set null' }),
  decidedAt: timestamp('decided_at', { withTimezone: true }),
  ...timestamps
}, (t) => [
  uniqueIndex('room_join_requests_one_pending_key').on(t.roomId, t.requesterId).where(sql`${t.status} = 'pending'`),
  index('room_join_requests_room_status_idx').on(t.roomId, t.status, t.createdAt)
])

export type RoomJoinRequest = typeof roomJoinRequests.$inferSelect
