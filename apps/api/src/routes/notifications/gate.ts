/**
 * The HTTP side of the idempotency gate shared with queue producers (packages/client): the key is
 * claimed in Redis first, so "a queue send then an HTTP send of the same key" is a duplicate even
 * before the worker has recorded the queue-produced notification; the Postgres ledger
 * (`acceptNotification`) stays durable and has the last word when Redis lost the key.
 *
 * Source: seeds/devicehub-notification-system.md ("Idempotency"); the Redis keys and scripts are in
 * packages/queue/src/notification-contract.ts.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { findNotification, type AcceptResult, type Executor } from '@parley/db'
import { claimNotificationKey, releaseNotificationKey, repointNotificationKey } from '@parley/queue'

export interface GateDeps {
  db: Executor
  redis: Redis
  /** BullMQ prefix of the notifications queue (the gate's keys live under it). */
  prefix: string
  windowSeconds: number
  log: FastifyBaseLogger
}

/**
 * Admits `idempotencyKey` through Redis, then the ledger. `accept(id)` must record the notification
 * under `id` (`acceptNotification` with `notificationId`). Cases:
 * - Redis claim won: the ledger decides (a refusal means Redis had lost the key; the claim is
 *   re-pointed at the ledger's notification). A failed insert gives the claim back.
 * - Claim held by a notification not yet in the ledger (a queue send the worker has not recorded):
 *   duplicate, without touching the ledger.
 * - Claim held by a recorded notification: the ledger decides, since its window is the authority
 *   (an admin or a test may have expired it); a new admission takes over the claim.
 * - Redis unreachable: the ledger alone decides, as before the gate existed.
 */
export async function admitThroughGate (deps: GateDeps, idempotencyKey: string, accept: (notificationId: string) => Promise<AcceptResult>): Promise<AcceptResult> {
  const { db, redis, prefix, log } = deps
  const windowMs = deps.windowSeconds * 1000
  const candidate = randomUUID()
  let gate
  try {
    gate = await claimNotificationKey(redis, prefix, idempotencyKey, candidate, windowMs)
  } catch (err) {
    log.warn({ err }, 'Redis idempotency gate unavailable; the Postgres ledger alone decides')
    return accept(candidate)
  }
  if (!gate.claimed) {
    if (!await findNotification(db, gate.notificationId)) return { notificationId: gate.notificationId, created: false }
    const r = await accept(candidate)
    if (r.created) await repointNotificationKey(redis, prefix, idempotencyKey, gate.notificationId, r.notificationId, windowMs).catch(err => log.warn({ err }, 'could not re-point the idempotency claim'))
    return r
  }
  let r: AcceptResult
  try {
    r = await accept(candidate)
  } catch (err) {
    await releaseNotificationKey(redis, prefix, idempotencyKey, candidate).catch(() => {})
    throw err
  }
  if (!r.created) await repointNotificationKey(redis, prefix, idempotencyKey, candidate, r.notificationId).catch(err => log.warn({ err }, 'could not re-point the idempotency claim'))
  return r
}
