/**
 * The chat event bus (DESIGN.md, "Chat server"; seeds/secure-chat-server-plugin-api.md,
 * "WebSocket"). Decorates `app.events`.
 *
 * Every event goes through one Redis pub/sub channel, `<QUEUE_PREFIX>:chat:events`, so whichever
 * API replica holds a recipient's socket delivers it; replicas that share a prefix share events,
 * and parallel test files (each with its own prefix) do not see each other's. An event is
 * serialised once by the publisher; each replica hands the same bytes to every local socket.
 *
 * Wire format of one pub/sub message (not a public interface): `e|<replica>|<id>,<id>…\n<event JSON>`
 * for an event, `s|<replica>|<id>,<id>…\n<reason>` for a sign-out (close those users' sockets).
 * The publishing replica delivers to its own sockets at once and skips its own message when Redis
 * echoes it back: one hop less for local sockets, and they keep getting events while Redis is down.
 *
 * Publishing is best-effort: when Redis is down the event is logged and other replicas miss it —
 * messages are already in Postgres, and a client that reconnects reads what it missed with
 * `since`/a cursor.
 * The subscriber uses its own connection (a subscribed connection can issue no other command)
 * and re-subscribes by itself after Redis restarts.
 */
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { workerConnection } from '@parley/queue'

export type DeliverListener = (userIds: string[], payload: Buffer) => void
export type SignOutListener = (userIds: string[], reason: string) => void

export interface EventBus {
  /**
   * Sends `event` (a JSON-serialisable object with a `type`) to every socket of each user in
   * `userIds`, on every replica. Duplicates in `userIds` are ignored; an empty list does nothing.
   * Never throws: a failed publish is logged (the event is lost, the data is not).
   */
  publishToUsers: (userIds: string[], event: object) => Promise<void>
  /** Closes every socket of `userIds` on every replica (close code 4401, `reason` ≤ 120 bytes). */
  signOut: (userIds: string[], reason: string) => Promise<void>
  /** Registers the local delivery of events (used by the WebSocket plugin). */
  onDeliver: (listener: DeliverListener) => void
  /** Registers the local handling of sign-outs (used by the WebSocket plugin). */
  onSignOut: (listener: SignOutListener) => void
  /** The Redis channel this app publishes and listens on. */
  channel: string
}

declare module 'fastify' {
  interface FastifyInstance { events: EventBus }
}

const NL = 0x0a
const BAR = 0x7c

export default fp(async (app) => {
  const prefix = app.queues.notifications.opts.prefix ?? app.config.QUEUE_PREFIX
  const channel = `${prefix}:chat:events`
  const replicaId = randomUUID().slice(0, 8)
  const deliverers: DeliverListener[] = []
  const signOuts: SignOutListener[] = []
  const subscriber: Redis = workerConnection(app.config.REDIS_URL, { connectionName: 'parley-api-chat-events' })
  subscriber.on('error', (err) => app.log.warn({ err: err.message }, 'chat events subscriber: redis error'))
  await subscriber.subscribe(channel)

  subscriber.on('messageBuffer', (chan: Buffer, message: Buffer) => {
    if (chan.toString() !== channel) return
    const nl = message.indexOf(NL)
    const bar = message.indexOf(BAR, 2)
    if (nl < 2 || bar < 0 || bar > nl) return
    if (message.toString('latin1', 2, bar) === replicaId) return // delivered here when published
    const ids = message.subarray(bar + 1, nl).toString('latin1').split(',').filter(Boolean)
    deliverLocally(message[0] === 0x73 /* s */ ? 's' : 'e', ids, message.subarray(nl + 1))
  })

  function deliverLocally (kind: 'e' | 's', ids: string[], body: Buffer) {
    try {
      if (kind === 'e') for (const l of deliverers) l(ids, body)
      else for (const l of signOuts) l(ids, body.toString('utf8'))
    } catch (err) {
      app.log.error({ err }, 'chat events: local delivery failed')
    }
  }

  async function publish (kind: 'e' | 's', userIds: string[], body: string): Promise<void> {
    const ids = [...new Set(userIds)]
    if (ids.length === 0) return
    deliverLocally(kind, ids, Buffer.from(body))
    try {
      await app.redis.publish(channel, `${kind}|${replicaId}|${ids.join(',')}\n${body}`)
    } catch (err) {
      app.log.warn({ err: (err as Error).message, kind, recipients: ids.length }, 'chat events: publish failed; other replicas miss this event')
    }
  }

  app.decorate('events', {
    channel,
    publishToUsers: (userIds: string[], event: object) => publish('e', userIds, JSON.stringify(event)),
    signOut: (userIds: string[], reason: string) => publish('s', userIds, reason.slice(0, 120)),
    onDeliver: (l: DeliverListener) => { deliverers.push(l) },
    onSignOut: (l: SignOutListener) => { signOuts.push(l) }
  } satisfies EventBus)

  app.addHook('onClose', async () => {
    await subscriber.quit().catch(() => subscriber.disconnect())
  })
}, { name: 'events', dependencies: ['deps'] })
