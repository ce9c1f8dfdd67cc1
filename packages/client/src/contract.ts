/**
 * The wire contract the client shares with Parley's API and worker. The source lives in
 * packages/queue/src/notification-contract.ts (dependency-free apart from `typebox`); the client's
 * build compiles it into its own output (dist/queue/src/notification-contract.js), so the published
 * package never imports a private workspace package and validates exactly as the server does.
 */
export {
  DEFAULT_WINDOW_SECONDS, NOTIFICATIONS_QUEUE, SEND_JOB_VERSION, SendNotificationSchema,
  claimHolder, isValidSendNotification, notificationJobOptions, notificationKey, notificationWindowKey, sendJobId, sendNotificationErrors,
  type SendJob, type SendNotification
} from '../../queue/src/notification-contract.js'
