import { pgEnum, pgTable, primaryKey, text, uniqueIndex, uuid, index } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'
import { timestamps } from './columns.js'
import { users } from './users.js'

/**
 * Organisations of the product (DESIGN.md "Identity and access"): each maps to one Mattermost
 * team (`mattermost_teams`). `slug` is the product's handle; the team name is derived from it.
 */
export const organizations = pgTable('organizations', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  slug: text('slug').notNull(),
  ...timestamps
}, (t) => [uniqueIndex('organizations_slug_key').on(sql`lower(${t.slug})`)])

export type Organization = typeof organizations.$inferSelect
export type NewOrganization = typeof organizations.$inferInsert

export const orgRole = pgEnum('org_role', ['member', 'admin'])

/** Who belongs to which organisation; org `admin`s may manage their own org's members. */
export const orgMembers = pgTable('org_members', {
  orgId: uuid('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: orgRole('role').notNull().default('member'),
  ...timestamps
}, (t) => [
  primaryKey({ columns: [t.orgId, t.userId], name: 'org_members_pkey' }),
  index('org_members_user_idx').on(t.userId)
])

export type OrgMember = typeof orgMembers.$inferSelect
