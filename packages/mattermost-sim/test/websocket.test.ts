import t from 'tap'
import WebSocket from 'ws'
import { call, seed, start, WsClient } from './helper.js'

t.test('authentication challenge, hello, ping and router errors (§9.1–9.3)', async (t) => {
  const sim = await start(t)
  const { botToken, bot } = seed(sim)
  const ws = await WsClient.connect(sim)
  t.teardown(() => ws.close())
  ws.send({ seq: 1, action: 'ping' })
  const unauth = await ws.next(f => f.seq_reply === 1)
  t.match(unauth, { status: 'FAIL', error: { id: 'api.web_socket_router.not_authenticated.app_error' } })

  ws.send({ seq: 2, action: 'authentication_challenge', data: { token: botToken } })
  t.same(await ws.next(f => f.seq_reply === 2), { status: 'OK', seq_reply: 2 })
  const hello = await ws.event('hello')
  t.equal(hello.seq, 0)
  t.match(hello.data, { server_version: String, connection_id: /^[a-z0-9]{26}$/ })
  t.equal(hello.broadcast.user_id, bot.id)

  ws.send({ seq: 3, action: 'ping' })
  const pong = await ws.next(f => f.seq_reply === 3)
  t.match(pong, { status: 'OK', data: { text: 'pong', version: String, server_time: Number, node_id: String } })
  t.notOk('seq' in pong, 'replies carry no seq')
  ws.send({ seq: 4, action: 'no_such_action' })
  t.match(await ws.next(f => f.seq_reply === 4), { status: 'FAIL', error: { id: 'api.web_socket_router.bad_action.app_error' } })
  ws.send({ seq: 0, action: 'ping' })
  t.match(await ws.next(f => f.status === 'FAIL' && f.seq_reply === 0), { error: { id: 'api.web_socket_router.bad_seq.app_error' } })
})

t.test('bad challenge and silence close the socket', async (t) => {
  const sim = await start(t, { websocket: { authTimeoutMs: 100 } })
  const bad = await WsClient.connect(sim)
  bad.send({ seq: 1, action: 'authentication_challenge', data: { token: 'wrong' } })
  await bad.closed
  t.equal(bad.frames.length, 0, 'closed without an error frame')
  const silent = await WsClient.connect(sim)
  await silent.closed
  t.pass('unauthenticated socket closed after authTimeoutMs')
})

t.test('posted and membership events (§7.5, §9.5)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, channel, alice, aliceToken, team } = seed(sim)
  const botWs = await WsClient.connect(sim, { token: botToken })
  const aliceWs = await WsClient.connect(sim, { token: aliceToken })
  t.teardown(() => { botWs.close(); aliceWs.close() })
  t.equal((await botWs.event('hello')).seq, 0)
  await aliceWs.event('hello')

  const res = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'hi @alice and @bob' })
  const posted = await botWs.event('posted')
  t.equal(posted.seq, 1)
  t.type(posted.data.post, 'string', 'post is a JSON string')
  t.same(JSON.parse(posted.data.post), res.body)
  t.match(posted.data, { channel_type: 'O', channel_name: 'notifications', channel_display_name: 'Notifications', sender_name: '@parley-bot', team_id: team.id, set_online: true })
  t.equal(posted.broadcast.channel_id, channel.id)
  const notice = await botWs.event('ephemeral_message')
  t.match(JSON.parse(notice.data.post), { type: 'system_ephemeral', props: { add_channel_member: { usernames: ['alice', 'bob'] } } })

  const dm = sim.openDirectChannel(alice.id, bot.id)
  const added = await aliceWs.event('direct_added')
  t.match(added.data, { creator_id: alice.id, teammate_id: bot.id })
  sim.postAsUser(alice.id, dm.id, 'hello bot')
  const dmPosted = await botWs.event('posted')
  t.match(dmPosted.data, { channel_type: 'D', channel_name: dm.name, sender_name: '@alice', team_id: '' })
  t.same(JSON.parse(dmPosted.data.mentions), [bot.id])
  t.equal(JSON.parse(dmPosted.data.post).message, 'hello bot')
  const alicePosted = await aliceWs.event('posted')
  t.equal(JSON.parse(alicePosted.data.post).channel_id, dm.id, 'alice did not get the channel post she is not in')
  t.notOk('mentions' in alicePosted.data, 'mentions are per recipient')

  await call(sim, 'POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_id: alice.id })
  t.match((await botWs.event('user_added')).data, { user_id: alice.id, team_id: team.id })
  await call(sim, 'DELETE', `/api/v4/channels/${channel.id}/members/${alice.id}`, botToken)
  t.match((await aliceWs.event('user_removed')).data, { channel_id: channel.id, remover_id: bot.id })

  const carol = sim.createUser({ username: 'carol' })
  const carolWs = await WsClient.connect(sim, { token: sim.createAccessToken(carol.id) })
  t.teardown(() => carolWs.close())
  await carolWs.event('hello')
  await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: carol.id })
  t.match((await carolWs.event('added_to_team')).data, { team_id: team.id, user_id: carol.id })
  await call(sim, 'DELETE', `/api/v4/teams/${team.id}/members/${carol.id}`, botToken)
  t.match((await carolWs.event('leave_team')).data, { team_id: team.id, user_id: carol.id })
})

t.test('resume after the server drops sockets (§9.4)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, alice } = seed(sim)
  const first = await WsClient.connect(sim, { token: botToken })
  const hello = await first.event('hello')
  const connectionId = hello.data.connection_id as string
  const dm = sim.openDirectChannel(alice.id, bot.id)
  t.equal((await first.event('direct_added')).seq, 1)

  sim.faults.dropWebSockets()
  await first.closed
  // Events while the socket is away are buffered for the connection id.
  sim.postAsUser(alice.id, dm.id, 'sent while you were away')
  sim.postAsUser(alice.id, dm.id, 'and another')

  const resumed = await WsClient.connect(sim, { token: botToken, query: { connection_id: connectionId, sequence_number: 2 } })
  t.teardown(() => resumed.close())
  const replay1 = await resumed.next()
  t.equal(replay1.event, 'posted', 'no hello on a successful resume')
  t.equal(replay1.seq, 2)
  t.equal(JSON.parse(replay1.data.post).message, 'sent while you were away')
  const replay2 = await resumed.next()
  t.equal(replay2.seq, 3)
  sim.postAsUser(alice.id, dm.id, 'live again')
  const live = await resumed.next()
  t.equal(live.seq, 4)
  t.equal(JSON.parse(live.data.post).message, 'live again')

  // Asking for everything from an earlier seq replays from there (still in the 128-event buffer).
  resumed.close()
  await resumed.closed
  const again = await WsClient.connect(sim, { token: botToken, query: { connection_id: connectionId, sequence_number: 1 } })
  t.teardown(() => again.close())
  t.match(await again.next(), { event: 'direct_added', seq: 1 })

  // Nothing lost: continue without replay or hello.
  again.close()
  await again.closed
  const cont = await WsClient.connect(sim, { token: botToken, query: { connection_id: connectionId, sequence_number: 5 } })
  t.teardown(() => cont.close())
  sim.postAsUser(alice.id, dm.id, 'next')
  t.match(await cont.next(), { event: 'posted', seq: 5 })

  // Lost events (seq no longer buffered, or a future seq): new connection id and hello at seq 0.
  cont.close()
  await cont.closed
  const lost = await WsClient.connect(sim, { token: botToken, query: { connection_id: connectionId, sequence_number: 99 } })
  t.teardown(() => lost.close())
  const fresh = await lost.next()
  t.equal(fresh.event, 'hello')
  t.equal(fresh.seq, 0)
  t.not(fresh.data.connection_id, connectionId)

  // Unknown connection id: fresh connection; malformed id: closed.
  const unknown = await WsClient.connect(sim, { token: botToken, query: { connection_id: 'ybndrfg8ejkmcpqxot1uwisza3', sequence_number: 3 } })
  t.teardown(() => unknown.close())
  t.match(await unknown.next(), { event: 'hello', seq: 0 })
  const malformed = await WsClient.connect(sim, { token: botToken, query: { connection_id: 'nope', sequence_number: 3 } })
  await malformed.closed
  t.equal(malformed.frames.length, 0)
})

t.test('protocol ping frames and outages', async (t) => {
  const sim = await start(t, { websocket: { pingIntervalMs: 30 } })
  const { botToken } = seed(sim)
  const client = await WsClient.connect(sim, { token: botToken })
  t.teardown(() => client.close())
  await new Promise<void>(resolve => client.ws.once('ping', () => resolve()))
  t.pass('server sends ping frames')

  sim.faults.down(true)
  const refused = new WebSocket(`${sim.url.replace('http', 'ws')}/api/v4/websocket`)
  refused.on('error', () => {})
  const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
  t.equal(status, 503, 'upgrades refused while down')
  sim.faults.down(false)
})
