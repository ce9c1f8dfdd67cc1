import { pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { organizations } from './organizations.js'

export const mattermostChannelType = pgEnum('mattermost_channel_type', ['O', 'P'])
export const mattermostChannelStatus = pgEnum('mattermost_channel_status', ['pending', 'active', 'archived'])

/**
 * Project channels in an organisation's team (seeds/personal-token-implementation.md,
 * `createChannelForProject` / `archiveChannelForProject`). The row is written first (`pending`)
 * and the worker creates the channel, so a failed attempt leaves a row a retry can finish.
 */
export const mattermostChannels = pgTable('mattermost_channels', {
  id: uuid('id').primaryKey().defaultRandom(),
  orgId: uuid('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  displayName: text('display_name').notNull(),
  type: mattermostChannelType('type').notNull(),
  status: mattermostChannelStatus('status').notNull().default('pending'),
  mmChannelId: text('mm_channel_id'),
  archivedAt: timestamp('archived_at', { withTimezone: true }),
  ...timestamps
}, (t) => [
  uniqueIndex('mattermost_channels_org_name_key').on(t.orgId, t.name),
  uniqueIndex('mattermost_channels_mm_channel_id_key').on(t.mmChannelId)
])

export type MattermostChannel = typeof mattermostChannels.$inferSelect
