import { boolean, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'

/**
 * What the worker knows about a notification recipient in Mattermost (the seed's user-state.ts,
 * persisted): the user id behind a username, whether the user has written to the bot
 * (`dmReady`) and in which direct channel, and cached team/channel membership so a known user
 * costs one Mattermost call (the post) per notification.
 */
export const mattermostRecipients = pgTable('mattermost_recipients', {
  mmUserId: text('mm_user_id').primaryKey(),
  username: text('username').notNull(),
  dmReady: boolean('dm_ready').notNull().default(false),
  dmChannelId: text('dm_channel_id'),
  dmReadyAt: timestamp('dm_ready_at', { withTimezone: true }),
  /** Notification channel the user is known to be a member of (cache; cleared on removal). */
  memberOfChannelId: text('member_of_channel_id'),
  welcomePostId: text('welcome_post_id'),
  welcomeSentAt: timestamp('welcome_sent_at', { withTimezone: true }),
  ...timestamps
}, (t) => [uniqueIndex('mattermost_recipients_username_key').on(t.username)])

export type MattermostRecipient = typeof mattermostRecipients.$inferSelect
