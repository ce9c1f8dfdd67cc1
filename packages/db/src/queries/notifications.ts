/**
 * Notification ledger queries (seeds/devicehub-notification-system.md, "Idempotency").
 */
import { and, desc, eq, lt, sql } from 'drizzle-orm'
import type { Db, Executor } from '../client.js'
import { notificationKeys, notifications, type Notification } from '../schema/notifications.js'
import { mattermostRecipients, type MattermostRecipient } from '../schema/mattermost-recipients.js'

export interface AcceptInput {
  idempotencyKey: string
  action: 'BORROW' | 'RETURN' | 'RENEWAL'
  requestId: string
  userId: string
  mattermostUsername: string
  payload: Record<string, unknown>
  source?: 'http' | 'queue'
  /** Duplicate window in seconds. */
  windowSeconds: number
  /** Id for the new row (the one the Redis gate claimed the key for); default a fresh uuid. */
  notificationId?: string
}

export interface AcceptResult {
  notificationId: string
  /** true when this call admitted a new notification; false for a duplicate inside the window. */
  created: boolean
}

/**
 * Records a notification unless its idempotency key was admitted less than `windowSeconds` ago.
 * One statement: claims (or reclaims an expired) key row and inserts the notification together,
 * so a crash can never leave one without the other. Concurrent sends of one key admit exactly one.
 */
export async function acceptNotification (db: Db, n: AcceptInput): Promise<AcceptResult> {
  return (await acceptNotifications(db, [n]))[0]
}

export const findNotification = async (db: Executor, id: string): Promise<Notification | undefined> =>
  (await db.select().from(notifications).where(eq(notifications.id, id)).limit(1))[0]

/**
 * `acceptNotification` for many sends in one statement and one commit (the API batches concurrent
 * requests). All inputs must share `windowSeconds`. A key repeated within the batch is admitted once;
 * its later occurrences answer as duplicates of it.
 * @returns one result per input, in order.
 */
export async function acceptNotifications (db: Db, inputs: AcceptInput[]): Promise<AcceptResult[]> {
  if (inputs.length === 0) return []
  const first = new Map<string, AcceptInput>()
  for (const n of inputs) if (!first.has(n.idempotencyKey)) first.set(n.idempotencyKey, n)
  const results = new Map<string, AcceptResult>()
  // A key can come back with no row only when a concurrent admission of it committed after our
  // snapshot: the next statement sees it.
  for (let attempt = 0; attempt < 3 && results.size < first.size; attempt++) {
    const pending = [...first.values()].filter(n => !results.has(n.idempotencyKey))
    for (const [key, r] of await admitOnce(db, pending, inputs[0].windowSeconds)) results.set(key, r)
  }
  if (results.size < first.size) throw new Error('could not admit or find a notification key after 3 attempts')
  const seen = new Set<string>()
  return inputs.map((n) => {
    const r = results.get(n.idempotencyKey)!
    const repeat = seen.has(n.idempotencyKey)
    seen.add(n.idempotencyKey)
    return repeat ? { notificationId: r.notificationId, created: false } : r
  })
}

/**
 * The admission statement for distinct keys: claims (or reclaims an expired) key row and inserts
 * its notification together, or reports the notification holding the key.
 */
async function admitOnce (db: Db, unique: AcceptInput[], windowSeconds: number): Promise<Map<string, AcceptResult>> {
  const col = <K extends keyof AcceptInput>(k: K) => unique.map(n => n[k] ?? null)
  // The API's hot path, written as a postgres.js tagged template (typed casts and unnest read more
  // clearly here than drizzle's builder); prepared once per connection.
  const rows = await db.$client<{ key: string, id: string, created: boolean }[]>`
    with input as (
      select * from unnest(${col('idempotencyKey') as string[]}::text[], ${col('notificationId') as (string | null)[]}::uuid[], ${col('action') as string[]}::text[],
        ${col('requestId') as string[]}::text[], ${col('userId') as string[]}::text[], ${col('mattermostUsername') as string[]}::text[],
        ${unique.map(n => JSON.stringify(n.payload))}::text[], ${unique.map(n => n.source ?? 'http')}::text[])
        as i(key, id, action, request_id, user_id, username, payload, source)
    ), claim as (
      insert into notification_keys (key, notification_id, expires_at)
      select key, coalesce(id, gen_random_uuid()), now() + make_interval(secs => ${windowSeconds}::int) from input
      on conflict (key) do update
        set notification_id = excluded.notification_id, expires_at = excluded.expires_at, created_at = now()
        where notification_keys.expires_at <= now()
      returning key, notification_id
    ), inserted as (
      insert into notifications (id, idempotency_key, action, request_id, user_id, mattermost_username, payload, source)
      select c.notification_id, i.key, i.action::notification_action, i.request_id, i.user_id, i.username, i.payload::jsonb, i.source::notification_source
      from claim c join input i on i.key = c.key
      returning id, idempotency_key
    )
    select idempotency_key as key, id, true as created from inserted
    union all
    select k.key, k.notification_id as id, false as created from notification_keys k join input i on i.key = k.key
    where not exists (select 1 from claim c where c.key = k.key)`
  return new Map(rows.map(r => [r.key, { notificationId: r.id, created: r.created }]))
}

/**
 * Loads a notification and its recipient's cached Mattermost state (undefined for a username not
 * seen yet) in one round trip, without writing: the hot path of delivery commits only its outcome.
 */
export async function loadForDelivery (db: Db, id: string): Promise<{ notification: Notification, recipient?: MattermostRecipient } | undefined> {
  return (await loadManyForDelivery(db, [id])).get(id)
}

/**
 * `loadForDelivery` for many ids in one statement (the worker batches concurrent jobs' reads).
 * @returns a map from id to the loaded pair; ids without a row are absent.
 */
export async function loadManyForDelivery (db: Db, ids: string[]): Promise<Map<string, { notification: Notification, recipient?: MattermostRecipient }>> {
  // Runs for every delivery: one prepared statement for a whole batch of jobs.
  const rows = await db.$client<{ n: Record<string, unknown>, r: Record<string, unknown> | null }[]>`
    select row_to_json(n) as n, (select row_to_json(r) from mattermost_recipients r where r.username = n.mattermost_username) as r
    from notifications n where n.id = any(${ids}::uuid[])`
  const date = (v: unknown) => v ? new Date(v as string) : null
  const out = new Map<string, { notification: Notification, recipient?: MattermostRecipient }>()
  for (const row of rows) {
    const n = row.n
    const notification: Notification = {
      id: n.id as string, idempotencyKey: n.idempotency_key as string, action: n.action as Notification['action'], requestId: n.request_id as string,
      userId: n.user_id as string, mattermostUsername: n.mattermost_username as string, payload: n.payload, source: n.source as Notification['source'],
      status: n.status as Notification['status'], delivery: n.delivery as Notification['delivery'], mattermostPostId: n.mattermost_post_id as string | null,
      mattermostChannelId: n.mattermost_channel_id as string | null, attempts: n.attempts as number, lastError: n.last_error as string | null,
      lastErrorId: n.last_error_id as string | null, lastAttemptAt: date(n.last_attempt_at), deliveredAt: date(n.delivered_at),
      createdAt: date(n.created_at)!, updatedAt: date(n.updated_at)!
    }
    const r = row.r
    const recipient = r
      ? {
          mmUserId: r.mm_user_id as string, username: r.username as string, dmReady: r.dm_ready as boolean, dmChannelId: r.dm_channel_id as string | null,
          dmReadyAt: date(r.dm_ready_at), memberOfChannelId: r.member_of_channel_id as string | null,
          welcomePostId: r.welcome_post_id as string | null, welcomeSentAt: date(r.welcome_sent_at),
          createdAt: date(r.created_at)!, updatedAt: date(r.updated_at)!
        }
      : undefined
    out.set(notification.id, { notification, recipient })
  }
  return out
}

/**
 * Marks a notification delivered (idempotent: a delivered row keeps its first post) and counts the
 * attempt: `attempts` becomes at least `attempt` (BullMQ's attemptsStarted, which also counts
 * attempts a crashed worker never recorded).
 */
export async function markDelivered (db: Db, id: string, d: Delivered): Promise<void> {
  await markManyDelivered(db, [{ id, ...d }])
}

export interface Delivered { delivery: 'dm' | 'channel', postId: string, channelId: string, attempt?: number }

/** `markDelivered` for many notifications in one statement, hence one commit (the worker batches them). */
export async function markManyDelivered (db: Db, items: (Delivered & { id: string })[]): Promise<void> {
  await db.$client`
    update notifications n set status = 'delivered', delivery = v.delivery::notification_delivery, mattermost_post_id = v.post_id,
      mattermost_channel_id = v.channel_id, delivered_at = now(), last_error = null, last_error_id = null,
      attempts = greatest(n.attempts + 1, v.attempt), last_attempt_at = now(), updated_at = now()
    from unnest(${items.map(i => i.id)}::uuid[], ${items.map(i => i.delivery)}::text[], ${items.map(i => i.postId)}::text[],
                ${items.map(i => i.channelId)}::text[], ${items.map(i => i.attempt ?? 0)}::int[]) as v(id, delivery, post_id, channel_id, attempt)
    where n.id = v.id and n.status <> 'delivered'`
}

/** Records a failed attempt; `final` also marks it failed. Never pass a secret in `message`. */
export async function recordDeliveryError (db: Executor, id: string, e: { message: string, errorId?: string, final: boolean, attempt?: number }): Promise<void> {
  await db.update(notifications)
    .set({ lastError: e.message.slice(0, 1000), lastErrorId: e.errorId ?? null, attempts: sql`greatest(${notifications.attempts} + 1, ${e.attempt ?? 0})`, lastAttemptAt: sql`now()`, ...(e.final ? { status: 'failed' as const } : {}) })
    .where(and(eq(notifications.id, id), sql`${notifications.status} <> 'delivered'`))
}

/** Puts a failed notification back to `queued` for an admin retry. @returns false unless it was failed. */
export async function requeueFailed (db: Executor, id: string): Promise<boolean> {
  const rows = await db.update(notifications).set({ status: 'queued', lastError: null, lastErrorId: null })
    .where(and(eq(notifications.id, id), eq(notifications.status, 'failed'))).returning({ id: notifications.id })
  return rows.length === 1
}

/** Up to `limit` rows still `queued` whose last activity is older than `olderThanSeconds`, newest first (for the re-enqueue sweep). */
export async function staleQueued (db: Executor, olderThanSeconds: number, limit = 500): Promise<string[]> {
  const rows = await db.select({ id: notifications.id }).from(notifications)
    .where(and(eq(notifications.status, 'queued'), lt(notifications.updatedAt, sql`now() - make_interval(secs => ${olderThanSeconds})`)))
    .orderBy(desc(notifications.createdAt)).limit(limit) // newest first: the most useful to deliver now
  return rows.map(r => r.id)
}

/** Deletes idempotency rows whose window has passed. @returns how many were removed. */
export async function deleteExpiredKeys (db: Executor): Promise<number> {
  const rows = await db.delete(notificationKeys).where(lt(notificationKeys.expiresAt, sql`now()`)).returning({ key: notificationKeys.key })
  return rows.length
}

/** Page of notifications, newest first. */
export const listNotifications = (db: Executor, { limit, offset }: { limit: number, offset: number }) =>
  db.select().from(notifications).orderBy(desc(notifications.createdAt), desc(notifications.id)).limit(limit).offset(offset)

/** Page of live idempotency records, newest first. */
export const listIdempotencyKeys = (db: Executor, { limit, offset }: { limit: number, offset: number }) =>
  db.select().from(notificationKeys).orderBy(desc(notificationKeys.createdAt), notificationKeys.key).limit(limit).offset(offset)

/** Page of notification recipients' Mattermost state (the seed's user states), newest first. */
export const listRecipients = (db: Executor, { limit, offset }: { limit: number, offset: number }) =>
  db.select().from(mattermostRecipients).orderBy(desc(mattermostRecipients.updatedAt), mattermostRecipients.mmUserId).limit(limit).offset(offset)
