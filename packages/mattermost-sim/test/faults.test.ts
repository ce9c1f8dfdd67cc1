import t from 'tap'
import { call, seed, start } from './helper.js'

t.test('rateLimitNext answers 429 in plain text with rate-limit headers (§2)', async (t) => {
  const sim = await start(t)
  const { botToken } = seed(sim)
  sim.faults.rateLimitNext('GET /api/v4/users/{user_id}', { count: 2, resetSeconds: 3 })
  for (let i = 0; i < 2; i++) {
    const res = await call(sim, 'GET', '/api/v4/users/me', botToken)
    t.equal(res.status, 429)
    t.equal(res.text, 'limit exceeded\n')
    t.equal(res.headers.get('content-type'), 'text/plain')
    t.equal(res.headers.get('retry-after'), '3', 'seconds from now')
    t.equal(res.headers.get('x-ratelimit-reset'), '3')
    t.equal(res.headers.get('x-ratelimit-remaining'), '0')
    t.ok(Number(res.headers.get('x-ratelimit-limit')) > 0)
  }
  t.equal((await call(sim, 'GET', '/api/v4/users/me', botToken)).status, 200, 'only the next `count` calls')
  t.equal((await call(sim, 'GET', '/api/v4/system/ping')).status, 200, 'other routes untouched')
  t.equal(sim.calls[0].status, 429, 'recorded with its status')
})

t.test('GCRA limiter (RateLimitSettings)', async (t) => {
  const sim = await start(t, { rateLimit: { perSec: 0.25, maxBurst: 2 } })
  const { botToken } = seed(sim)
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const res = await call(sim, 'GET', '/api/v4/users/me', botToken)
    statuses.push(res.status)
    t.equal(res.headers.get('x-ratelimit-limit'), '3')
    if (res.status === 429) {
      t.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After in whole seconds from now')
      t.equal(res.text, 'limit exceeded\n')
    }
  }
  t.same(statuses, [200, 200, 200, 429], 'burst of maxBurst + 1, then limited')
})

t.test('failNext, down and latency', async (t) => {
  const sim = await start(t, { latencyMs: 0 })
  const { botToken, channel } = seed(sim)
  sim.faults.failNext('POST /api/v4/posts', { status: 502, count: 2 })
  sim.faults.failNext('*', { status: 500, id: 'app.custom.error' })
  const a = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x' })
  t.equal(a.status, 502)
  t.equal(a.headers.get('content-type'), 'application/json')
  t.match(a.body, { id: 'api.sim.injected_fault.app_error', status_code: 502, request_id: a.headers.get('x-request-id') })
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x' })).status, 502)
  t.same(sim.calls[0].body, { channel_id: channel.id, message: 'x' }, 'a failed call still records its body')
  t.equal(sim.calls[0].status, 502)
  const wildcard = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x' })
  t.equal(wildcard.status, 500)
  t.equal(wildcard.body.id, 'app.custom.error')
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x' })).status, 201)
  t.equal(sim.getPosts(channel.id).length, 1, 'failed calls had no effect')

  sim.faults.down(true)
  const down = await call(sim, 'GET', '/api/v4/system/ping')
  t.equal(down.status, 503)
  t.equal(down.body.status_code, 503)
  sim.faults.down(false)
  t.equal((await call(sim, 'GET', '/api/v4/system/ping')).status, 200)

  sim.faults.latencyMs = 60
  const t0 = Date.now()
  await call(sim, 'GET', '/api/v4/system/ping')
  t.ok(Date.now() - t0 >= 55, 'latency added')
  sim.faults.latencyMs = 0

  t.equal(sim.callCount('POST /api/v4/posts'), 4)
  t.equal(sim.callCount(), 7)
  sim.resetCalls()
  t.equal(sim.callCount(), 0)
  t.equal(sim.calls.length, 0)
})

t.test('/__sim control endpoints', async (t) => {
  const sim = await start(t)
  const { bot, botToken, team, channel, alice } = seed(sim)
  const post = (path: string, body: unknown) => fetch(sim.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  const dmRes = await post('/__sim/direct', { userIds: [alice.id, bot.id] })
  t.equal(dmRes.status, 201)
  const dm = await dmRes.json() as any
  t.equal(dm.type, 'D')
  t.equal((await post('/__sim/post', { userId: alice.id, channelId: dm.id, message: 'hi' })).status, 201)
  const posts = await (await fetch(`${sim.url}/__sim/posts?channel_id=${dm.id}`)).json() as any[]
  t.same(posts.map((p: any) => p.message), ['hi'])
  t.same(await (await fetch(`${sim.url}/__sim/channel-members?channel_id=${channel.id}`)).json(), [bot.id])

  await call(sim, 'GET', '/api/v4/users/me', botToken)
  const counts = await (await fetch(`${sim.url}/__sim/calls`)).json()
  t.same(counts, { total: 1, routes: { 'GET /api/v4/users/{user_id}': 1 } }, '__sim calls are not recorded')
  await post('/__sim/calls/reset', {})
  t.equal(sim.callCount(), 0)

  const seeded = await (await post('/__sim/seed/users', { users: Array.from({ length: 300 }, (_, i) => ({ username: `bulk${i}` })), teamId: team.id, tokens: true })).json() as any
  t.equal(seeded.users.length, 300)
  t.equal(sim.getTeamMembers(team.id).length, 303, 'bulk joins ignore MaxUsersPerTeam')
  t.equal(sim.whoAmI(seeded.users[0].token)?.username, 'bulk0')
  t.equal((await post('/__sim/seed/users', { users: [{ username: 'bulk0' }] })).status, 400)

  await post('/__sim/faults', { failNext: { route: 'GET /api/v4/system/ping', status: 500 }, latencyMs: 0 })
  t.equal((await call(sim, 'GET', '/api/v4/system/ping')).status, 500)
  await post('/__sim/faults', { rateLimitNext: { route: '*', resetSeconds: 2 } })
  t.equal((await call(sim, 'GET', '/api/v4/system/ping')).headers.get('retry-after'), '2')
  await post('/__sim/faults', { down: true })
  t.equal((await call(sim, 'GET', '/api/v4/system/ping')).status, 503)
  await post('/__sim/faults', { down: false })

  const config = await (await post('/__sim/config', { EnableUserAccessTokens: true, MaxUsersPerTeam: 10 })).json()
  t.same(config, { MaxUsersPerTeam: 10, EnableUserAccessTokens: true, RestrictDirectMessage: 'any' })
  t.equal(sim.config.EnableUserAccessTokens, true)
})
