/**
 * Fault injection and rate limiting for the REST surface: injected statuses, forced 429s,
 * an outage switch, added latency, and an optional GCRA limiter like Mattermost's
 * `RateLimitSettings` (PROTOCOL §2).
 */

export interface FailRule { route: string, status: number, remaining: number, id?: string }
export interface RateLimitRule { route: string, remaining: number, resetSeconds: number }

/** `RateLimitSettings` subset: `perSec` requests per second with a burst of `maxBurst` (GCRA), keyed per token (else per IP). */
export interface RateLimitOptions { perSec: number, maxBurst: number }

/** What a limited response carries (§2): all values in seconds; reset/retry-after are seconds from now, rounded up. */
export interface RateLimitVerdict { limited: boolean, limit: number, remaining: number, resetSeconds: number, retryAfterSeconds: number }

export class FaultState {
  latencyMs = 0
  isDown = false
  failRules: FailRule[] = []
  rateLimitRules: RateLimitRule[] = []

  /** The injected failure for `route`, consuming one of its `count`, if any. */
  takeFailure (route: string): FailRule | undefined {
    return take(this.failRules, route)
  }

  takeRateLimit (route: string): RateLimitRule | undefined {
    return take(this.rateLimitRules, route)
  }
}

function take<R extends { route: string, remaining: number }> (rules: R[], route: string): R | undefined {
  if (rules.length === 0) return undefined
  const i = rules.findIndex(r => r.route === '*' || r.route === route)
  if (i < 0) return undefined
  const rule = rules[i]
  if (--rule.remaining <= 0) rules.splice(i, 1)
  return rule
}

/**
 * Generic cell rate algorithm, as `throttled` implements it for Mattermost: one request every
 * `1/perSec` s with `maxBurst` extra allowed at once; `limit` = maxBurst + 1.
 */
export class GcraLimiter {
  private readonly tat = new Map<string, number>()
  private readonly intervalMs: number
  private readonly toleranceMs: number
  readonly limit: number

  constructor (opts: RateLimitOptions) {
    this.intervalMs = 1000 / opts.perSec
    this.toleranceMs = this.intervalMs * opts.maxBurst
    this.limit = opts.maxBurst + 1
  }

  check (key: string, now = Date.now()): RateLimitVerdict {
    const tat = Math.max(this.tat.get(key) ?? now, now)
    const newTat = tat + this.intervalMs
    const allowAt = newTat - this.toleranceMs - this.intervalMs
    if (now < allowAt) {
      const retryMs = allowAt - now
      return { limited: true, limit: this.limit, remaining: 0, resetSeconds: Math.ceil((tat - now) / 1000), retryAfterSeconds: Math.ceil(retryMs / 1000) }
    }
    this.tat.set(key, newTat)
    if (this.tat.size > 10_000) this.tat.delete(this.tat.keys().next().value as string) // MemoryStoreSize
    const used = Math.ceil((newTat - now) / this.intervalMs)
    return { limited: false, limit: this.limit, remaining: Math.max(0, this.limit - used), resetSeconds: Math.ceil((newTat - now) / 1000), retryAfterSeconds: -1 }
  }
}
