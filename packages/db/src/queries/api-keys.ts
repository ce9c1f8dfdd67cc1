/**
 * API key queries. Keys are looked up by the SHA-256 of the presented key.
 */
import { and, desc, eq, isNull, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { apiKeys, type ApiKey } from '../schema/api-keys.js'

export const insertApiKey = async (db: Executor, row: { name: string, scopes: string[], keyHash: string, keyPrefix: string, createdBy: string | null }): Promise<ApiKey> =>
  (await db.insert(apiKeys).values(row).returning())[0]

/** The active (not revoked) key with this hash, or undefined. */
export const findActiveApiKeyByHash = async (db: Executor, keyHash: string): Promise<Pick<ApiKey, 'id' | 'name' | 'scopes'> | undefined> =>
  (await db.select({ id: apiKeys.id, name: apiKeys.name, scopes: apiKeys.scopes }).from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt))).limit(1))[0]

export const listApiKeys = (db: Executor) =>
  db.select().from(apiKeys).where(isNull(apiKeys.revokedAt)).orderBy(desc(apiKeys.createdAt))

/** Revokes a key. @returns false when no active key has this id. */
export async function revokeApiKey (db: Executor, id: string): Promise<boolean> {
  const rows = await db.update(apiKeys).set({ revokedAt: sql`now()` }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id })
  return rows.length === 1
}
