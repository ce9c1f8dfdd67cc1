import { pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'
import { organizations } from './organizations.js'
import { users } from './users.js'

/**
 * Organisation ↔ Mattermost team (seeds/equa-mattermost-endpoints.md, "team-mapping"). One team
 * per organisation; `teamName` is the Mattermost team name actually used (derived from the slug,
 * suffixed when taken by a team that is not ours).
 */
export const mattermostTeams = pgTable('mattermost_teams', {
  orgId: uuid('org_id').primaryKey().references(() => organizations.id, { onDelete: 'cascade' }),
  mmTeamId: text('mm_team_id').notNull(),
  teamName: text('team_name').notNull(),
  ...timestamps
}, (t) => [
  uniqueIndex('mattermost_teams_mm_team_id_key').on(t.mmTeamId),
  uniqueIndex('mattermost_teams_team_name_key').on(t.teamName)
])

export type MattermostTeam = typeof mattermostTeams.$inferSelect

/**
 * Team memberships known to exist in Mattermost, so a warm session request answers from Postgres
 * without asking Mattermost. Written after `POST /teams/{team_id}/members` succeeded.
 */
export const mattermostTeamMembers = pgTable('mattermost_team_members', {
  orgId: uuid('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  mmTeamId: text('mm_team_id').notNull(),
  mmUserId: text('mm_user_id').notNull(),
  ...timestamps
}, (t) => [primaryKey({ columns: [t.orgId, t.userId], name: 'mattermost_team_members_pkey' })])

export type MattermostTeamMember = typeof mattermostTeamMembers.$inferSelect
