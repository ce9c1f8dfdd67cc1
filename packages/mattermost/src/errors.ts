/**
 * The one error type of the Mattermost client, and the two questions the worker asks of it.
 * Keeps what upstream's `ClientError` keeps (status, server error id, endpoint, cause) plus the
 * rate-limit headers Client4 throws away (CLIENT.md). Never carries a token.
 * @see /work/shared/mattermost/PROTOCOL.md §1 (AppError body), §2 (429)
 */

/** Rate-limit headers of a response (PROTOCOL §2); `resetMs` is a delay from now, not an epoch. */
export interface RateLimitInfo {
  limit: number
  remaining: number
  resetMs: number
}

export interface MattermostErrorInit {
  /** HTTP status; 0 for a network error or a timeout. */
  status: number
  /** `'METHOD /path'` relative to `/api/v4`, without the query string, e.g. `'POST /posts'`. */
  endpoint: string
  /** Server error id (AppError `id`), or `'network'` for transport failures. */
  id?: string
  message: string
  detailedError?: string
  requestId?: string
  retryAfterMs?: number
  rateLimit?: RateLimitInfo
  cause?: unknown
}

/** Server id of the 500 returned while a post with the same `pending_post_id` is in flight (PROTOCOL §7.3). */
export const PENDING_POST_ERROR_ID = 'api.post.deduplicate_create_post.pending'
/** `id` given to transport failures: connection refused/reset, DNS, timeout. */
export const NETWORK_ERROR_ID = 'network'

/** A failed Mattermost call: a non-2xx answer, a 429, or a network error/timeout (`status` 0). */
export class MattermostError extends Error {
  override readonly name = 'MattermostError'
  readonly status: number
  readonly endpoint: string
  readonly id?: string
  readonly detailedError?: string
  readonly requestId?: string
  readonly retryAfterMs?: number
  readonly rateLimit?: RateLimitInfo

  constructor (init: MattermostErrorInit) {
    const what = init.id ? `${init.status} ${init.id}` : String(init.status)
    super(`${init.endpoint} failed (${what}): ${init.message}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.status = init.status
    this.endpoint = init.endpoint
    if (init.id !== undefined) this.id = init.id
    if (init.detailedError) this.detailedError = init.detailedError
    if (init.requestId) this.requestId = init.requestId
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs
    if (init.rateLimit) this.rateLimit = init.rateLimit
  }
}

export const isMattermostError = (err: unknown): err is MattermostError => err instanceof MattermostError

/**
 * True when the same request may succeed later: network errors and timeouts, 408, 429, and 5xx
 * except 501 (a disabled feature, e.g. `app.user_access_token.disabled`). Includes the
 * `pending_post_id` 500: retried after the first attempt settles, Mattermost returns the original
 * post (PROTOCOL §7.3). Decides by status and id only. False for anything not a MattermostError.
 */
export function isRetryable (err: unknown): boolean {
  if (!isMattermostError(err)) return false
  const { status } = err
  return status === 0 || status === 408 || status === 429 || (status >= 500 && status !== 501)
}

/**
 * True when retrying cannot help: any other 4xx (bad input, 401 revoked token, 403, 404, name
 * taken…) and 501. The worker turns these into BullMQ `UnrecoverableError`. False for errors that
 * are not MattermostErrors (unknown failures keep the queue's own retry policy).
 */
export function isPermanent (err: unknown): boolean {
  if (!isMattermostError(err)) return false
  const { status } = err
  return (status >= 400 && status < 500 && status !== 408 && status !== 429) || status === 501
}

/** Whether `call` retries by itself: transport errors, 429, 502–504, and 500 unless it is the pending-post 500. */
export function isRetriedInCall (err: MattermostError): boolean {
  if (err.status === 500) return err.id !== PENDING_POST_ERROR_ID
  return err.status === 0 || err.status === 429 || err.status === 502 || err.status === 503 || err.status === 504
}

const headerNumber = (headers: Headers, name: string): number | undefined => {
  const raw = headers.get(name)
  if (raw === null || raw.trim() === '') return undefined
  const n = Number(raw)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/**
 * Reads `X-Ratelimit-*` and `Retry-After` (case-insensitive, as `Headers` is). Mattermost sends
 * reset and Retry-After in seconds from now, rounded up (PROTOCOL §2).
 */
export function readRateLimit (headers: Headers): { rateLimit?: RateLimitInfo, retryAfterMs?: number } {
  const limit = headerNumber(headers, 'x-ratelimit-limit')
  const remaining = headerNumber(headers, 'x-ratelimit-remaining')
  const reset = headerNumber(headers, 'x-ratelimit-reset')
  const retryAfter = headerNumber(headers, 'retry-after') ?? reset
  return {
    ...(limit !== undefined && remaining !== undefined && reset !== undefined &&
      { rateLimit: { limit, remaining, resetMs: reset * 1000 } }),
    ...(retryAfter !== undefined && { retryAfterMs: retryAfter * 1000 })
  }
}

/** Fields of Mattermost's AppError body that we keep (PROTOCOL §1.1). */
interface AppErrorBody { id?: unknown, message?: unknown, detailed_error?: unknown, request_id?: unknown }

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/**
 * Builds the error for a non-2xx response. `body` is the parsed JSON (AppError) or the raw text
 * (a 429 is plain `limit exceeded`). `secrets` are scrubbed from every text the server sent back,
 * in case a proxy or server ever echoes a token.
 */
export function errorFromResponse (endpoint: string, res: Response, body: unknown, secrets: string[]): MattermostError {
  const app: AppErrorBody = typeof body === 'object' && body !== null ? body as AppErrorBody : {}
  const text = typeof body === 'string' ? body.trim() : undefined
  const scrub = (s: string | undefined) => s && secrets.reduce((acc, secret) => secret ? acc.split(secret).join('[redacted]') : acc, s)
  const { rateLimit, retryAfterMs } = readRateLimit(res.headers)
  return new MattermostError({
    status: res.status,
    endpoint,
    id: scrub(str(app.id)),
    message: scrub(str(app.message) ?? (text || res.statusText || 'request failed')) as string,
    detailedError: scrub(str(app.detailed_error)),
    requestId: str(app.request_id) ?? res.headers.get('x-request-id') ?? undefined,
    ...(res.status === 429 && { retryAfterMs, rateLimit }),
    ...(res.status !== 429 && rateLimit && { rateLimit })
  })
}

/** Wraps a fetch failure (refused, reset, DNS, `AbortSignal.timeout`) as status 0, id `'network'`. */
export function networkError (endpoint: string, cause: unknown, timeoutMs: number): MattermostError {
  const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
  const reason = timedOut
    ? `no response within ${timeoutMs} ms`
    : (cause instanceof Error && typeof (cause as { cause?: { code?: unknown } }).cause?.code === 'string'
        ? `network error (${(cause as { cause: { code: string } }).cause.code})`
        : 'network error')
  return new MattermostError({ status: 0, id: NETWORK_ERROR_ID, endpoint, message: reason, cause })
}
