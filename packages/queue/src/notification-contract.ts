/**
 * The notification wire contract shared by every producer: the HTTP API, the worker and the
 * published client (`packages/client`, which compiles this file into its own build output).
 * It must stay dependency-free apart from `typebox` and Node built-ins (no bullmq, no ioredis,
 * no workspace imports), because a published package cannot import a private workspace package.
 *
 * Contents: the `POST /api/notifications/send` body schema and its checks, the seed's idempotency
 * key, the `notifications` queue name and job options, the versioned `send` job payload written
 * by queue producers, and the Redis idempotency gate that HTTP and queue producers share.
 *
 * Source: seeds/devicehub-notification-system.md ("POST /api/notifications/send", "Idempotency").
 */
import { createHash } from 'node:crypto'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { Compile } from 'typebox/compile'

export const NOTIFICATIONS_QUEUE = 'notifications'

export const NotificationActionSchema = Type.Union([Type.Literal('BORROW'), Type.Literal('RETURN'), Type.Literal('RENEWAL')])
export type NotificationAction = Static<typeof NotificationActionSchema>

const IsoDate = Type.String({ format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'ISO date YYYY-MM-DD' })
/** Product ids: a non-negative integer or a short token without `:` (it is part of the key). */
const ProductId = Type.Union([
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })
])
const ShortText = (maxLength = 200) => Type.String({ minLength: 1, maxLength })

export const DeviceSchema = Type.Object({
  id: ProductId,
  name: ShortText(),
  assetTag: ShortText(100),
  category: Type.Optional(ShortText(100)),
  brand: Type.Optional(ShortText(100)),
  model: Type.Optional(ShortText())
}, { additionalProperties: false })

/** Body of `POST /api/notifications/send`, exactly the seed's. Action fields are checked by `actionFieldErrors`. */
export const SendNotificationSchema = Type.Object({
  action: NotificationActionSchema,
  userId: ProductId,
  mattermostUsername: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', description: 'Mattermost username (case-insensitive)' }),
  device: DeviceSchema,
  requestId: ProductId,
  startDate: Type.Optional(IsoDate),
  endDate: Type.Optional(IsoDate),
  returnDate: Type.Optional(IsoDate),
  previousEndDate: Type.Optional(IsoDate),
  newEndDate: Type.Optional(IsoDate)
}, { additionalProperties: false })
export type SendNotification = Static<typeof SendNotificationSchema>
const checkSendNotification = Compile(SendNotificationSchema)

/** Date fields each action requires; every other date field is refused for that action. */
export const ACTION_FIELDS: Record<NotificationAction, readonly DateField[]> = {
  BORROW: ['startDate', 'endDate'],
  RETURN: ['returnDate'],
  RENEWAL: ['previousEndDate', 'newEndDate']
}
export type DateField = 'startDate' | 'endDate' | 'returnDate' | 'previousEndDate' | 'newEndDate'
const DATE_FIELDS: DateField[] = ['startDate', 'endDate', 'returnDate', 'previousEndDate', 'newEndDate']

/**
 * Returns a message naming the first action-specific problem (`body/endDate is required for
 * action BORROW`, `body/returnDate is not allowed for action BORROW`), or undefined when the
 * body's dates fit its action. Expects a body that passed `SendNotificationSchema`, whose `date`
 * format (Ajv's in the API, TypeBox's for queue producers) already refuses impossible calendar dates.
 */
export function actionFieldErrors (body: Pick<SendNotification, 'action' | DateField>): string | undefined {
  const wanted = ACTION_FIELDS[body.action]
  for (const field of wanted) if (body[field] === undefined) return `body/${field} is required for action ${body.action}`
  for (const field of DATE_FIELDS) {
    if (!wanted.includes(field) && body[field] !== undefined) return `body/${field} is not allowed for action ${body.action}`
  }
  return undefined
}

/**
 * Checks a whole send-notification input (schema, then action fields).
 * @returns undefined when valid, else a message naming the field (`body/device/name …`).
 */
export function sendNotificationErrors (input: unknown): string | undefined {
  // Fast path for valid input (compiled check, ~0.5 µs); the messages come from Value.Errors as before.
  if (checkSendNotification.Check(input)) return actionFieldErrors(input)
  const errors = Value.Errors(SendNotificationSchema, input)
  const first = errors[0]
  if (first) {
    const extra = (first.params as { additionalProperties?: string[] }).additionalProperties
    const required = (first.params as { requiredProperties?: string[] }).requiredProperties
    const where = `body${first.instancePath}`
    if (extra?.length) return `${where}/${extra[0]} is not allowed`
    if (required?.length) return `${where}/${required[0]} is required`
    // Worded like the API's Ajv formatter (apps/api/src/validation.ts), so both transports say the same.
    if (first.keyword === 'boolean' && first.schemaPath.endsWith('/additionalProperties')) return `${where} is not allowed`
    const consts = errors.filter(e => e.keyword === 'const' && e.instancePath === first.instancePath).map(e => (e.params as { allowedValue: unknown }).allowedValue)
    if (consts.length > 1) return `${where} must be one of ${consts.map(c => JSON.stringify(c)).join(', ')}`
    return `${where} ${first.message}`
  }
  return actionFieldErrors(input as SendNotification)
}

/**
 * True when `input` is a valid send-notification body: the same verdict as `sendNotificationErrors`
 * without building a message (~1 µs). The compiled `date` format already refuses impossible
 * calendar dates, so only the action's fields are left to check.
 */
export function isValidSendNotification (input: unknown): input is SendNotification {
  if (!checkSendNotification.Check(input)) return false
  const body = input as SendNotification
  const wanted = ACTION_FIELDS[body.action]
  for (const field of DATE_FIELDS) if ((body[field] !== undefined) !== wanted.includes(field)) return false
  return true
}

/** The seed's idempotency key: `notification:{action}:{requestId}:{userId}`. */
export const notificationKey = (n: Pick<SendNotification, 'action' | 'requestId' | 'userId'>) =>
  `notification:${n.action}:${n.requestId}:${n.userId}`

/**
 * Why the defaults: Mattermost outages last minutes, so 10 attempts with exponential backoff from
 * 2 s (≈ 34 min in all); retention caps keep Redis small (BullMQ "going to production").
 */
export const notificationJobOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { count: 1_000, age: 24 * 3600 },
  removeOnFail: { count: 10_000, age: 7 * 24 * 3600 }
} as const

/**
 * `send` job: a whole notification handed to the queue by a queue producer (packages/client).
 * The worker records it in the Postgres ledger on first sight, then enqueues its `deliver` job.
 * `acceptedAt` is the producer's clock (ms since epoch) when it added the job (the same `add` claimed
 * the key): the ledger measures the duplicate window from there. Bump `v` for any incompatible
 * change; a worker fails versions it does not know at once (never a retry loop).
 */
export const SEND_JOB_VERSION = 1
export const SendJobSchema = Type.Object({
  v: Type.Literal(SEND_JOB_VERSION),
  notificationId: Type.String({ format: 'uuid' }),
  acceptedAt: Type.Integer({ minimum: 0 }),
  notification: SendNotificationSchema
}, { additionalProperties: false })
export type SendJob = Static<typeof SendJobSchema>
/** Job id of a `send` job: derived from the notification id, never from the key (after the window the key is admitted again). */
export const sendJobId = (notificationId: string) => `send-${notificationId}`

/**
 * Problem with a `send` job's data, naming the field (`data/notification/device/name is required`),
 * or undefined when it is a valid version-1 payload.
 */
export function sendJobErrors (data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'data must be an object'
  const d = data as Record<string, unknown>
  if (d.v !== SEND_JOB_VERSION) return `data/v must be ${SEND_JOB_VERSION}`
  if (typeof d.notificationId !== 'string' || !UUID.test(d.notificationId)) return 'data/notificationId must be a uuid'
  if (typeof d.acceptedAt !== 'number' || !Number.isSafeInteger(d.acceptedAt) || d.acceptedAt < 0) return 'data/acceptedAt must be a time in ms since the epoch'
  for (const k of Object.keys(d)) if (!['v', 'notificationId', 'acceptedAt', 'notification'].includes(k)) return `data/${k} is not allowed`
  const problem = sendNotificationErrors(d.notification)
  return problem && problem.replace(/^body/, 'data/notification')
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The payload version a job claims (`data.v`), or undefined when it has none.
 * Used by the worker to fail unknown future versions with a clear reason.
 */
export const payloadVersion = (data: unknown): unknown =>
  typeof data === 'object' && data !== null && 'v' in data ? (data as { v: unknown }).v : undefined

/*
 * The idempotency gate in Redis, shared by HTTP and queue producers.
 *
 * The gate is BullMQ's own deduplication key of the `notifications` queue,
 * `<prefix>:notifications:de:<idempotency key>`, holding the id of the job that admitted the key
 * (`send-<notificationId>` from a queue producer, `deliver-<notificationId>` from the API) and
 * expiring after the duplicate window. A queue producer claims it inside BullMQ's add script
 * (`deduplication: { id: <key>, ttl: <window> }`), so the claim and the job are one atomic
 * command; the API claims it with a script before its Postgres insert. The first to set it
 * admits; every other producer answers `duplicate` with the holder's notification id, without
 * Postgres. Postgres stays the durable ledger and the authority when Redis lost the key (restart,
 * eviction): see the API route (gate.ts) and the worker's `send` job.
 * `<prefix>:parley:notification-window` holds the window (ms) the API and worker publish, so queue
 * producers use the server's NOTIFY_IDEMPOTENCY_WINDOW_SECONDS. Both keys begin with the prefix's
 * hash tag, so the scripts are valid on Redis Cluster.
 * BullMQ keeps a deduplication key when its job completes, fails or is trimmed by the retention
 * settings; only an explicit removal of the admitting job (`Queue.remove`, `clean`, `obliterate`)
 * deletes it with the job.
 */

/** The part of an ioredis client the gate needs (scripts only), so this file imports no Redis client. */
export interface RedisScripting {
  evalsha (sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval (script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
}

/** BullMQ's deduplication key for `idempotencyKey` on the notifications queue. */
export const notificationClaimKey = (prefix: string, idempotencyKey: string) => `${prefix}:${NOTIFICATIONS_QUEUE}:de:${idempotencyKey}`
export const notificationWindowKey = (prefix: string) => `${prefix}:parley:notification-window`
/** Parley's default window (NOTIFY_IDEMPOTENCY_WINDOW_SECONDS), used until a server has published its own. */
export const DEFAULT_WINDOW_SECONDS = 3600
/** The notification id in a claim's value (a job id `send-<id>` or `deliver-<id>`). */
export const claimHolder = (value: string) => value.replace(/^(?:send|deliver)-/, '')
/** Value the API and the ledger repairs store: the notification's deliver job id. */
const apiClaimValue = (notificationId: string) => `deliver-${notificationId}`

interface Script { src: string, sha: string }
const script = (src: string): Script => ({ src, sha: createHash('sha1').update(src).digest('hex') })

/** Runs a script by sha, loading it on NOSCRIPT (a restarted or fresh Redis). */
async function run (redis: RedisScripting, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error).message)) throw err
    return redis.eval(s.src, keys.length, ...keys, ...args)
  }
}

// KEYS: claim, window. ARGV: value to store, window ms, publish ('1' = also store ARGV[2] as the
// published window). Returns {1} when the value was stored, else {0, holderValue}.
const CLAIM = script(`
if ARGV[3] == '1' then redis.call('SET', KEYS[2], ARGV[2]) end
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}`)

// KEYS: claim. ARGV: the two values naming the notification. Deletes the claim only while it names it.
const RELEASE = script(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or cur == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0`)

// KEYS: claim. ARGV: the two values naming the current holder, new value, ttl ms ('' = keep the
// remaining ttl). Returns 1 when re-pointed.
const REPOINT = script(`
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] and cur ~= ARGV[2] then return 0 end
local ttl = tonumber(ARGV[4])
if not ttl then ttl = redis.call('PTTL', KEYS[1]) end
if ttl <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
return 1`)

export type ClaimResult = { claimed: true } | { claimed: false, notificationId: string }

/**
 * The API's claim of `idempotencyKey` for `candidateId` (one atomic script), for `windowMs`, which
 * it also publishes for queue producers.
 * @returns claimed, or the id of the notification holding the key.
 * @throws the Redis client's error when Redis cannot be reached.
 */
export async function claimNotificationKey (redis: RedisScripting, prefix: string, idempotencyKey: string, candidateId: string, windowMs: number): Promise<ClaimResult> {
  const r = await run(redis, CLAIM, [notificationClaimKey(prefix, idempotencyKey), notificationWindowKey(prefix)], [apiClaimValue(candidateId), windowMs, '1']) as [number, string?]
  return r[0] === 1 ? { claimed: true } : { claimed: false, notificationId: claimHolder(r[1]!) }
}

/** Gives a claim back (after a failed ledger insert) while it still names `notificationId`. */
export async function releaseNotificationKey (redis: RedisScripting, prefix: string, idempotencyKey: string, notificationId: string): Promise<void> {
  await run(redis, RELEASE, [notificationClaimKey(prefix, idempotencyKey)], [apiClaimValue(notificationId), `send-${notificationId}`])
}

/**
 * Points a claim held by `from` at `to` (the ledger admitted another notification than Redis did),
 * keeping its remaining time unless `ttlMs` is given. @returns false when the claim had moved on.
 */
export async function repointNotificationKey (redis: RedisScripting, prefix: string, idempotencyKey: string, from: string, to: string, ttlMs?: number): Promise<boolean> {
  return await run(redis, REPOINT, [notificationClaimKey(prefix, idempotencyKey)], [apiClaimValue(from), `send-${from}`, apiClaimValue(to), ttlMs ?? '']) === 1
}

/** Publishes the server's window (NOTIFY_IDEMPOTENCY_WINDOW_SECONDS) for queue producers; the API and the worker call it at start. */
export async function publishNotificationWindow (redis: { set (key: string, value: string): Promise<unknown> }, prefix: string, windowSeconds: number): Promise<void> {
  await redis.set(notificationWindowKey(prefix), String(windowSeconds * 1000))
}
