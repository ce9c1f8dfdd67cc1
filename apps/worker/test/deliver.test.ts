import t from 'tap'
import { assertSpecValid, pipeline, until } from './harness.js'
import { borrowBody } from '../../api/test/fixtures-notifications.js'
import { uniq } from '../../../test/env.js'

const ret = (username: string, over: Record<string, unknown> = {}) =>
  borrowBody({ action: 'RETURN', startDate: undefined, endDate: undefined, returnDate: '2026-01-20', mattermostUsername: username, ...over })

t.test('channel path: a user who never wrote to the bot gets an @mention in the notification channel', async (t) => {
  const p = await pipeline(t)
  const { sim, channelId, teamId } = p.mm
  const alice = p.mm.user()
  // Not even a team member yet: the worker must add to the team, then the channel.
  sim.config.MaxUsersPerTeam = 1000
  const accepted = (await p.send(borrowBody({ mattermostUsername: alice.username.toUpperCase() }))).json()
  const n = await p.settled(accepted.notificationId)
  t.match(n, { status: 'delivered', delivery: 'channel', attempts: 1, lastError: null })
  const post = sim.getPosts(channelId).find(x => x.id === n.mattermostPostId)!
  t.ok(post, 'the post is in the notification channel')
  t.equal(post.user_id, p.mm.bot.id, 'posted as the bot')
  t.match(post.message, new RegExp(`^@${alice.username} Your device borrowing request has been approved`))
  t.match(post.message, /\[View details\]\(https:\/\/devices\.example\.com\/requests\//)
  t.equal(post.props?.parley_notification_id, n.id, 'the post names the notification')
  t.equal(post.pending_post_id, `parley-${n.id}`)
  t.ok(sim.getChannelMembers(channelId).includes(alice.id), 'added to the channel')
  t.ok(sim.getTeamMembers(teamId).includes(alice.id), 'and to its team')

  t.test('a known user costs one Mattermost call per notification', async (t) => {
    sim.resetCalls()
    const ids = []
    for (let i = 0; i < 5; i++) ids.push((await p.send(borrowBody({ mattermostUsername: alice.username }))).json().notificationId)
    for (const id of ids) t.equal((await p.settled(id)).delivery, 'channel')
    t.equal(sim.callCount(), 5, `5 notifications, ${sim.callCount()} calls: ${[...new Set(sim.calls.map(c => c.route))].join(', ')}`)
    t.equal(sim.callCount('POST /api/v4/posts'), 5)
  })

  t.test('a user already in the channel is not added again', async (t) => {
    const bob = p.mm.user({ inChannel: true })
    sim.resetCalls()
    const n = await p.settled((await p.send(borrowBody({ mattermostUsername: bob.username }))).json().notificationId)
    t.equal(n.delivery, 'channel')
    t.equal(sim.callCount('POST /api/v4/channels/{channel_id}/members'), 0)
    t.equal(sim.callCount('POST /api/v4/teams/{team_id}/members'), 0)
    t.equal(sim.callCount('GET /api/v4/channels/{channel_id}/members/{user_id}'), 1, 'one membership check, then cached')
  })

  t.test('the detailed DM after the user wrote to the bot; the welcome comes once', async (t) => {
    await until(async () => (await p.api.app.inject({ method: 'GET', url: '/api/notifications/status', headers: p.key.headers })).json().websocket.state === 'open' || undefined)
    const dm = sim.openDirectChannel(alice.id, p.mm.bot.id)
    sim.postAsUser(alice.id, dm.id, 'hello bot')
    const welcome = await until(() => sim.getPosts(dm.id).find(x => x.user_id === p.mm.bot.id))
    t.match(welcome.message, /Thanks for writing/)
    sim.postAsUser(alice.id, dm.id, 'second message')
    const n = await p.settled((await p.send(ret(alice.username))).json().notificationId)
    t.match(n, { status: 'delivered', delivery: 'dm' })
    const dmPost = sim.getPosts(dm.id).find(x => x.id === n.mattermostPostId)!
    t.match(dmPost.message, /Device return confirmed/)
    t.match(dmPost.message, /\| \*\*Asset tag\*\* \| DEV-001 \|/)
    t.match(dmPost.message, /\| \*\*Returned on\*\* \| 2026-01-20 \|/)
    t.match(dmPost.message, /\| \*\*Status\*\* \| Returned \|/)
    t.equal(sim.getPosts(dm.id).filter(x => x.user_id === p.mm.bot.id && x.props?.parley_welcome_for).length, 1, 'one welcome, ever')
    const users = await p.api.app.inject({ method: 'GET', url: '/api/notifications/users?limit=200', headers: (await p.api.admin()).headers })
    t.match(users.json().items.find((u: { mmUserId: string }) => u.mmUserId === alice.id), { dmReady: true, dmChannelId: dm.id })
  })

  t.test('the status names the bot and the socket', async (t) => {
    const s = (await p.api.app.inject({ method: 'GET', url: '/api/notifications/status', headers: p.key.headers })).json()
    t.match(s, { configured: true, initialized: true, botUser: { id: p.mm.bot.id }, websocket: { state: 'open' } })
    t.ok(s.websocket.lastEventAt, 'last event time is reported')
  })

  t.test('every request was valid', async (t) => assertSpecValid(t, sim))
})

t.test('policy "always" sends DMs to users who never wrote', async (t) => {
  const p = await pipeline(t, { worker: { env: { NOTIFY_DM_POLICY: 'always' } } })
  const carol = p.mm.user()
  const n = await p.settled((await p.send(borrowBody({ mattermostUsername: carol.username }))).json().notificationId)
  t.match(n, { status: 'delivered', delivery: 'dm' })
  const dm = p.mm.sim.findDirectChannel(carol.id, p.mm.bot.id)!
  t.ok(dm.id, 'a direct channel was opened by the bot')
  t.match(p.mm.sim.getPosts(dm.id).find(x => x.id === n.mattermostPostId)?.message, /Borrow period\*\* \| 2026-01-10 → 2026-02-10/)
})

t.test('a permanent 4xx fails the notification at once with Mattermost\'s error id', async (t) => {
  const p = await pipeline(t)
  const username = `nosuch${uniq()}`
  const n = await p.settled((await p.send(borrowBody({ mattermostUsername: username }))).json().notificationId)
  t.match(n, { status: 'failed', attempts: 1, lastErrorId: 'app.user.get_by_username.app_error', lastError: /404/ })
  const admin = await p.api.admin()
  p.mm.sim.createUser({ username })
  const retried = await p.api.app.inject({ method: 'POST', url: `/api/notifications/${n.id}/retry`, headers: admin.headers })
  t.equal(retried.statusCode, 202, 'an admin retries it after fixing the cause')
  t.match(await p.settled(n.id), { status: 'delivered', delivery: 'channel' })
})

t.test('a cached recipient whose Mattermost account is gone is looked up again', async (t) => {
  const p = await pipeline(t)
  const u = p.mm.user({ inChannel: true })
  t.equal((await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)).status, 'delivered')
  // The cache points at an account that no longer exists (deleted and re-created with the same username).
  await p.api.sql`update mattermost_recipients set mm_user_id = ${'x'.repeat(26)}, member_of_channel_id = null where username = ${u.username}`
  const n = await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId, 20_000)
  t.match(n, { status: 'delivered', delivery: 'channel' }, 'delivered to the account the username belongs to now')
  const [row] = await p.api.sql`select mm_user_id from mattermost_recipients where username = ${u.username}`
  t.equal(row.mm_user_id, u.id, 'the cache was corrected')
})

t.test('POST /api/notifications/initialize asks the worker to check the bot and the channel', async (t) => {
  const p = await pipeline(t, { worker: { listener: false } })
  const admin = await p.api.admin()
  t.equal((await p.api.app.inject({ method: 'POST', url: '/api/notifications/initialize', headers: p.key.headers })).statusCode, 403, 'API keys may not')
  t.equal((await p.api.app.inject({ method: 'POST', url: '/api/notifications/initialize' })).statusCode, 401)
  const res = await p.api.app.inject({ method: 'POST', url: '/api/notifications/initialize', headers: admin.headers })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { initialized: true, botUser: { id: p.mm.bot.id } })
  const again = await Promise.all([1, 2].map(() => p.api.app.inject({ method: 'POST', url: '/api/notifications/initialize', headers: admin.headers })))
  t.same(again.map(r => r.statusCode), [200, 200], 'concurrent initialisations each get their own answer')
})

t.test('POST /api/notifications/initialize answers 503 with the reason when the worker cannot initialise', async (t) => {
  const p = await pipeline(t, { worker: { listener: false, env: { MATTERMOST_NOTIFICATION_CHANNEL_ID: 'nochannel0000000000000000a' } } })
  const admin = await p.api.admin()
  const res = await p.api.app.inject({ method: 'POST', url: '/api/notifications/initialize', headers: admin.headers })
  t.equal(res.statusCode, 503)
  t.match(res.json().message, /^Initialisation failed: .*nochannel0000000000000000a/)
})

t.test('the worker-wide Mattermost rate limit spaces the requests', async (t) => {
  const p = await pipeline(t, { worker: { listener: false, env: { MATTERMOST_RATE_LIMIT_PER_SEC: '4' } } })
  const u = p.mm.user({ inChannel: true })
  await p.settled((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)
  p.mm.sim.resetCalls()
  const ids = []
  for (let i = 0; i < 12; i++) ids.push((await p.send(borrowBody({ mattermostUsername: u.username }))).json().notificationId)
  for (const id of ids) t.equal((await p.settled(id, 30_000)).status, 'delivered')
  const at = p.mm.sim.calls.filter(c => c.route === 'POST /api/v4/posts').map(c => c.at)
  const spread = Math.max(...at) - Math.min(...at)
  t.ok(spread >= 1_500, `12 posts at 4/s took ${spread} ms`)
})
