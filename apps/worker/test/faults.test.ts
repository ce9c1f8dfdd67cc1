import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { acceptNotification } from '@parley/db'
import { pipeline, seededSimulator, startWorker, until, workerConfig } from './harness.js'
import { borrowBody } from '../../api/test/fixtures-notifications.js'
import { build } from '../../api/test/helper.js'

t.test('Mattermost down, then back: the notification is delivered', async (t) => {
  const p = await pipeline(t)
  const u = p.mm.user({ inChannel: true })
  p.mm.sim.faults.down(true)
  const id = (await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId
  const failedOnce = await until(async () => { const n = await p.get(id); return n.attempts >= 1 && n.lastError ? n : undefined })
  t.match(failedOnce, { status: 'queued', lastError: /503/ }, 'a 503 is recorded and retried, not failed')
  p.mm.sim.faults.down(false)
  const n = await p.settled(id, 20_000)
  t.match(n, { status: 'delivered', delivery: 'channel', lastError: null })
  t.equal(p.mm.sim.getPosts(p.mm.channelId).filter(x => x.props?.parley_notification_id === id).length, 1)
})

t.test('a 429 is honoured: the retry waits for the announced reset', async (t) => {
  const p = await pipeline(t)
  const u = p.mm.user({ inChannel: true })
  // Warm the caches so the post is the only call.
  await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)
  p.mm.sim.resetCalls()
  p.mm.sim.faults.rateLimitNext('POST /api/v4/posts', { count: 1, resetSeconds: 1 })
  const n = await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)
  t.equal(n.status, 'delivered')
  const posts = p.mm.sim.calls.filter(c => c.route === 'POST /api/v4/posts')
  t.same(posts.map(c => c.status), [429, 201])
  t.ok(posts[1].at - posts[0].at >= 900, `waited ${posts[1].at - posts[0].at} ms for a 1 s reset`)
})

t.test('a worker killed between post and acknowledgement does not post twice', async (t) => {
  const mm = await seededSimulator(t, { pendingPostTtlMs: 100 })
  const api = await build(t, { MATTERMOST_URL: mm.sim.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId })
  const key = await api.apiKey(['notifications:send'])
  const u = mm.user({ inChannel: true })
  const config = workerConfig(mm, api.config.QUEUE_PREFIX)
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/test/fixtures/worker-process.ts'], {
    env: { ...process.env, DATABASE_URL: config.DATABASE_URL, REDIS_URL: config.REDIS_URL, QUEUE_PREFIX: config.QUEUE_PREFIX, MATTERMOST_URL: mm.sim.url, MATTERMOST_BOT_TOKEN: mm.bot.token, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()))

  mm.sim.faults.holdPosts(true)
  const id = (await api.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: borrowBody({ mattermostUsername: u.username }) })).json().notificationId
  // The last call before the post is the membership check; then the post request reaches the held handler.
  await until(() => mm.sim.calls.some(c => c.route === 'GET /api/v4/channels/{channel_id}/members/{user_id}') ? true : undefined)
  await new Promise(r => setTimeout(r, 300))
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  mm.sim.faults.holdPosts(false) // Mattermost finishes the post the dead worker sent
  await until(() => mm.sim.getPosts(mm.channelId).find(x => x.props?.parley_notification_id === id))
  await new Promise(r => setTimeout(r, 150)) // and forgets its pending_post_id (TTL shortened to 100 ms)

  await startWorker(t, mm, api.config.QUEUE_PREFIX, { listener: false })
  const n = await until(async () => { const [row] = await api.sql`select status, attempts, mattermost_post_id from notifications where id = ${id}`; return row.status === 'queued' ? undefined : row }, 15_000)
  t.equal(n.status, 'delivered')
  t.ok(n.attempts >= 2, `the crashed attempt is counted too (attempts ${n.attempts})`)
  const posts = mm.sim.getPosts(mm.channelId).filter(x => x.props?.parley_notification_id === id)
  t.equal(posts.length, 1, 'exactly one post')
  t.equal(n.mattermost_post_id, posts[0].id, 'the ledger points at the post the dead worker made')
})

t.test('a dropped WebSocket: a DM sent meanwhile is detected after reconnect', async (t) => {
  const p = await pipeline(t)
  const u = p.mm.user()
  await until(async () => p.worker.deps && (await p.api.app.inject({ method: 'GET', url: '/api/notifications/status', headers: p.key.headers })).json().websocket.state === 'open' || undefined)
  p.mm.sim.faults.down(true) // refuse reconnects for a while
  p.mm.sim.faults.dropWebSockets()
  const dm = p.mm.sim.openDirectChannel(u.id, p.mm.bot.id)
  p.mm.sim.postAsUser(u.id, dm.id, 'written while the bot was away')
  p.mm.sim.faults.down(false)
  const welcome = await until(() => p.mm.sim.getPosts(dm.id).find(x => x.user_id === p.mm.bot.id), 15_000)
  t.ok(welcome, 'the user was detected and welcomed after the reconnect')
  const n = await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)
  t.equal(n.delivery, 'dm')
})

t.test('two workers: one Mattermost socket; the other takes over when the holder stops', async (t) => {
  const p = await pipeline(t)
  const second = await startWorker(t, p.mm, p.api.config.QUEUE_PREFIX)
  await until(() => p.mm.sim.openWebSockets() === 1 || undefined)
  await new Promise(r => setTimeout(r, 600)) // several lock polls
  t.equal(p.mm.sim.openWebSockets(), 1, 'one listener across two workers')
  const status = (await p.api.app.inject({ method: 'GET', url: '/api/notifications/status', headers: p.key.headers })).json()
  const holder = status.websocket.holder
  t.ok(holder, 'the status names the holder')
  await p.worker.close()
  await until(async () => {
    const s = (await p.api.app.inject({ method: 'GET', url: '/api/notifications/status', headers: p.key.headers })).json()
    return s.websocket.holder !== holder && s.websocket.state === 'open' ? s : undefined
  }, 10_000)
  t.equal(p.mm.sim.openWebSockets(), 1, 'the second worker holds the socket now')
  const u = p.mm.user()
  const dm = p.mm.sim.openDirectChannel(u.id, p.mm.bot.id)
  p.mm.sim.postAsUser(u.id, dm.id, 'hi')
  t.ok(await until(() => p.mm.sim.getPosts(dm.id).find(x => x.user_id === p.mm.bot.id)), 'and detects DMs')
  await second.close()
})

t.test('nothing is lost across an API restart or a lost enqueue', async (t) => {
  const mm = await seededSimulator(t)
  const api1 = await build(t, { MATTERMOST_URL: mm.sim.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId })
  const key = await api1.apiKey(['notifications:send'])
  const u = mm.user({ inChannel: true })
  const id = (await api1.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: borrowBody({ mattermostUsername: u.username }) })).json().notificationId
  await api1.app.close()
  // A row whose enqueue was lost (Redis failed after the insert): only the ledger has it.
  const lost = await acceptNotification(api1.db, { idempotencyKey: `notification:BORROW:lost-${id}:1`, action: 'BORROW', requestId: `lost-${id}`, userId: '1', mattermostUsername: u.username, payload: borrowBody(), windowSeconds: 3600 })
  await api1.sql`update notifications set updated_at = now() - interval '10 minutes' where id = ${lost.notificationId}`

  const api2 = await build(t, { MATTERMOST_URL: mm.sim.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId, QUEUE_PREFIX: api1.config.QUEUE_PREFIX })
  const w = await startWorker(t, mm, api1.config.QUEUE_PREFIX, { listener: false })
  const get = async (nid: string) => (await api2.app.inject({ method: 'GET', url: `/api/notifications/${nid}`, headers: key.headers })).json()
  t.equal((await until(async () => { const n = await get(id); return n.status === 'queued' ? undefined : n })).status, 'delivered', 'accepted before the restart, delivered after')
  await w.deps.queues.notifications.add('sweep', {})
  t.equal((await until(async () => { const n = await get(lost.notificationId); return n.status === 'queued' ? undefined : n })).status, 'delivered', 'the sweep enqueued the lost row')
})
