import t from 'tap'
import { eq } from 'drizzle-orm'
import { conversationMembers, conversations, createTokenCipher, ensureDirectConversation, users } from '@parley/db'
import { buildApp } from '../../src/app.js'
import { build } from '../helper.js'
import { connectReady, listen, settle, type ChatClient } from './client.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('presence transitions', async (t) => {
  const h = await build(t)
  // An API whose clock the test moves, checking for idle users every 20 ms.
  let clock = Date.now()
  const app = await buildApp({
    config: h.config, db: h.db, redis: h.redis, queues: h.queues, tokenCipher: createTokenCipher(h.config.TOKEN_ENCRYPTION_KEYS!),
    chat: { idleCheckIntervalMs: 20, now: () => clock, presenceRoomLimit: 3 }
  })
  t.teardown(() => app.close())
  const base = await listen(app)
  const { db, createUser } = h
  const tokenFor = (u: { id: string, sessionVersion: number }) => app.signSession(u).token

  const a = await createUser({ displayName: 'Ann', idleTimeoutMinutes: 5 })
  const b = await createUser()
  const stranger = await createUser()
  await ensureDirectConversation(db, a.id, b.id)
  // A room over the presence limit (3 members): it carries no presence events.
  const crowd = await createUser()
  const [room] = await db.insert(conversations).values({ kind: 'room', title: 'Crowd' }).returning()
  await db.insert(conversationMembers).values([a, crowd, await createUser(), await createUser()].map(u => ({ conversationId: room.id, userId: u.id })))
  const crowdSocket = await connectReady(t, base, tokenFor(crowd))
  const watcher = await connectReady(t, base, tokenFor(b))
  const outsider = await connectReady(t, base, tokenFor(stranger))
  const statusOfA = (c: ChatClient, status: string) => c.next(e => e.type === 'presence:updated' && e.user.id === a.id && e.user.presenceStatus === status)
  const stored = async () => (await db.select({ s: users.presenceStatus }).from(users).where(eq(users.id, a.id)))[0].s

  const ca = await connectReady(t, base, tokenFor(a))
  t.match((await statusOfA(watcher, 'online')).user, { id: a.id, displayName: 'Ann' }, 'online on the first socket')
  await statusOfA(ca, 'online')
  t.equal(await stored(), 'online')

  const second = await connectReady(t, base, tokenFor(a))
  clock += 4 * 60_000
  await settle(second)
  clock += 60_000 + 1
  await statusOfA(watcher, 'idle')
  t.equal(await stored(), 'idle', `idle after idleTimeoutMinutes without activity`)

  second.send({ type: 'conversation:list' })
  await statusOfA(watcher, 'online')
  t.pass('activity brings the user back online')
  clock += 3 * 60_000
  ca.send({ type: 'ping' }) // a keep-alive is not activity…
  await ca.next('pong')
  clock += 2 * 60_000 + 1
  await statusOfA(watcher, 'idle')
  t.pass('…so the user still goes idle')

  const res = await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: auth(tokenFor(a)), payload: { presenceStatus: 'dnd' } })
  t.equal(res.json().presenceStatus, 'dnd')
  await statusOfA(watcher, 'dnd')
  ca.send({ type: 'conversation:list' })
  await ca.next('conversation:list')
  clock += 10 * 60_000
  second.close()
  await second.closed
  const stillDnd = await app.inject({ url: `/api/users?q=${a.username}`, headers: auth(tokenFor(b)) })
  t.equal(stillDnd.json().users[0].presenceStatus, 'dnd', 'dnd sticks through activity, idleness and closing sockets')

  await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: auth(tokenFor(a)), payload: { presenceStatus: 'online' } })
  await statusOfA(watcher, 'online')
  t.pass('choosing online returns to automatic presence and counts as activity')

  ca.close()
  await statusOfA(watcher, 'offline')
  t.equal(await stored(), 'offline', 'offline when the last socket closes')

  await settle(outsider)
  t.notOk(outsider.events.some(e => e.type === 'presence:updated' && e.user.id === a.id), 'only users sharing a conversation hear about it')
  await settle(crowdSocket)
  t.notOk(crowdSocket.events.some(e => e.type === 'presence:updated' && e.user.id === a.id), 'rooms over the presence limit carry no presence events')
})
