import t from 'tap'
import { build, reconnectRedis } from '../helper.js'

t.test('health and readiness', async (t) => {
  const { app } = await build(t)
  const live = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', postgres: 'ok', redis: 'ok' })
})

t.test('readiness names the unreachable dependency', async (t) => {
  const { app, redis } = await build(t)
  redis.disconnect()
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'not ready', postgres: 'ok', redis: 'unreachable' })
  await reconnectRedis(redis)
})

t.test('unknown routes answer 404 in the error envelope; docs are served', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { statusCode: 404, error: 'Not Found', code: 'PARLEY_ROUTE_NOT_FOUND' })
  const doc = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(doc.statusCode, 200)
  t.ok(doc.json().paths['/api/notifications/send'], 'the OpenAPI document lists the send endpoint')
})

t.test('a known path with the wrong method answers 405 with Allow', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'DELETE', url: '/api/notifications/send' })
  t.equal(res.statusCode, 405)
  t.match(res.headers.allow, /POST/)
  t.match(res.json(), { statusCode: 405, code: 'PARLEY_METHOD_NOT_ALLOWED' })
  const param = await app.inject({ method: 'PUT', url: '/api/notifications/00000000-0000-4000-8000-000000000000' })
  t.equal(param.statusCode, 405, 'also for paths with parameters')
  t.equal((await app.inject({ method: 'GET', url: '/api/nothing/here' })).statusCode, 404)
})

t.test('oversize bodies 413, unsupported media 415', async (t) => {
  const { app } = await build(t)
  const big = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'x', password: 'y'.repeat(2 * 1024 * 1024) }) })
  t.equal(big.statusCode, 413)
  const xml = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/xml' }, payload: '<login/>' })
  t.equal(xml.statusCode, 415)
  t.match(xml.json(), { statusCode: 415, error: 'Unsupported Media Type' })
})

