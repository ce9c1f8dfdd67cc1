/**
 * HTTP transport: `POST {baseUrl}/api/notifications/send` with `Authorization: Bearer <apiKey>`
 * (an API key with the `notifications:send` scope), for producers without access to Parley's Redis.
 *
 * 202 → queued, 200 → duplicate. 429 and 503 (also 502/504 from a proxy) are retried up to
 * `maxRetries` times, waiting as `Retry-After` says (seconds or an HTTP date) capped at
 * `maxRetryDelayMs`, else an exponential backoff from 200 ms with jitter. Time-outs and connection
 * failures are retried the same way: a repeat of an accepted send is answered `duplicate` with the
 * same id, never a second notification. Any other status is thrown at once (never a retry on 4xx).
 */
import { ParleyError, ParleyHttpError, ParleyRequestError } from './errors.js'
import type { SendNotification } from './contract.js'
import type { SendResult } from './types.js'

export interface HttpTransportOptions {
  transport: 'http'
  /** Parley's base URL, e.g. `https://parley.example.com` (the API is under `/api`). */
  baseUrl: string
  /** An API key with the `notifications:send` scope (`prl_…`). Never logged or put in errors. */
  apiKey: string
  /** Per-request timeout in ms; default 10 000. */
  timeoutMs?: number
  /** Retries after a 429/502/503/504, a time-out or a connection failure; default 3. */
  maxRetries?: number
  /** Longest wait between attempts in ms, whatever `Retry-After` says; default 30 000. */
  maxRetryDelayMs?: number
}

const RETRY_STATUS = new Set([429, 502, 503, 504])

export class HttpTransport {
  readonly #url: string
  readonly #apiKey: string
  readonly #timeoutMs: number
  readonly #maxRetries: number
  readonly #maxDelayMs: number
  readonly #closing = new AbortController()

  constructor (opts: HttpTransportOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl ?? '')) throw new TypeError('baseUrl must be an http(s) URL')
    if (!opts.apiKey) throw new TypeError('apiKey is required')
    this.#url = new URL('api/notifications/send', opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`).toString()
    this.#apiKey = opts.apiKey
    this.#timeoutMs = opts.timeoutMs ?? 10_000
    this.#maxRetries = opts.maxRetries ?? 3
    this.#maxDelayMs = opts.maxRetryDelayMs ?? 30_000
  }

  /**
   * @throws ParleyHttpError for an error status (after retries for 429/502/503/504),
   *   ParleyRequestError when no answer came, ParleyError when the client was closed meanwhile.
   */
  async send (notification: SendNotification): Promise<SendResult> {
    const body = JSON.stringify(notification)
    for (let attempt = 1; ; attempt++) {
      let res: Response
      try {
        res = await fetch(this.#url, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.#apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#closing.signal])
        })
      } catch (err) {
        if (this.#closing.signal.aborted) throw new ParleyError('the Parley client was closed')
        const timeout = (err as Error).name === 'TimeoutError'
        if (attempt <= this.#maxRetries) { await this.#wait(backoff(attempt)); continue }
        throw new ParleyRequestError(timeout ? 'timeout' : 'network',
          timeout ? `Parley did not answer within ${this.#timeoutMs} ms (${attempt} attempts)` : `could not reach Parley (${attempt} attempts): ${(err as Error).message}`,
          attempt, { cause: err })
      }
      if (res.status === 202 || res.status === 200) return answer(res, await res.json().catch(() => undefined), attempt)
      if (RETRY_STATUS.has(res.status) && attempt <= this.#maxRetries) {
        await res.body?.cancel().catch(() => {})
        await this.#wait(Math.min(retryAfterMs(res.headers.get('retry-after')) ?? backoff(attempt), this.#maxDelayMs))
        continue
      }
      const envelope = await res.json().catch(() => undefined) as { message?: unknown, code?: unknown } | undefined
      throw new ParleyHttpError(res.status, typeof envelope?.message === 'string' ? envelope.message : res.statusText, typeof envelope?.code === 'string' ? envelope.code : undefined, attempt)
    }
  }

  /** Sleeps `ms`, or stops at once (throwing) when the client is closed. */
  #wait (ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.#closing.signal
      if (signal.aborted) { reject(new ParleyError('the Parley client was closed')); return }
      const onAbort = () => { clearTimeout(timer); reject(new ParleyError('the Parley client was closed')) }
      const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Aborts requests and retry waits in flight; they reject with ParleyError. */
  async close (): Promise<void> {
    this.#closing.abort()
  }
}

/** Exponential backoff from 200 ms, full jitter between half and the whole step. */
const backoff = (attempt: number) => { const step = 200 * 2 ** (attempt - 1); return step / 2 + Math.random() * step / 2 }

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs (value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function answer (res: Response, json: unknown, attempt: number): SendResult {
  const r = json as Partial<SendResult> | undefined
  const expected = res.status === 202 ? 'queued' : 'duplicate'
  if (!r || typeof r.notificationId !== 'string' || r.status !== expected || typeof r.idempotencyKey !== 'string') {
    throw new ParleyHttpError(res.status, `unexpected answer body (expected {notificationId, status: '${expected}', idempotencyKey}); is baseUrl Parley?`, undefined, attempt)
  }
  return { notificationId: r.notificationId, status: r.status, idempotencyKey: r.idempotencyKey }
}
