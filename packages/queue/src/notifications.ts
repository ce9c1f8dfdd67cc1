/**
 * The `notifications` queue: names, the send-notification body schema shared by the HTTP API and
 * producers, the idempotency key, job payloads and job ids.
 *
 * Source: seeds/devicehub-notification-system.md ("POST /api/notifications/send", "Idempotency").
 */
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { Queue, type ConnectionOptions } from 'bullmq'

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
 * body's dates fit its action. Also checks that each date is a real calendar date.
 */
export function actionFieldErrors (body: Pick<SendNotification, 'action' | DateField>): string | undefined {
  const wanted = ACTION_FIELDS[body.action]
  for (const field of wanted) if (body[field] === undefined) return `body/${field} is required for action ${body.action}`
  for (const field of DATE_FIELDS) {
    if (!wanted.includes(field) && body[field] !== undefined) return `body/${field} is not allowed for action ${body.action}`
  }
  for (const field of wanted) {
    const value = body[field]!
    const d = new Date(`${value}T00:00:00Z`)
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) return `body/${field} is not a calendar date`
  }
  return undefined
}

/**
 * Checks a whole send-notification input (schema, then action fields).
 * @returns undefined when valid, else a message naming the field (`body/device/name …`).
 */
export function sendNotificationErrors (input: unknown): string | undefined {
  const first = Value.Errors(SendNotificationSchema, input)[0]
  if (first) {
    const extra = (first.params as { additionalProperties?: string[] }).additionalProperties
    const required = (first.params as { requiredProperties?: string[] }).requiredProperties
    const where = `body${first.instancePath}`
    if (extra?.length) return `${where}/${extra[0]} is not allowed`
    if (required?.length) return `${where}/${required[0]} is required`
    return `${where} ${first.message}`
  }
  return actionFieldErrors(input as SendNotification)
}

/** The seed's idempotency key: `notification:{action}:{requestId}:{userId}`. */
export const notificationKey = (n: Pick<SendNotification, 'action' | 'requestId' | 'userId'>) =>
  `notification:${n.action}:${n.requestId}:${n.userId}`

/**
 * Job payloads. Jobs carry ids, never secrets (job data sits in Redis in clear text).
 * `v` versions the payload so a newer worker keeps accepting older producers' jobs.
 */
export const DeliverJobSchema = Type.Object({ v: Type.Literal(1), notificationId: Type.String({ format: 'uuid' }) }, { additionalProperties: false })
export type DeliverJob = Static<typeof DeliverJobSchema>
export const WelcomeJobSchema = Type.Object({ v: Type.Literal(1), mmUserId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
export type WelcomeJob = Static<typeof WelcomeJobSchema>
export type NotificationJobName = 'deliver' | 'welcome' | 'sweep' | 'cleanup-keys' | 'initialize'
export type NotificationJobData = DeliverJob | WelcomeJob | Record<string, never>

/** Job id of a delivery: one per ledger row, so re-enqueueing a row is a no-op while its job exists. */
export const deliverJobId = (notificationId: string) => `deliver-${notificationId}`
/** Job id of a welcome message: one per Mattermost user. */
export const welcomeJobId = (mmUserId: string) => `welcome-${mmUserId}`

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

export type NotificationsQueue = Queue<NotificationJobData, unknown, NotificationJobName>

/** The `notifications` queue with Parley's default job options. */
export function createNotificationsQueue (connection: ConnectionOptions, prefix: string): NotificationsQueue {
  return new Queue<NotificationJobData, unknown, NotificationJobName>(NOTIFICATIONS_QUEUE, { connection, prefix, defaultJobOptions: notificationJobOptions })
}
