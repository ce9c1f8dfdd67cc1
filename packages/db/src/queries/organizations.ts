/**
 * Directory queries: organisations, their members, and users pushed by a product backend
 * (DESIGN.md "Identity and access"; issue 3 "Directory").
 */
import { and, asc, count, eq, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { orgMembers, organizations, type Organization, type OrgMember } from '../schema/organizations.js'
import { users, type User } from '../schema/users.js'

/** Postgres unique-violation code; callers map it to 409. */
export const UNIQUE_VIOLATION = '23505'
export const isUniqueViolation = (err: unknown): boolean =>
  (err as { code?: string } | null)?.code === UNIQUE_VIOLATION ||
  (err as { cause?: { code?: string } } | null)?.cause?.code === UNIQUE_VIOLATION

/** Creates an organisation. @returns undefined when the slug (case-insensitive) is taken. */
export const insertOrganization = async (db: Executor, row: { name: string, slug: string }): Promise<Organization | undefined> =>
  (await db.insert(organizations).values(row).onConflictDoNothing().returning())[0]

export const findOrganization = async (db: Executor, id: string): Promise<Organization | undefined> =>
  (await db.select().from(organizations).where(eq(organizations.id, id)).limit(1))[0]

/**
 * Changes name and/or slug. @returns the row, or undefined for an unknown id.
 * @throws the driver's unique violation (see `isUniqueViolation`) when the new slug is taken.
 */
export const updateOrganization = async (db: Executor, id: string, patch: { name?: string, slug?: string }): Promise<Organization | undefined> =>
  (await db.update(organizations).set(patch).where(eq(organizations.id, id)).returning())[0]

export const findOrgMember = async (db: Executor, orgId: string, userId: string): Promise<OrgMember | undefined> =>
  (await db.select().from(orgMembers).where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId))).limit(1))[0]

/** Adds a member or changes its role. @returns the row and whether it was created now. */
export async function upsertOrgMember (db: Executor, orgId: string, userId: string, role: OrgMember['role']): Promise<{ member: OrgMember, created: boolean }> {
  const rows = await db.execute<{ org_id: string, user_id: string, role: OrgMember['role'], created_at: string, updated_at: string, created: boolean }>(sql`
    insert into org_members (org_id, user_id, role) values (${orgId}, ${userId}, ${role})
    on conflict (org_id, user_id) do update set role = excluded.role, updated_at = now()
    returning org_id, user_id, role, created_at, updated_at, (xmax = 0) as created`)
  const r = rows[0]
  return { member: { orgId: r.org_id, userId: r.user_id, role: r.role, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) }, created: r.created }
}

/** @returns false when the user was not a member. */
export async function removeOrgMember (db: Executor, orgId: string, userId: string): Promise<boolean> {
  const rows = await db.delete(orgMembers).where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId))).returning({ userId: orgMembers.userId })
  return rows.length === 1
}

export interface OrgMemberView { userId: string, username: string, displayName: string, role: OrgMember['role'], joinedAt: Date }

/** One page of an organisation's members, oldest first, and the total count. */
export async function listOrgMembers (db: Executor, orgId: string, { limit, offset }: { limit: number, offset: number }): Promise<{ items: OrgMemberView[], total: number }> {
  const [items, [{ total }]] = await Promise.all([
    db.select({ userId: orgMembers.userId, username: users.username, displayName: users.displayName, role: orgMembers.role, joinedAt: orgMembers.createdAt })
      .from(orgMembers).innerJoin(users, eq(users.id, orgMembers.userId))
      .where(eq(orgMembers.orgId, orgId)).orderBy(asc(orgMembers.createdAt), asc(orgMembers.userId)).limit(limit).offset(offset),
    db.select({ total: count() }).from(orgMembers).where(eq(orgMembers.orgId, orgId))
  ])
  return { items, total }
}

export const findUserByExternalId = async (db: Executor, externalId: string): Promise<User | undefined> =>
  (await db.select().from(users).where(eq(users.externalId, externalId)).limit(1))[0]

/**
 * Creates or updates the user a product backend knows as `externalId`. An update that changes
 * nothing does not touch the row. @returns the row, whether it was created, and whether anything changed.
 * @throws the driver's unique violation when `username` belongs to another user.
 */
export async function upsertDirectoryUser (db: Executor, externalId: string, fields: { username: string, displayName: string, email: string | null }): Promise<{ user: User, created: boolean, changed: boolean }> {
  const existing = await findUserByExternalId(db, externalId)
  if (!existing) {
    const inserted = (await db.insert(users).values({ externalId, ...fields }).onConflictDoNothing({ target: users.externalId }).returning())[0]
    if (inserted) return { user: inserted, created: true, changed: true }
    return upsertDirectoryUser(db, externalId, fields) // created concurrently: update that row
  }
  if (existing.username === fields.username && existing.displayName === fields.displayName && existing.email === fields.email) {
    return { user: existing, created: false, changed: false }
  }
  const [user] = await db.update(users).set(fields).where(eq(users.id, existing.id)).returning()
  return { user, created: false, changed: true }
}
