/**
 * The HTTP transport's retry policy against a tiny local stub of `POST /api/notifications/send`:
 * 429/503 are retried honouring Retry-After (capped), 4xx never, time-outs are bounded.
 */
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createParleyClient, ParleyError, ParleyHttpError, ParleyRequestError, type HttpTransportOptions } from '../src/index.js'
import { retryAfterMs } from '../src/http-transport.js'
import { borrowInput } from './helpers.js'

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void
interface Seen { at: number, authorization?: string, contentType?: string, body: unknown, url?: string }

/** A stub API: `handlers[i]` answers the i-th request (the last one repeats). */
async function stub (t: Test, handlers: Handler[]) {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (d) => { raw += d })
    req.on('end', () => {
      const n = seen.length
      seen.push({ at: Date.now(), authorization: req.headers.authorization, contentType: req.headers['content-type'], body: JSON.parse(raw || 'null'), url: req.url })
      handlers[Math.min(n, handlers.length - 1)](req, res, n)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const options = (over: Partial<HttpTransportOptions> = {}): HttpTransportOptions =>
    ({ transport: 'http', baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'prl_test_key', ...over })
  return { seen, options }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}
const accepted = (body: { requestId: unknown, userId: unknown }) =>
  json(202, { notificationId: '6f1c2f7e-1111-4c3b-9c1d-2b8e6c1d0a01', status: 'queued', idempotencyKey: `notification:BORROW:${body.requestId}:${body.userId}` })
const envelope = (statusCode: number, error: string, code: string, message: string) => ({ statusCode, error, code, message })

t.test('503 is retried honouring Retry-After, then the answer is returned', async (t) => {
  const input = borrowInput('john.doe')
  const s = await stub(t, [
    json(503, envelope(503, 'Service Unavailable', 'UNAVAILABLE', 'busy'), { 'retry-after': '0' }),
    json(503, envelope(503, 'Service Unavailable', 'UNAVAILABLE', 'busy'), { 'retry-after': '1' }),
    accepted(input)
  ])
  const client = createParleyClient(s.options())
  t.teardown(() => client.close())
  const result = await client.sendBorrowApprovalNotification(input)
  t.same(result, { notificationId: '6f1c2f7e-1111-4c3b-9c1d-2b8e6c1d0a01', status: 'queued', idempotencyKey: `notification:BORROW:${input.requestId}:${input.userId}` })
  t.equal(s.seen.length, 3, 'two retries')
  t.ok(s.seen[2].at - s.seen[1].at >= 950, `waited the 1 s Retry-After asked (${s.seen[2].at - s.seen[1].at} ms)`)
  for (const r of s.seen) {
    t.same(r.body, { ...input, action: 'BORROW' }, 'the seed body with its action')
    t.equal(r.authorization, 'Bearer prl_test_key')
    t.equal(r.contentType, 'application/json')
    t.equal(r.url, '/api/notifications/send')
  }
})

t.test('429 is retried; a long Retry-After is capped at maxRetryDelayMs', async (t) => {
  const input = borrowInput('john.doe')
  const s = await stub(t, [json(429, envelope(429, 'Too Many Requests', 'RATE_LIMITED', 'slow down'), { 'retry-after': '3600' }), accepted(input)])
  const client = createParleyClient(s.options({ maxRetryDelayMs: 200 }))
  t.teardown(() => client.close())
  t.equal((await client.sendBorrowApprovalNotification(input)).status, 'queued')
  t.equal(s.seen.length, 2)
  const waited = s.seen[1].at - s.seen[0].at
  t.ok(waited >= 150 && waited < 3000, `waited the cap, not an hour (${waited} ms)`)
})

t.test('a 502 from a proxy is retried like a 503', async (t) => {
  const input = borrowInput('john.doe')
  const s = await stub(t, [(_req, res) => { res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>') }, accepted(input)])
  const client = createParleyClient(s.options())
  t.teardown(() => client.close())
  t.equal((await client.sendBorrowApprovalNotification(input)).status, 'queued')
  t.equal(s.seen.length, 2)
})

t.test('a 200 that is not Parley\'s answer is an error, not a result', async (t) => {
  const s = await stub(t, [(_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>') }])
  const client = createParleyClient(s.options())
  t.teardown(() => client.close())
  await t.rejects(client.sendBorrowApprovalNotification(borrowInput('john.doe')), { name: 'ParleyHttpError', statusCode: 200, message: /unexpected answer body/ })
})

t.test('a 200 duplicate is passed through', async (t) => {
  const input = borrowInput('john.doe')
  const key = `notification:BORROW:${input.requestId}:${input.userId}`
  const s = await stub(t, [json(200, { notificationId: '6f1c2f7e-1111-4c3b-9c1d-2b8e6c1d0a01', status: 'duplicate', idempotencyKey: key })])
  const client = createParleyClient(s.options())
  t.teardown(() => client.close())
  t.same(await client.sendBorrowApprovalNotification(input), { notificationId: '6f1c2f7e-1111-4c3b-9c1d-2b8e6c1d0a01', status: 'duplicate', idempotencyKey: key })
})

t.test('400 and other 4xx are never retried; the API\'s message is kept', async (t) => {
  for (const [status, error, code] of [[400, 'Bad Request', 'BAD_REQUEST'], [401, 'Unauthorized', 'UNAUTHORIZED'], [403, 'Forbidden', 'FORBIDDEN'], [409, 'Conflict', 'CONFLICT']] as const) {
    const s = await stub(t, [json(status, envelope(status, error, code, `refused with ${status}`)), accepted({ requestId: 0, userId: 0 })])
    const client = createParleyClient(s.options())
    const err = await client.sendBorrowApprovalNotification(borrowInput('john.doe')).catch((e: unknown) => e)
    await client.close()
    t.ok(err instanceof ParleyHttpError, `${status}: a ParleyHttpError`)
    t.match(err, { statusCode: status, code, attempts: 1, message: `Parley answered ${status}: refused with ${status}` })
    t.notMatch((err as Error).message, /prl_test_key/, 'the API key is not in the error')
    t.equal(s.seen.length, 1, `${status}: one request, no retry`)
  }
})

t.test('503 for good: maxRetries retries, then the error', async (t) => {
  const s = await stub(t, [json(503, envelope(503, 'Service Unavailable', 'UNAVAILABLE', 'Notifications are not configured'), { 'retry-after': '0' })])
  const client = createParleyClient(s.options({ maxRetries: 2 }))
  t.teardown(() => client.close())
  await t.rejects(client.sendBorrowApprovalNotification(borrowInput('john.doe')), { name: 'ParleyHttpError', statusCode: 503, attempts: 3, message: /not configured/ })
  t.equal(s.seen.length, 3)
})

t.test('a request without an answer times out; time-outs are retried, then reported', async (t) => {
  const s = await stub(t, [() => { /* never answers */ }])
  const client = createParleyClient(s.options({ timeoutMs: 150, maxRetries: 1 }))
  t.teardown(() => client.close())
  const started = Date.now()
  const err = await client.sendBorrowApprovalNotification(borrowInput('john.doe')).catch((e: unknown) => e)
  t.ok(err instanceof ParleyRequestError)
  t.match(err, { reason: 'timeout', attempts: 2, message: /did not answer within 150 ms/ })
  t.equal(s.seen.length, 2)
  t.ok(Date.now() - started < 5_000, 'bounded by the time-outs')
})

t.test('close() stops a retry wait at once', async (t) => {
  const s = await stub(t, [json(503, envelope(503, 'Service Unavailable', 'UNAVAILABLE', 'busy'), { 'retry-after': '30' })])
  const client = createParleyClient(s.options())
  const sending = client.sendBorrowApprovalNotification(borrowInput('john.doe')).catch((e: unknown) => e)
  await new Promise<void>((resolve) => { const poll = setInterval(() => { if (s.seen.length) { clearInterval(poll); resolve() } }, 5) })
  const started = Date.now()
  await client.close()
  const err = await sending
  t.ok(err instanceof ParleyError && /closed/.test((err as Error).message), 'rejects with "closed"')
  t.ok(Date.now() - started < 1_000, 'without waiting out Retry-After')
  await t.rejects(client.sendBorrowApprovalNotification(borrowInput('john.doe')), { message: /closed/ }, 'later sends are refused')
})

t.test('Retry-After: delta-seconds or an HTTP date', async (t) => {
  const now = Date.parse('2026-01-10T12:00:00Z')
  t.equal(retryAfterMs('2', now), 2000)
  t.equal(retryAfterMs('Sat, 10 Jan 2026 12:00:05 GMT', now), 5000)
  t.equal(retryAfterMs('Sat, 10 Jan 2026 11:00:00 GMT', now), 0, 'a past date: at once')
  t.equal(retryAfterMs('soon', now), undefined)
  t.equal(retryAfterMs(null, now), undefined)
})

t.test('options are checked when the client is created', async (t) => {
  t.throws(() => createParleyClient({ transport: 'http', baseUrl: 'parley.example.com', apiKey: 'k' }), /baseUrl must be an http\(s\) URL/)
  t.throws(() => createParleyClient({ transport: 'http', baseUrl: 'http://x', apiKey: '' }), /apiKey is required/)
  t.throws(() => createParleyClient({ transport: 'smtp' } as never), /transport must be 'queue' or 'http'/)
})
