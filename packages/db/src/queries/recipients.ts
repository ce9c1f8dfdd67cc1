/**
 * Notification recipients' Mattermost state (the seed's user-state.ts, kept in Postgres):
 * seeds/devicehub-notification-system.md, "User State Management".
 */
import { eq, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { mattermostRecipients, type MattermostRecipient } from '../schema/mattermost-recipients.js'

export const findRecipientByUsername = async (db: Executor, username: string): Promise<MattermostRecipient | undefined> =>
  (await db.select().from(mattermostRecipients).where(eq(mattermostRecipients.username, username)).limit(1))[0]

export const findRecipient = async (db: Executor, mmUserId: string): Promise<MattermostRecipient | undefined> =>
  (await db.select().from(mattermostRecipients).where(eq(mattermostRecipients.mmUserId, mmUserId)).limit(1))[0]

/**
 * Records the Mattermost user behind `username`. A username that moved to another Mattermost user
 * (renamed accounts) is taken over by the new id.
 */
export async function upsertRecipient (db: Executor, r: { mmUserId: string, username: string }): Promise<MattermostRecipient> {
  return db.transaction(async (tx) => {
    await tx.delete(mattermostRecipients).where(sql`${mattermostRecipients.username} = ${r.username} and ${mattermostRecipients.mmUserId} <> ${r.mmUserId}`)
    const [row] = await tx.insert(mattermostRecipients).values(r)
      .onConflictDoUpdate({ target: mattermostRecipients.mmUserId, set: { username: r.username } }).returning()
    return row
  })
}

/**
 * Marks a user DM-ready with its direct channel (the user wrote to the bot).
 * @returns the row and whether the welcome message is still owed.
 */
export async function markDmReady (db: Executor, r: { mmUserId: string, username: string, dmChannelId: string }): Promise<{ recipient: MattermostRecipient, welcomeOwed: boolean }> {
  await upsertRecipient(db, r)
  const [row] = await db.update(mattermostRecipients)
    .set({ dmReady: true, dmChannelId: r.dmChannelId, dmReadyAt: sql`coalesce(${mattermostRecipients.dmReadyAt}, now())` })
    .where(eq(mattermostRecipients.mmUserId, r.mmUserId)).returning()
  return { recipient: row, welcomeOwed: row.welcomeSentAt === null }
}

/** Caches the user's membership of `channelId` (null forgets it, e.g. after a removal). */
export async function setChannelMembership (db: Executor, mmUserId: string, channelId: string | null): Promise<void> {
  await db.update(mattermostRecipients).set({ memberOfChannelId: channelId }).where(eq(mattermostRecipients.mmUserId, mmUserId))
}

/** Stores a direct channel id without marking the user DM-ready (policy `always`). */
export async function setDmChannel (db: Executor, mmUserId: string, dmChannelId: string): Promise<void> {
  await db.update(mattermostRecipients).set({ dmChannelId }).where(eq(mattermostRecipients.mmUserId, mmUserId))
}

/** Records the welcome post; a second call keeps the first. */
export async function markWelcomeSent (db: Executor, mmUserId: string, postId: string): Promise<void> {
  await db.update(mattermostRecipients).set({ welcomeSentAt: sql`coalesce(${mattermostRecipients.welcomeSentAt}, now())`, welcomePostId: sql`coalesce(${mattermostRecipients.welcomePostId}, ${postId})` })
    .where(eq(mattermostRecipients.mmUserId, mmUserId))
}

/** Drops what is cached about a Mattermost user (it no longer exists there). */
export async function forgetRecipient (db: Executor, mmUserId: string): Promise<void> {
  await db.delete(mattermostRecipients).where(eq(mattermostRecipients.mmUserId, mmUserId))
}
