// Socket behaviour against a minimal WebSocket stub: auth, parsing, resume, resync, gaps, ping, backoff, stop.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Post } from '@mattermost/types/posts'
import t, { type Test } from 'tap'
import {
  createMattermostSocket, isPostEvent, type MattermostEvent, type MattermostSocket,
  type MattermostSocketOptions, type SocketState
} from '../src/index.js'
import { startWsStub } from './helpers/ws-stub.js'
import { next } from './helpers/await.js'


const nextEvent = async (socket: MattermostSocket, event: string) =>
  (await next(socket, 'event', (e) => e.event === event))[0]

function open (t: Test, baseUrl: string, token: string, opts: Partial<MattermostSocketOptions> = {}) {
  const socket = createMattermostSocket({ baseUrl, token, reconnectIntervalMs: 20, maxBackoffMs: 100, ...opts })
  const states: SocketState[] = []
  const events: MattermostEvent[] = []
  socket.on('state', (s) => states.push(s))
  socket.on('event', (e) => events.push(e))
  socket.on('error', () => {}) // transport errors are expected here
  t.teardown(() => socket.stop())
  return { socket, states, events }
}

t.test('authenticates by header on the upgrade, then reports hello and open', async (t) => {
  const stub = await startWsStub(t)
  const { socket, states } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  const [info] = await hello
  t.same(info, { connectionId: stub.connectionId, resumed: false })
  t.ok(stub.attempts[0].headerAuth)
  t.equal(stub.attempts[0].query.toString(), '', 'first connect: no resume parameters, no token in the URL')
  t.same(states, ['connecting', 'open'])
  t.match(socket.status(), { state: 'open', connectionId: stub.connectionId, consecutiveFailures: 0 })
  t.type(socket.status().lastEventAt, 'number')
})

t.test('authenticates with the challenge when the server ignores the header', async (t) => {
  const stub = await startWsStub(t)
  stub.knobs.acceptHeaderAuth = false
  const { socket, states } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  t.same(stub.frames[0], { seq: 1, action: 'authentication_challenge', data: { token: stub.token } })
  t.same(states, ['connecting', 'open'])
})

t.test('opens on a silent resume (no hello, no challenge reply): the first ping answer says we are in', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  let hellos = 0
  socket.on('hello', () => { hellos++ })
  const reopened = next(socket, 'state', (s) => s === 'open')
  stub.dropAll() // nothing missed: the server resumes without sending anything
  await reopened
  t.equal(stub.attempts.length, 2)
  t.equal(hellos, 0)
})

t.test('parses data.post of posted events; leaves other payloads alone', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  const post = { id: 'p1', channel_id: 'c1', user_id: 'u1', message: 'hello bot' }
  const posted = nextEvent(socket, 'posted')
  stub.push('posted', { post: JSON.stringify(post), channel_type: 'D' }, { broadcast: { channel_id: 'c1' } })
  const e = await posted
  t.ok(isPostEvent(e))
  t.same(e.data.post, post)
  t.equal((e.data.post as Post).message, 'hello bot')
  t.equal(e.broadcast.channel_id, 'c1')
  t.equal(e.seq, 1)

  const updated = nextEvent(socket, 'user_updated')
  stub.push('user_updated', { user: { id: 'u1' } })
  t.same((await updated).data, { user: { id: 'u1' } })
})

t.test('a throwing listener does not break the stream', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token)
  socket.once('event', () => { throw new Error('listener bug') })
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  const failed = next(socket, 'error', (err) => err.message === 'listener bug')
  stub.push('typing', {})
  await failed
  const second = nextEvent(socket, 'posted')
  stub.push('posted', { post: '{"id":"p2"}' })
  t.equal((await second).seq, 2)
})

t.test('reconnects and resumes: an event sent while down is replayed, no resync', async (t) => {
  const stub = await startWsStub(t)
  const { socket, events } = open(t, stub.url, stub.token, { reconnectIntervalMs: 100 })
  let resyncs = 0
  socket.on('resync', () => { resyncs++ })
  const hello = next(socket, 'hello')
  socket.start()
  const [{ connectionId }] = await hello
  const first = nextEvent(socket, 'posted')
  stub.push('posted', { post: '{"id":"p1"}' })
  await first

  const closed = stub.nextClose()
  stub.dropAll()
  await closed
  stub.push('posted', { post: '{"id":"p-while-down"}' }) // buffered, not sent: no socket
  const reconnecting = next(socket, 'state', (s) => s === 'reconnecting')
  const attempt = stub.nextAttempt()
  const missed = next(socket, 'event', (e) => isPostEvent(e) && e.data.post.id === 'p-while-down')
  await reconnecting
  t.equal((await attempt).query.get('connection_id'), connectionId)
  t.equal((await attempt).query.get('sequence_number'), '2', 'asks for the next expected seq')
  const [e] = await missed
  t.equal(e.seq, 2)
  t.same(events.map((x) => x.seq), [1, 2])
  t.equal(resyncs, 0)
  t.equal(socket.status().connectionId, connectionId)
  t.equal(socket.status().state, 'open')
})

t.test('emits resync when the server cannot resume (new connection_id)', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  const [{ connectionId: first }] = await hello
  stub.forget() // as after a server restart
  const resync = next(socket, 'resync')
  const secondHello = next(socket, 'hello', (h) => h.connectionId !== first)
  stub.dropAll()
  const [info] = await resync
  t.equal(info.previousConnectionId, first)
  t.equal(info.connectionId, stub.connectionId)
  t.not(info.connectionId, first)
  await secondHello
  const after = nextEvent(socket, 'posted')
  stub.push('posted', { post: '{"id":"p3"}' })
  t.equal((await after).seq, 1, 'the new connection counts from its own hello')
})

t.test('without an authenticated upgrade the server cannot resume: resync', async (t) => {
  const stub = await startWsStub(t)
  stub.knobs.acceptHeaderAuth = false
  const { socket } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  const [{ connectionId }] = await hello
  const resync = next(socket, 'resync')
  stub.dropAll()
  const [info] = await resync
  t.equal(info.previousConnectionId, connectionId)
  t.equal(stub.attempts[1].query.get('connection_id'), connectionId, 'it still asked to resume')
})

t.test('a sequence gap closes with 4001 and resumes from the missing event', async (t) => {
  const stub = await startWsStub(t)
  const { socket, events } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  const closed = stub.nextClose()
  const attempt = stub.nextAttempt()
  const last = nextEvent(socket, 'b')
  stub.push('a', {}, { lose: true })
  stub.push('b', {})
  t.equal(await closed, 4001)
  const { query } = await attempt
  t.equal(query.get('sequence_number'), '1')
  t.equal(query.get('disconnect_err_code'), '4001')
  await last
  t.same(events.map((e) => [e.event, e.seq]), [['a', 1], ['b', 2]], 'in order, none twice')
})

t.test('pings every interval; an unanswered ping closes with 4000 and reconnects', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token, { pingIntervalMs: 30 })
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  for (let i = 0; i < 3; i++) t.match(await stub.nextFrame('ping'), { action: 'ping' })
  t.equal(stub.attempts.length, 1, 'answered pings keep the connection')

  stub.knobs.answerPings = false
  const closed = stub.nextClose()
  const attempt = stub.nextAttempt()
  t.equal(await closed, 4000)
  stub.knobs.answerPings = true
  t.equal((await attempt).query.get('disconnect_err_code'), '4000')
  await next(socket, 'state', (s) => s === 'open')
})

t.test('goes down after maxReconnectAttempts failures, keeps retrying, recovers', async (t) => {
  const stub = await startWsStub(t)
  stub.knobs.refuseUpgrades = true
  const { socket, states } = open(t, stub.url, stub.token, { reconnectIntervalMs: 5, maxBackoffMs: 20, maxReconnectAttempts: 3 })
  const errors: Error[] = []
  socket.on('error', (err) => errors.push(err))
  const down = next(socket, 'state', (s) => s === 'down')
  socket.start()
  await down
  t.equal(socket.status().consecutiveFailures, 3)
  const refusedBefore = stub.upgradesRefused
  await stub.nextRefusal()
  await stub.nextRefusal()
  t.ok(stub.upgradesRefused >= refusedBefore + 2, 'still retrying while down')
  t.ok(socket.status().consecutiveFailures >= 4, 'the count keeps growing')
  t.equal(socket.status().state, 'down', 'stays down while retrying')
  t.ok(errors.length >= 3, 'each failure is reported as an error')

  stub.knobs.refuseUpgrades = false
  await next(socket, 'state', (s) => s === 'open')
  t.equal(socket.status().consecutiveFailures, 0)
  t.same(states.slice(0, 3), ['connecting', 'reconnecting', 'down'])
})

t.test('a rejected token is a failed attempt, not an open connection', async (t) => {
  const stub = await startWsStub(t)
  const { socket, states } = open(t, stub.url, 'wrong-token', { maxReconnectAttempts: 2 })
  socket.start()
  await next(socket, 'state', (s) => s === 'down')
  t.notOk(states.includes('open'))
  t.ok(socket.status().consecutiveFailures >= 2)
  t.equal(socket.status().connectionId, undefined)
})

t.test('a malformed baseUrl is reported through error, never thrown', async (t) => {
  const { socket } = open(t, 'not a url', 'token')
  const failed = next(socket, 'error')
  socket.start()
  t.match((await failed)[0].message, /Invalid URL/)
  t.equal(socket.status().consecutiveFailures, 1)
  await socket.stop()
})

t.test('stop() closes with 1000 and stays stopped', async (t) => {
  const stub = await startWsStub(t)
  const { socket } = open(t, stub.url, stub.token)
  const hello = next(socket, 'hello')
  socket.start()
  await hello
  const closed = stub.nextClose()
  await socket.stop()
  t.equal(await closed, 1000)
  t.equal(socket.status().state, 'stopped')

  // Stopped while waiting to reconnect: the pending reconnect attempt never happens.
  stub.knobs.refuseUpgrades = true
  const failed = next(socket, 'error')
  socket.start()
  await failed // the close follows in the same tick, so a reconnect timer is now pending
  t.match(socket.status(), { state: 'reconnecting', consecutiveFailures: 1 })
  await socket.stop()
  const attempts = stub.attempts.length + stub.upgradesRefused
  await new Promise((resolve) => setTimeout(resolve, 100)) // 5+ reconnect intervals: nothing may happen
  t.equal(stub.attempts.length + stub.upgradesRefused, attempts, 'no connection attempt after stop')
})

t.test('stop() leaves no timer or socket behind: a process exits on its own', async (t) => {
  const stub = await startWsStub(t)
  const fixture = fileURLToPath(new URL('./fixtures/stop-exits.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, stub.url, stub.token], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const killer = setTimeout(() => child.kill(), 8_000)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(killer)
  t.equal(out, 'stopped\n')
  t.equal(code, 0, 'exited by itself (a leaked handle would keep it alive until killed)')
})
