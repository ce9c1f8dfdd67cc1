/**
 * Shared runtime status of the Mattermost side, written by the worker and read by the API
 * (`GET /api/notifications/status`), kept in one Redis hash under the queue prefix.
 */
import type { Redis } from 'ioredis'

export interface MattermostStatus {
  /** The worker checked the bot user and the notification channel. */
  initialized: boolean
  botUserId?: string
  botUsername?: string
  notificationChannelId?: string
  notificationTeamId?: string
  /** State of the DM-detection WebSocket: connecting|open|reconnecting|down|stopped. */
  websocketState?: string
  websocketLastEventAt?: string
  /** Worker instance that holds the listener lock. */
  listenerHolder?: string
  updatedAt?: string
  lastError?: string
}

export const statusKey = (prefix: string) => `${prefix}:parley:mattermost-status`
/** Redis key of the single-listener lock (one Mattermost WebSocket per deployment). */
export const listenerLockKey = (prefix: string) => `${prefix}:parley:mattermost-listener`

/** Merges `fields` into the status hash and stamps `updatedAt`. */
export async function writeStatus (redis: Redis, prefix: string, fields: Partial<MattermostStatus>): Promise<void> {
  const flat: Record<string, string> = { updatedAt: new Date().toISOString() }
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) flat[k] = String(v)
  await redis.hset(statusKey(prefix), flat)
}

/** Reads the status hash; an empty hash means the worker never initialised. */
export async function readStatus (redis: Redis, prefix: string): Promise<MattermostStatus> {
  const h = await redis.hgetall(statusKey(prefix))
  return { ...h, initialized: h.initialized === 'true' } as MattermostStatus
}
