import { Type } from 'typebox'

export const AcceptedSchema = Type.Object({
  notificationId: Type.String({ format: 'uuid' }),
  status: Type.Literal('queued'),
  idempotencyKey: Type.String()
})
export const DuplicateSchema = Type.Object({
  notificationId: Type.String({ format: 'uuid' }),
  status: Type.Literal('duplicate'),
  idempotencyKey: Type.String()
})

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])
const Time = Type.String({ format: 'date-time' })

export const NotificationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  idempotencyKey: Type.String(),
  action: Type.String(),
  requestId: Type.String(),
  userId: Type.String(),
  mattermostUsername: Type.String(),
  source: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('delivered'), Type.Literal('failed')]),
  delivery: Type.Union([Type.Literal('dm'), Type.Literal('channel'), Type.Null()]),
  mattermostPostId: Nullable(Type.String()),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  lastErrorId: Nullable(Type.String()),
  createdAt: Time,
  updatedAt: Time,
  lastAttemptAt: Nullable(Time),
  deliveredAt: Nullable(Time)
})

export const StatusSchema = Type.Object({
  configured: Type.Boolean({ description: 'MATTERMOST_URL and MATTERMOST_NOTIFICATION_CHANNEL_ID are set' }),
  reason: Type.Optional(Type.String()),
  initialized: Type.Boolean(),
  botUser: Type.Union([Type.Object({ id: Type.String(), username: Type.Optional(Type.String()) }), Type.Null()]),
  notificationChannelId: Type.Union([Type.String(), Type.Null()]),
  websocket: Type.Object({
    state: Type.String(),
    lastEventAt: Type.Union([Type.String(), Type.Null()]),
    holder: Type.Union([Type.String(), Type.Null()])
  }),
  queue: Type.Record(Type.String(), Type.Integer()),
  lastError: Type.Optional(Type.String())
})

const Page = <T extends ReturnType<typeof Type.Object>>(item: T) => Type.Object({ items: Type.Array(item), limit: Type.Integer(), offset: Type.Integer() })
export const RecipientPageSchema = Page(Type.Object({
  mmUserId: Type.String(), username: Type.String(), dmReady: Type.Boolean(), dmChannelId: Nullable(Type.String()),
  dmReadyAt: Nullable(Time), welcomeSentAt: Nullable(Time), updatedAt: Time
}))
export const IdempotencyPageSchema = Page(Type.Object({
  key: Type.String(), notificationId: Type.String({ format: 'uuid' }), createdAt: Time, expiresAt: Time
}))
