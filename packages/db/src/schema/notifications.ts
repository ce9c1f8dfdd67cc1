import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'

export const notificationAction = pgEnum('notification_action', ['BORROW', 'RETURN', 'RENEWAL'])
export const notificationStatus = pgEnum('notification_status', ['queued', 'delivered', 'failed'])
export const notificationDelivery = pgEnum('notification_delivery', ['dm', 'channel'])
export const notificationSource = pgEnum('notification_source', ['http', 'queue'])

/**
 * One row per accepted notification (seeds/devicehub-notification-system.md). The seed kept this
 * in memory; here it is the ledger that makes delivery exactly-once in effect.
 * `payload` is the request body as sent (device, dates), without the fields stored in columns.
 */
export const notifications = pgTable('notifications', {
  id: uuid('id').primaryKey().defaultRandom(),
  idempotencyKey: text('idempotency_key').notNull(),
  action: notificationAction('action').notNull(),
  requestId: text('request_id').notNull(),
  userId: text('user_id').notNull(),
  mattermostUsername: text('mattermost_username').notNull(),
  payload: jsonb('payload').notNull(),
  source: notificationSource('source').notNull().default('http'),
  status: notificationStatus('status').notNull().default('queued'),
  delivery: notificationDelivery('delivery'),
  mattermostPostId: text('mattermost_post_id'),
  mattermostChannelId: text('mattermost_channel_id'),
  attempts: integer('attempts').notNull().default(0),
  lastError: text('last_error'),
  lastErrorId: text('last_error_id'),
  lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true }),
  deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  ...timestamps
}, (t) => [
  index('notifications_status_created_idx').on(t.status, t.createdAt),
  index('notifications_key_idx').on(t.idempotencyKey)
])

/**
 * The idempotency ledger: `notification:{action}:{requestId}:{userId}` → the notification it
 * admitted, until `expiresAt` (the duplicate window). An expired row is reclaimed by the next
 * send of the same key and swept by the ledger clean-up job scheduler.
 */
export const notificationKeys = pgTable('notification_keys', {
  key: text('key').primaryKey(),
  notificationId: uuid('notification_id').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
}, (t) => [index('notification_keys_expires_idx').on(t.expiresAt)])

export type Notification = typeof notifications.$inferSelect
export type NotificationKey = typeof notificationKeys.$inferSelect
