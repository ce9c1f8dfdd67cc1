import t from 'tap'
import { call, seed, start, WsClient } from './helper.js'

t.test('create and read posts (§7.1, §7.2)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, channel, alice, aliceToken } = seed(sim)
  const made = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'hello', user_id: alice.id, props: { card: 'x' } })
  t.equal(made.status, 201)
  t.equal(made.body.user_id, bot.id, 'user_id is the session user')
  t.same(made.body.props, { card: 'x', from_bot: 'true' })
  t.same(sim.getPosts(channel.id).map(p => p.id), [made.body.id])

  const denied = await call(sim, 'POST', '/api/v4/posts', aliceToken, { channel_id: channel.id, message: 'not a member' })
  t.equal(denied.status, 403)
  t.equal(denied.body.id, 'api.context.permissions.app_error')
  const noChannel = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: 'ybndrfg8ejkmcpqxot1uwisza3', message: 'x' })
  t.equal(noChannel.status, 400)
  t.equal(noChannel.body.id, 'api.context.invalid_param.app_error')

  const long = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: '😀'.repeat(16384) })
  t.equal(long.status, 400)
  t.equal(long.body.id, 'model.post.is_valid.msg.app_error')
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: '😀'.repeat(16383) })).status, 201, '16383 runes fit')
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x', root_id: 'ybndrfg8ejkmcpqxot1uwisza3' })).body.id, 'api.post.create_post.root_id.app_error')
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'x', type: 'system_join_channel' })).status, 400)

  const got = await call(sim, 'GET', `/api/v4/posts/${made.body.id}`, botToken)
  t.same(got.body, made.body)
  t.equal((await call(sim, 'GET', '/api/v4/posts/ybndrfg8ejkmcpqxot1uwisza3', botToken)).status, 404)
})

t.test('channel post lists: paging and since', async (t) => {
  const sim = await start(t)
  const { bot, botToken, channel } = seed(sim)
  const ids = []
  for (let i = 0; i < 5; i++) ids.push(sim.postAsUser(bot.id, channel.id, `m${i}`).id)
  const page = await call(sim, 'GET', `/api/v4/channels/${channel.id}/posts?page=0&per_page=2`, botToken)
  t.same(page.body.order, [ids[4], ids[3]], 'newest first')
  t.equal(page.body.prev_post_id, ids[2])
  t.equal(page.body.next_post_id, '')
  t.equal(Object.keys(page.body.posts).length, 2)
  const page2 = await call(sim, 'GET', `/api/v4/channels/${channel.id}/posts?page=1&per_page=2`, botToken)
  t.same(page2.body.order, [ids[2], ids[1]])

  const mark = sim.getPosts(channel.id)[4].update_at
  await new Promise(resolve => setTimeout(resolve, 5))
  const late = sim.postAsUser(bot.id, channel.id, 'late')
  const since = await call(sim, 'GET', `/api/v4/channels/${channel.id}/posts?since=${mark}`, botToken)
  t.same(since.body.order, [late.id])
  const edited = await call(sim, 'PUT', `/api/v4/posts/${ids[0]}/patch`, botToken, { message: 'edited' })
  t.equal(edited.body.message, 'edited')
  t.ok(edited.body.edit_at > 0)
  const since2 = await call(sim, 'GET', `/api/v4/channels/${channel.id}/posts?since=${mark}`, botToken)
  t.same(since2.body.order.sort(), [late.id, ids[0]].sort(), 'edited posts count as modified')
})

t.test('pending_post_id de-duplication (§7.3)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, channel, alice } = seed(sim)
  const ws = await WsClient.connect(sim, { token: botToken })
  t.teardown(() => ws.close())
  await ws.event('hello')

  sim.faults.holdPosts(true)
  const first = call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'once', pending_post_id: 'job-1' })
  // Wait until the first request is held inside the simulator before repeating it.
  while (sim.faults.heldPosts() < 1) await new Promise(resolve => setImmediate(resolve))
  const inFlight = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'once', pending_post_id: 'job-1' })
  t.equal(inFlight.status, 500)
  t.equal(inFlight.body.id, 'api.post.deduplicate_create_post.pending')
  sim.faults.holdPosts(false)
  const created = await first
  t.equal(created.status, 201)
  t.equal(created.body.pending_post_id, 'job-1')

  const repeat = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'once', pending_post_id: 'job-1' })
  t.equal(repeat.status, 201)
  t.equal(repeat.body.id, created.body.id, 'the original post is returned')
  t.equal(sim.getPosts(channel.id).length, 1)
  const posted = await ws.event('posted')
  t.equal(JSON.parse(posted.data.post).id, created.body.id)

  // The next posted event the bot sees is this marker, not a second one for the repeat.
  sim.postAsUser(alice.id, sim.openDirectChannel(alice.id, bot.id).id, 'marker')
  t.equal((await ws.event('posted')).data.sender_name, '@alice', 'no posted event for the de-duplicated repeat')

  // A create that fails after registering its id forgets it, so the retry creates the post.
  sim.faults.holdPosts(true)
  const doomed = call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'retry', pending_post_id: 'job-2' })
  while (sim.faults.heldPosts() < 1) await new Promise(resolve => setImmediate(resolve))
  t.equal((await call(sim, 'DELETE', `/api/v4/channels/${channel.id}`, botToken)).status, 200)
  sim.faults.holdPosts(false)
  t.equal((await doomed).body.id, 'api.post.create_post.can_not_post_to_deleted.error')
  t.equal((await call(sim, 'POST', `/api/v4/channels/${channel.id}/restore`, botToken)).status, 200)
  t.equal((await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'retry', pending_post_id: 'job-2' })).status, 201)
  t.equal(sim.getPosts(channel.id).filter(p => p.message === 'retry').length, 1)
})

t.test('pending_post_id is forgotten after the TTL', async (t) => {
  const sim = await start(t, { pendingPostTtlMs: 100 })
  const { botToken, channel } = seed(sim)
  const body = { channel_id: channel.id, message: 'once', pending_post_id: 'job-ttl' }
  const first = await call(sim, 'POST', '/api/v4/posts', botToken, body)
  await new Promise(resolve => setTimeout(resolve, 150))
  const later = await call(sim, 'POST', '/api/v4/posts', botToken, body)
  t.equal(later.status, 201)
  t.not(later.body.id, first.body.id, 'a new post')
  t.equal(sim.getPosts(channel.id).length, 2)
})
