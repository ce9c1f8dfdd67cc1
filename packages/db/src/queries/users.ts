/**
 * User queries shared by the API's auth, admin and directory routes.
 */
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { users, type NewUser, type User } from '../schema/users.js'
import { preparedFor } from '../prepared.js'

export const findUserById = async (db: Executor, id: string): Promise<User | undefined> =>
  (await preparedFor(db, 'find_user_by_id', d => d.select().from(users)
    .where(and(eq(users.id, sql.placeholder('id')), isNull(users.deletedAt))).limit(1).prepare('find_user_by_id')).execute({ id }))[0]

/** Case-insensitive username look-up (usernames are unique regardless of case). */
export const findUserByUsername = async (db: Executor, username: string): Promise<User | undefined> =>
  (await db.select().from(users).where(and(sql`lower(${users.username}) = lower(${username})`, isNull(users.deletedAt))).limit(1))[0]

export const insertUser = async (db: Executor, row: NewUser): Promise<User> =>
  (await db.insert(users).values(row).returning())[0]

/**
 * Makes sure an active admin named `username` exists; creates it with `passwordHash` when missing.
 * An existing user keeps its password (start-up must not reset a changed password).
 * @returns the admin and whether it was created now.
 */
export async function ensureAdminUser (db: Executor, username: string, passwordHash: () => Promise<string>): Promise<{ user: User, created: boolean }> {
  const existing = await findUserByUsername(db, username)
  if (existing) {
    if (existing.role !== 'admin' || existing.status !== 'active') {
      const [user] = await db.update(users).set({ role: 'admin', status: 'active' }).where(eq(users.id, existing.id)).returning()
      return { user, created: false }
    }
    return { user: existing, created: false }
  }
  const rows = await db.insert(users).values({ username, displayName: username, role: 'admin', passwordHash: await passwordHash() })
    .onConflictDoNothing().returning()
  if (rows[0]) return { user: rows[0], created: true }
  return { user: (await findUserByUsername(db, username))!, created: false } // created concurrently by another replica
}
