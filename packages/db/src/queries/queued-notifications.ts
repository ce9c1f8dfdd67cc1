/**
 * Ledger writes for notifications that queue producers (packages/client) put on the
 * `notifications` queue directly. The Redis gate answered the producer; the worker records the
 * notification here on first sight, and Postgres stays the authority on duplicates
 * (seeds/devicehub-notification-system.md, "Idempotency": one key, a one-hour window).
 */
import { sql } from 'drizzle-orm'
import type { Db, Executor } from '../client.js'
import type { AcceptInput } from './notifications.js'

export interface RecordQueuedInput extends Omit<AcceptInput, 'source' | 'notificationId'> {
  /** The id the producer's Redis claim admitted (the job's `notificationId`). */
  notificationId: string
  /** When the Redis gate admitted it (Redis server time): the window is measured from here. */
  acceptedAt: Date
}

export type RecordQueuedResult =
  /** `created` is false when an earlier attempt of the same job already recorded it. */
  | { recorded: true, created: boolean }
  /** Another notification of the same key was admitted less than a window before `acceptedAt`. */
  | { recorded: false, duplicateOf: string }

/**
 * Records a queue-produced notification, idempotently (a stalled or retried job never makes a
 * second row). It is a duplicate only when the ledger holds another notification of the same key
 * whose window covers `acceptedAt` (Redis lost its key: restart, eviction); a notification that
 * waited in the queue longer than the window is still recorded even when a later send of the same
 * key was admitted meanwhile, because each was admitted inside its own window.
 * The key row keeps whichever admission's window ends last.
 */
export async function recordQueuedNotification (db: Executor, n: RecordQueuedInput): Promise<RecordQueuedResult> {
  const run = async (tx: Executor): Promise<RecordQueuedResult> => {
    const mine = await tx.execute<{ id: string }>(sql`select id from notifications where id = ${n.notificationId}`)
    if (mine.length) return { recorded: true, created: false }
    const acceptedAt = n.acceptedAt.toISOString()
    const expires = sql`${acceptedAt}::timestamptz + make_interval(secs => ${n.windowSeconds})`
    const claimed = await tx.execute<{ key: string }>(sql`
      insert into notification_keys (key, notification_id, expires_at, created_at)
      values (${n.idempotencyKey}, ${n.notificationId}, ${expires}, ${acceptedAt}::timestamptz)
      on conflict (key) do nothing
      returning key`)
    if (!claimed.length) {
      // The key row exists (maybe just committed by a concurrent send): lock it and compare windows.
      const [held] = await tx.execute<{ notification_id: string, covers: boolean }>(sql`
        select notification_id, (created_at <= ${acceptedAt}::timestamptz and ${acceptedAt}::timestamptz < expires_at) as covers
        from notification_keys where key = ${n.idempotencyKey} for update`)
      if (held && held.notification_id === n.notificationId) return { recorded: true, created: false }
      if (held?.covers) return { recorded: false, duplicateOf: held.notification_id }
      await tx.execute(sql`
        update notification_keys set notification_id = ${n.notificationId}, created_at = ${acceptedAt}::timestamptz, expires_at = ${expires}
        where key = ${n.idempotencyKey} and expires_at < ${expires}`)
    }
    const inserted = await tx.execute<{ id: string }>(sql`
      insert into notifications (id, idempotency_key, action, request_id, user_id, mattermost_username, payload, source)
      values (${n.notificationId}, ${n.idempotencyKey}, ${n.action}, ${n.requestId}, ${n.userId}, ${n.mattermostUsername}, ${JSON.stringify(n.payload)}::jsonb, 'queue')
      on conflict (id) do nothing
      returning id`)
    return { recorded: true, created: inserted.length === 1 }
  }
  // A transaction inside a transaction is a savepoint, so callers may pass either.
  return (db as Db).transaction(run)
}

export interface RejectedNotification {
  notificationId: string
  idempotencyKey: string
  action: 'BORROW' | 'RETURN' | 'RENEWAL'
  requestId: string
  userId: string
  mattermostUsername: string
  payload: Record<string, unknown>
  /** Why the job was refused; shown as `lastError`. Never pass a secret. */
  reason: string
}

/**
 * Records a queue job the worker refused (malformed body, unknown payload version) as a `failed`
 * row, so `GET /api/notifications/:id` and the admin list show why. It claims no idempotency key.
 * An existing row of that id gets the reason and is failed instead (unless already delivered).
 */
export async function recordRejectedNotification (db: Executor, n: RejectedNotification): Promise<void> {
  const reason = n.reason.slice(0, 1000)
  await db.execute(sql`
    insert into notifications (id, idempotency_key, action, request_id, user_id, mattermost_username, payload, source, status, last_error)
    values (${n.notificationId}, ${n.idempotencyKey}, ${n.action}, ${n.requestId}, ${n.userId}, ${n.mattermostUsername}, ${JSON.stringify(n.payload)}::jsonb, 'queue', 'failed', ${reason})
    on conflict (id) do update set status = 'failed', last_error = excluded.last_error, updated_at = now()
      where notifications.status <> 'delivered'`)
}
