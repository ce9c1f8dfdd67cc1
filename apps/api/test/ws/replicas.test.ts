import t from 'tap'
import { createDb, createTokenCipher, ensureDirectConversation } from '@parley/db'
import { createNotificationsQueue, producerConnection, redisReady } from '@parley/queue'
import { buildApp } from '../../src/app.js'
import { build } from '../helper.js'
import { connectReady, listen, settle } from './client.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('two API replicas share events through Redis', async (t) => {
  const one = await build(t)
  // A second replica: same configuration (so the same queue prefix), its own connections.
  const dbHandle = createDb(one.config.DATABASE_URL, { max: 3 })
  const redis = producerConnection(one.config.REDIS_URL)
  await redisReady(redis)
  const notifications = createNotificationsQueue(redis, one.config.QUEUE_PREFIX)
  const two = await buildApp({ config: one.config, db: dbHandle.db, redis, queues: { notifications }, tokenCipher: createTokenCipher(one.config.TOKEN_ENCRYPTION_KEYS!) })
  t.teardown(async () => { await two.close(); await notifications.close(); await redis.quit(); await dbHandle.close() })
  const [base1, base2] = [await listen(one.app), await listen(two)]
  t.not(base1, base2)
  const { createUser, tokenFor, db } = one

  t.test('a message sent through one replica reaches a socket on the other', async (t) => {
    const a = await createUser()
    const b = await createUser()
    const outsider = await createUser()
    const { conversation } = await ensureDirectConversation(db, a.id, b.id)
    const ca = await connectReady(t, base1, tokenFor(a))
    const cb = await connectReady(t, base2, tokenFor(b))
    const co = await connectReady(t, base2, tokenFor(outsider))
    const sent = await one.app.inject({ method: 'POST', url: `/api/conversations/${conversation.id}/messages`, headers: auth(tokenFor(a)), payload: { content: 'across replicas', clientId: 'r-1' } })
    t.equal(sent.statusCode, 201)
    t.equal((await cb.next('message:created')).message.id, sent.json().id, 'delivered by replica 2')
    t.equal((await ca.next('message:ack')).message.id, sent.json().id, 'acknowledged on replica 1')
    cb.send({ type: 'message:send', conversationId: conversation.id, content: 'and back', clientId: 'r-2' })
    t.equal((await ca.next(e => e.type === 'message:created' && e.message.content === 'and back')).message.senderId, b.id)
    cb.send({ type: 'typing', conversationId: conversation.id, typing: true })
    t.equal((await ca.next('typing')).userId, b.id)
    await settle(co)
    t.notOk(co.events.some(e => e.type === 'message:created' || e.type === 'typing'), 'an outsider on either replica sees nothing')
  })

  t.test('presence counts sockets on every replica', async (t) => {
    const a = await createUser()
    const b = await createUser()
    await ensureDirectConversation(db, a.id, b.id)
    const watcher = await connectReady(t, base1, tokenFor(b))
    const on1 = await connectReady(t, base1, tokenFor(a))
    await watcher.next(e => e.type === 'presence:updated' && e.user.id === a.id && e.user.presenceStatus === 'online')
    const on2 = await connectReady(t, base2, tokenFor(a))
    on1.close()
    await on1.closed
    // Round trip through replica 2 and Redis: an offline event would have been published by now.
    on2.send({ type: 'typing', conversationId: (await ensureDirectConversation(db, a.id, b.id)).conversation.id, typing: true })
    await watcher.next('typing')
    const users = (await one.app.inject({ url: `/api/users?q=${a.username}`, headers: auth(tokenFor(b)) })).json().users
    t.equal(users[0].presenceStatus, 'online', 'still online through the socket on replica 2')
    t.notOk(watcher.events.some(e => e.type === 'presence:updated' && e.user.id === a.id && e.user.presenceStatus === 'offline'))
    on2.close()
    await watcher.next(e => e.type === 'presence:updated' && e.user.id === a.id && e.user.presenceStatus === 'offline')
    t.pass('offline once the last socket anywhere closed')
  })

  t.test('disabling through one replica closes the user\'s sockets on the other', async (t) => {
    const { headers } = await one.admin()
    const u = await createUser()
    const c2 = await connectReady(t, base2, tokenFor(u))
    const c1 = await connectReady(t, base1, tokenFor(u))
    t.equal((await one.app.inject({ method: 'PATCH', url: `/api/admin/users/${u.id}`, headers, payload: { status: 'disabled' } })).statusCode, 200)
    t.equal((await c2.closed).code, 4401)
    t.equal((await c1.closed).code, 4401)
  })
})
