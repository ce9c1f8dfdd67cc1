// The real client and socket against packages/mattermost-sim: endpoints, faults, tokens, WebSocket resume.
import { inspect } from 'node:util'
import { startSimulator, type Simulator } from '@parley/mattermost-sim'
import t, { type Test } from 'tap'
import {
  createMattermostClient, createMattermostSocket, isPermanent, isPostEvent, isRetryable,
  type MattermostClient, type MattermostSocket, type MattermostSocketOptions, type PostEvent
} from '../src/index.js'
import { next, rejection } from './helpers/await.js'

let sim: Simulator
let admin: MattermostClient
let botId: string
let botToken: string
let n = 0
const uniq = (prefix: string) => `${prefix}${process.pid}x${++n}`

t.before(async () => {
  sim = await startSimulator({ port: 0, config: { EnableUserAccessTokens: true }, validate: true, pendingPostTtlMs: 2_000 })
  const bot = sim.createBot({ username: 'parley-bot', roles: 'system_admin system_user' })
  botId = bot.user.id
  botToken = bot.token
  admin = createMattermostClient({ baseUrl: sim.url, token: botToken, retryBaseMs: 1 })
})
t.teardown(() => sim.close())
t.beforeEach(() => {
  sim.faults.latencyMs = 0
  sim.faults.down(false)
  sim.resetCalls()
})


/** Every request the client sent, and every answer, matched the OpenAPI spec. */
const specClean = (t: Test) => {
  for (const c of sim.calls) {
    t.same(c.requestErrors ?? [], [], `request ${c.route} matches the spec`)
    if (c.status < 300) t.same(c.responseErrors ?? [], [], `response ${c.route} matches the spec`)
  }
}

t.test('provisioning round trip: users, tokens, teams, channels, posts', async (t) => {
  const name = uniq('alice')
  const alice = await admin.createUser({ username: name, email: `${name}@example.com`, password: 'Passw0rd!x', first_name: 'Alice' })
  t.equal(alice.username, name)
  t.same((await admin.getUserByUsername(name)).id, alice.id)
  t.same((await admin.getUsersByUsernames([name, 'nobody-here'])).map((u) => u.id), [alice.id])
  t.same((await admin.getUsersByIds([alice.id])).map((u) => u.username), [name])
  t.equal((await admin.patchUser(alice.id, { nickname: 'ally' })).nickname, 'ally')

  const pat = await admin.createUserAccessToken(alice.id, 'parley')
  t.equal(pat.user_id, alice.id)
  t.type(pat.token, 'string')
  const asAlice = { token: pat.token }
  t.equal((await admin.getMe(asAlice)).id, alice.id, 'the per-call token acts as alice')
  t.equal(sim.calls.at(-1)?.token, pat.token)
  t.same((await admin.getUserAccessTokens(alice.id)).map((x) => x.id), [pat.id])

  const team = await admin.createTeam({ name: uniq('team'), display_name: 'Team', type: 'I' })
  t.same(await admin.getTeamByName(team.name), await admin.getTeam(team.id))
  await admin.addTeamMember(team.id, alice.id)
  const again = await admin.addTeamMember(team.id, alice.id)
  t.equal(again.user_id, alice.id, 'adding twice answers with the existing membership')
  t.same((await admin.getTeamMembersByIds(team.id, [alice.id])).map((m) => m.user_id), [alice.id])
  t.ok((await admin.getTeamMembers(team.id, { perPage: 200 })).some((m) => m.user_id === alice.id))

  const channel = await admin.createChannel({ team_id: team.id, name: uniq('room'), display_name: 'Room', type: 'P' })
  t.equal((await admin.getChannelByName(team.id, channel.name)).id, channel.id)
  t.equal(await admin.getChannelMember(channel.id, alice.id), undefined)
  await admin.addChannelMember(channel.id, alice.id)
  t.equal((await admin.getChannelMember(channel.id, alice.id))?.user_id, alice.id)
  t.ok((await admin.getChannelsForUser(alice.id, team.id, asAlice)).some((c) => c.id === channel.id))
  t.ok((await admin.getAllChannelsForUser(alice.id, asAlice)).some((c) => c.id === channel.id))

  const since = Date.now() - 1
  const post = await admin.createPost({ channel_id: channel.id, message: 'hello from alice' }, asAlice)
  t.equal(post.user_id, alice.id)
  t.same(await admin.getPost(post.id), post)
  t.ok((await admin.getPostsSince(channel.id, since)).order.includes(post.id))
  t.ok((await admin.getChannelPosts(channel.id, { perPage: 10 })).order.includes(post.id))

  const dm = await admin.createDirectChannel(botId, alice.id)
  t.equal(dm.type, 'D')
  t.equal(dm.name, [botId, alice.id].sort().join('__'))

  await admin.removeChannelMember(channel.id, alice.id)
  t.equal(await admin.getChannelMember(channel.id, alice.id), undefined)
  await admin.deleteChannel(channel.id)
  await admin.removeTeamMember(team.id, alice.id)
  t.match(await admin.ping(), { status: 'OK' })

  await admin.revokeUserAccessToken(pat.id)
  const revoked = await rejection(admin.getMe(asAlice))
  t.equal(revoked.status, 401)
  t.ok(isPermanent(revoked))
  await admin.updateUserActive(alice.id, false)
  t.not((await admin.getUser(alice.id)).delete_at, 0)
  specClean(t)
})

t.test('addTeamMembersBatch against the simulator: graceful per-user results', async (t) => {
  const team = await admin.createTeam({ name: uniq('batch'), display_name: 'Batch', type: 'O' })
  const users = [0, 1, 2].map(() => sim.createUser({ username: uniq('b') }))
  const results = await admin.addTeamMembersBatch(team.id, [...users.map((u) => u.id), 'x'.repeat(26)])
  t.equal(results.length, 4)
  t.same(results.slice(0, 3).map((r) => r.member?.user_id), users.map((u) => u.id))
  t.ok(results[3].error, 'an unknown user is an error row, not a failed call')
  t.equal(sim.calls.find((c) => c.route === 'POST /api/v4/teams/{team_id}/members/batch')?.query.graceful, 'true')
})

t.test('error mapping: AppError id, endpoint, request id; no token anywhere', async (t) => {
  const err = await rejection(admin.getUserByUsername('nobody-at-all'))
  t.equal(err.status, 404)
  t.equal(err.id, 'app.user.get_by_username.app_error')
  t.equal(err.endpoint, 'GET /users/username/nobody-at-all')
  t.type(err.requestId, 'string')
  t.notMatch(`${err.message}\n${err.stack}\n${inspect(err, { depth: 10, showHidden: true })}`, botToken)
  t.ok(isPermanent(err))
})

t.test('retries a 503 then succeeds', async (t) => {
  sim.faults.failNext('GET /api/v4/users/{user_id}', { status: 503 })
  t.equal((await admin.getMe()).id, botId)
  t.equal(sim.callCount('GET /api/v4/users/{user_id}'), 2)
})

t.test('never retries 400, 403, 404', async (t) => {
  for (const status of [400, 403, 404]) {
    sim.resetCalls()
    sim.faults.failNext('GET /api/v4/users/{user_id}', { status, id: `sim.${status}` })
    const err = await rejection(admin.getMe())
    t.equal(err.status, status)
    t.equal(err.id, `sim.${status}`)
    t.equal(sim.callCount('GET /api/v4/users/{user_id}'), 1)
  }
})

t.test('429 waits the announced reset, then retries', async (t) => {
  sim.faults.rateLimitNext('GET /api/v4/system/ping', { resetSeconds: 1 })
  const started = performance.now()
  await admin.ping()
  t.ok(performance.now() - started >= 950, 'waited about a second')
  t.equal(sim.callCount('GET /api/v4/system/ping'), 2)

  sim.faults.rateLimitNext('GET /api/v4/system/ping', { resetSeconds: 1 })
  const impatient = createMattermostClient({ baseUrl: sim.url, token: botToken, maxRetries: 0 })
  const err = await rejection(impatient.ping())
  t.equal(err.status, 429)
  t.equal(err.retryAfterMs, 1_000)
  t.equal(err.rateLimit?.resetMs, 1_000)
  t.ok(isRetryable(err))
})

t.test('a slow server times out as a network error', async (t) => {
  sim.faults.latencyMs = 300
  const hasty = createMattermostClient({ baseUrl: sim.url, token: botToken, timeoutMs: 50, maxRetries: 1, retryBaseMs: 1 })
  const err = await rejection(hasty.getMe())
  t.equal(err.status, 0)
  t.equal(err.id, 'network')
  t.ok(isRetryable(err))
})

t.test('pending_post_id: a repeat in flight is the pending 500 (not retried); after, the same post', async (t) => {
  const user = sim.createUser({ username: uniq('carol') })
  const dm = sim.openDirectChannel(botId, user.id)
  const post = { channel_id: dm.id, message: 'exactly once', pending_post_id: `${botId}:${Date.now()}` }
  sim.faults.holdPosts(true)
  const first = admin.createPost(post)
  await t.resolves(async () => {
    while (sim.callCount('POST /api/v4/posts') === 0) await new Promise((resolve) => setImmediate(resolve))
  })
  const err = await rejection(admin.createPost(post))
  t.equal(err.status, 500)
  t.equal(err.id, 'api.post.deduplicate_create_post.pending')
  t.equal(sim.callCount('POST /api/v4/posts'), 2, 'the pending 500 is returned, not retried')
  sim.faults.holdPosts(false)
  const created = await first
  t.equal((await admin.createPost(post)).id, created.id)
  t.equal(sim.getPosts(dm.id).length, 1)
})

t.test('the user-token override reaches the server (calls[].token)', async (t) => {
  const team = sim.createTeam({ name: uniq('tok'), displayName: 'Tok' })
  const dave = sim.createUser({ username: uniq('dave') })
  sim.addTeamMember(team.id, dave.id)
  const channel = sim.createChannel({ teamId: team.id, name: uniq('open'), displayName: 'Open', type: 'O' })
  const daveToken = sim.createAccessToken(dave.id)
  await admin.addChannelMember(channel.id, dave.id, { token: daveToken })
  await admin.getChannel(channel.id)
  t.same(sim.calls.map((c) => c.token), [daveToken, botToken])
  t.ok(sim.getChannelMembers(channel.id).includes(dave.id))
})

// --- WebSocket ---


const postedWith = (socket: MattermostSocket, message: string) =>
  next(socket, 'event', (e) => isPostEvent(e) && e.event === 'posted' && e.data.post.message === message)
    .then(([e]) => e as PostEvent)

async function openSocket (t: Test, opts: Partial<MattermostSocketOptions> = {}) {
  const socket = createMattermostSocket({ baseUrl: sim.url, token: botToken, reconnectIntervalMs: 20, maxBackoffMs: 100, ...opts })
  socket.on('error', () => {})
  t.teardown(() => socket.stop())
  const hello = next(socket, 'hello')
  socket.start()
  const [info] = await hello
  return { socket, connectionId: info.connectionId }
}

t.test('socket: authenticates and delivers a DM as a parsed posted event', async (t) => {
  const { socket, connectionId } = await openSocket(t)
  t.equal(socket.status().state, 'open')
  t.equal(socket.status().connectionId, connectionId)
  const user = sim.createUser({ username: uniq('erin') })
  const dm = sim.openDirectChannel(user.id, botId)
  const seen = postedWith(socket, 'hi bot')
  sim.postAsUser(user.id, dm.id, 'hi bot')
  const e = await seen
  t.equal(e.data.post.user_id, user.id)
  t.equal(e.data.post.channel_id, dm.id)
  t.equal(e.data.channel_type, 'D')
})

t.test('socket: resumes after dropWebSockets; a post made while down is delivered, no resync', async (t) => {
  const { socket, connectionId } = await openSocket(t)
  let resyncs = 0
  socket.on('resync', () => { resyncs++ })
  const user = sim.createUser({ username: uniq('frank') })
  const dm = sim.openDirectChannel(user.id, botId)
  const reconnecting = next(socket, 'state', (s) => s === 'reconnecting')
  sim.faults.dropWebSockets()
  await reconnecting
  const seen = postedWith(socket, 'sent while you were away')
  sim.postAsUser(user.id, dm.id, 'sent while you were away')
  const e = await seen
  t.equal(e.data.post.user_id, user.id)
  t.equal(socket.status().connectionId, connectionId, 'same connection, resumed')
  t.equal(resyncs, 0)
})

t.test('socket: resync when more than the server buffer was missed', async (t) => {
  const { socket, connectionId } = await openSocket(t, { reconnectIntervalMs: 200 })
  const user = sim.createUser({ username: uniq('gina') })
  const dm = sim.openDirectChannel(user.id, botId)
  const reconnecting = next(socket, 'state', (s) => s === 'reconnecting')
  sim.faults.dropWebSockets()
  await reconnecting
  for (let i = 0; i < 130; i++) sim.postAsUser(user.id, dm.id, `flood ${i}`) // > 128 buffered events (§9.4)
  const [info] = await next(socket, 'resync')
  t.equal(info.previousConnectionId, connectionId)
  t.not(info.connectionId, connectionId)
  t.equal(socket.status().connectionId, info.connectionId)
  const after = postedWith(socket, 'after resync')
  sim.postAsUser(user.id, dm.id, 'after resync')
  t.equal((await after).seq, 1, 'the new connection counts from its hello')
})

t.test('socket: down after N failed attempts, keeps retrying, recovers with resume', async (t) => {
  const { socket, connectionId } = await openSocket(t, { reconnectIntervalMs: 10, maxBackoffMs: 40, maxReconnectAttempts: 3 })
  const errors: Error[] = []
  socket.on('error', (err) => errors.push(err))
  const down = next(socket, 'state', (s) => s === 'down')
  sim.faults.down(true)
  sim.faults.dropWebSockets()
  await down
  t.equal(socket.status().consecutiveFailures, 3)
  const failuresAtDown = errors.length
  await next(socket, 'error')
  await next(socket, 'error')
  t.ok(errors.length >= failuresAtDown + 2, 'still trying while down')
  t.equal(socket.status().state, 'down')
  const open = next(socket, 'state', (s) => s === 'open')
  sim.faults.down(false)
  await open
  t.equal(socket.status().consecutiveFailures, 0)
  t.equal(socket.status().connectionId, connectionId)
})

t.test('socket: stop() closes the server-side socket', async (t) => {
  const before = sim.openWebSockets()
  const { socket } = await openSocket(t)
  t.equal(sim.openWebSockets(), before + 1)
  await socket.stop()
  await t.resolves(async () => {
    while (sim.openWebSockets() !== before) await new Promise((resolve) => setImmediate(resolve))
  })
  t.equal(socket.status().state, 'stopped')
})
