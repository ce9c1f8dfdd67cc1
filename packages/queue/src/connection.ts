/**
 * Redis connections for BullMQ. BullMQ 6 does not bring ioredis: we depend on it directly.
 * Nothing connects at import time.
 */
import { Redis, type RedisOptions } from 'ioredis'

/**
 * Connection for producers (the API): commands fail fast while Redis is down instead of queueing
 * in memory, so a request can answer 503 rather than hang (BullMQ "going to production").
 */
export function producerConnection (url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, ...opts })
}

/** Connection for workers and QueueEvents: blocking commands must never time out. */
export function workerConnection (url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...opts })
}

/** Resolves once `redis` is ready (or rejects after `timeoutMs`, default 10 s). */
export async function redisReady (redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error('Redis did not become ready in time')) }, timeoutMs)
    const onReady = () => { cleanup(); resolve() }
    const cleanup = () => { clearTimeout(timer); redis.off('ready', onReady) }
    redis.on('ready', onReady)
  })
}
