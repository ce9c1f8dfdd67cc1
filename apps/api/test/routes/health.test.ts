import t from 'tap'
import { build } from '../helper.js'

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
  await redis.connect()
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
