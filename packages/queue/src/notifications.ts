/**
 * The `notifications` queue: names, the send-notification body schema shared by the HTTP API and
 * producers, the idempotency key, job payloads and job ids.
 *
 * Source: seeds/devicehub-notification-system.md ("POST /api/notifications/send", "Idempotency").
 */
import { Type, type Static } from 'typebox'
import { Queue, type ConnectionOptions } from 'bullmq'

// The body schema, its checks, the key, the queue name and job options moved to the dependency-free
// notification-contract.ts so the published client (packages/client) compiles the very same code.
export * from './notification-contract.js'
import { NOTIFICATIONS_QUEUE, notificationJobOptions, type SendJob } from './notification-contract.js'

/**
 * Job payloads. Jobs carry ids, never secrets (job data sits in Redis in clear text).
 * `v` versions the payload so a newer worker keeps accepting older producers' jobs.
 */
export const DeliverJobSchema = Type.Object({
  v: Type.Literal(1),
  notificationId: Type.String({ format: 'uuid' }),
  /** Set by the ledger sweep: look for an earlier post before posting. */
  recheck: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
export type DeliverJob = Static<typeof DeliverJobSchema>
export const WelcomeJobSchema = Type.Object({ v: Type.Literal(1), mmUserId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
export type WelcomeJob = Static<typeof WelcomeJobSchema>
// 'send' / SendJob: a whole notification from a queue producer (packages/client), see notification-contract.ts.
export type NotificationJobName = 'deliver' | 'welcome' | 'sweep' | 'cleanup-keys' | 'initialize' | 'send'
export type NotificationJobData = DeliverJob | WelcomeJob | SendJob | Record<string, never>

/** Job id of a delivery: one per ledger row, so re-enqueueing a row is a no-op while its job exists. */
export const deliverJobId = (notificationId: string) => `deliver-${notificationId}`
/** Job id of a welcome message: one per Mattermost user. */
export const welcomeJobId = (mmUserId: string) => `welcome-${mmUserId}`

export type NotificationsQueue = Queue<NotificationJobData, unknown, NotificationJobName>

/** The `notifications` queue with Parley's default job options. */
export function createNotificationsQueue (connection: ConnectionOptions, prefix: string): NotificationsQueue {
  return new Queue<NotificationJobData, unknown, NotificationJobName>(NOTIFICATIONS_QUEUE, { connection, prefix, defaultJobOptions: notificationJobOptions })
}
