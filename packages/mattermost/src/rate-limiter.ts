/**
 * Client-side throttle, so Parley stays under a Mattermost `RateLimitSettings` budget
 * (`PerSec`, `MaxBurst`; PROTOCOL §2) instead of learning it from 429s. In-process only: the
 * worker may pass its own Redis-backed limiter with the same `acquire()` shape.
 */

/** Awaited by the client before every HTTP request (including each retry). */
export interface RateLimiter {
  acquire (): Promise<void>
}

/**
 * A token bucket holding up to `burst` tokens, refilled at `perSec` tokens per second; `acquire`
 * resolves when a token is available, in FIFO order. `perSec <= 0` gives a limiter that never
 * waits. A timer exists only while someone waits, so an idle limiter holds nothing open.
 */
export function createRateLimiter (perSec: number, burst = Math.max(1, Math.ceil(perSec))): RateLimiter {
  if (!(perSec > 0)) return { acquire: async () => {} }
  const capacity = Math.max(1, burst)
  let tokens = capacity
  let refilledAt = performance.now()
  const waiting: Array<() => void> = []
  let timer: NodeJS.Timeout | undefined

  const refill = () => {
    const now = performance.now()
    tokens = Math.min(capacity, tokens + ((now - refilledAt) / 1000) * perSec)
    refilledAt = now
  }

  const drain = () => {
    timer = undefined
    refill()
    while (waiting.length > 0 && tokens >= 1) {
      tokens -= 1
      waiting.shift()!()
    }
    if (waiting.length > 0) {
      timer = setTimeout(drain, Math.ceil(((1 - tokens) / perSec) * 1000))
    }
  }

  return {
    acquire () {
      return new Promise<void>((resolve) => {
        waiting.push(resolve)
        if (timer === undefined) drain()
      })
    }
  }
}
