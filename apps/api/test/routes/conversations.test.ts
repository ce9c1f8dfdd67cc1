import t from 'tap'
import { randomUUID } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import { conversationMembers, conversations, ensureDirectConversation, messages } from '@parley/db'
import { build, reconnectRedis } from '../helper.js'
import { uniq } from '../../../../test/env.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('direct conversations: create or fetch, list, read; outsiders get 404', async (t) => {
  const { app, createUser, tokenFor } = await build(t)
  const a = await createUser({ displayName: 'Ann' })
  const b = await createUser({ displayName: 'Ben' })
  const outsider = await createUser()
  const first = await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(a)), payload: { targetUserId: b.id } })
  t.equal(first.statusCode, 201)
  const conv = first.json()
  t.match(conv, { kind: 'direct', isPublic: false, memberCount: 2, membersTruncated: false })
  t.same(conv.members.map((m: { id: string }) => m.id).sort(), [a.id, b.id].sort())
  t.ok(conv.members.every((m: { presenceStatus: string }) => m.presenceStatus === 'offline'), 'members carry presence')
  const again = await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(b)), payload: { targetUserId: a.id } })
  t.equal(again.statusCode, 200, 'the other side fetches the same conversation')
  t.equal(again.json().id, conv.id)

  const list = await app.inject({ url: '/api/conversations', headers: auth(tokenFor(a)) })
  t.equal(list.statusCode, 200)
  t.same(list.json().conversations.map((c: { id: string }) => c.id), [conv.id])
  t.same((await app.inject({ url: '/api/conversations', headers: auth(tokenFor(outsider)) })).json().conversations, [])

  t.equal((await app.inject({ url: `/api/conversations/${conv.id}`, headers: auth(tokenFor(b)) })).json().id, conv.id)
  const hidden = await app.inject({ url: `/api/conversations/${conv.id}`, headers: auth(tokenFor(outsider)) })
  t.equal(hidden.statusCode, 404, 'a non-member cannot tell it exists')
  const missing = await app.inject({ url: `/api/conversations/${randomUUID()}`, headers: auth(tokenFor(outsider)) })
  t.same(hidden.json().code, missing.json().code, 'same answer as a conversation that does not exist')
  t.equal((await app.inject({ url: `/api/conversations/${conv.id}/messages`, headers: auth(tokenFor(outsider)) })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${conv.id}/messages`, headers: auth(tokenFor(outsider)), payload: { content: 'hi' } })).statusCode, 404)

  t.equal((await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(a)), payload: { targetUserId: randomUUID() } })).statusCode, 404)
  const disabled = await createUser({ status: 'disabled' })
  t.equal((await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(a)), payload: { targetUserId: disabled.id } })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(a)), payload: { targetUserId: 'nope' } })).statusCode, 400)
  t.equal((await app.inject({ url: '/api/conversations/not-a-uuid', headers: auth(tokenFor(a)) })).statusCode, 400)
  t.equal((await app.inject({ url: '/api/conversations' })).statusCode, 401)
})

t.test('concurrent create-or-fetch makes one conversation', async (t) => {
  const { app, createUser, tokenFor } = await build(t)
  const a = await createUser()
  const b = await createUser()
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => app.inject({
    method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(i % 2 ? a : b)), payload: { targetUserId: i % 2 ? b.id : a.id }
  })))
  t.equal(new Set(answers.map(r => r.json().id)).size, 1)
  t.equal(answers.filter(r => r.statusCode === 201).length, 1, 'exactly one call created it')
})

t.test('sending messages: limits, format, idempotent retries', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const a = await createUser()
  const b = await createUser()
  const { conversation } = await ensureDirectConversation(db, a.id, b.id)
  const url = `/api/conversations/${conversation.id}/messages`
  const h = auth(tokenFor(a))

  const plain = await app.inject({ method: 'POST', url, headers: h, payload: { content: 'Hello!' } })
  t.equal(plain.statusCode, 201)
  t.match(plain.json(), { content: 'Hello!', format: 'text', senderId: a.id, conversationId: conversation.id, sender: { id: a.id, username: a.username } })
  const md = await app.inject({ method: 'POST', url, headers: h, payload: { content: '**bold**', format: 'markdown' } })
  t.equal(md.json().format, 'markdown')
  t.equal((await app.inject({ method: 'POST', url, headers: h, payload: { content: 'x'.repeat(2000) } })).statusCode, 201, '2000 characters is allowed')
  t.equal((await app.inject({ method: 'POST', url, headers: h, payload: { content: '😀'.repeat(2000) } })).statusCode, 201, 'characters, not UTF-16 units or bytes')
  for (const payload of [{ content: '' }, { content: 'x'.repeat(2001) }, { content: 'x', format: 'html' }, { content: 5 }, { content: null }, {}, { content: 'x', extra: 1 }, { content: 'x', clientId: 'has space' }]) {
    const res = await app.inject({ method: 'POST', url, headers: h, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 60))
  }

  const clientId = `c-${uniq()}`
  const one = await app.inject({ method: 'POST', url, headers: h, payload: { content: 'once', clientId } })
  const two = await app.inject({ method: 'POST', url, headers: h, payload: { content: 'once', clientId } })
  t.equal(one.statusCode, 201)
  t.equal(two.statusCode, 200, 'a retry answers the first message')
  t.equal(two.json().id, one.json().id)
  const [{ n }] = await db.select({ n: sql<number>`count(*)::int` }).from(messages).where(and(eq(messages.senderId, a.id), eq(messages.clientId, clientId)))
  t.equal(n, 1, 'stored once')
  const parallelId = `p-${uniq()}`
  const parallel = await Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'POST', url, headers: h, payload: { content: 'race', clientId: parallelId } })))
  t.equal(new Set(parallel.map(r => r.json().id)).size, 1, 'concurrent retries store one message')
  const bSame = await app.inject({ method: 'POST', url, headers: auth(tokenFor(b)), payload: { content: 'mine', clientId } })
  t.equal(bSame.statusCode, 201, 'client ids are per sender')

  const other = (await ensureDirectConversation(db, a.id, (await createUser()).id)).conversation
  const reuse = await app.inject({ method: 'POST', url: `/api/conversations/${other.id}/messages`, headers: h, payload: { content: 'elsewhere', clientId } })
  t.equal(reuse.statusCode, 409, 'a client id is not reused for another conversation')
})

t.test('history pages never skip or repeat messages that share a timestamp', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const a = await createUser()
  const b = await createUser()
  const { conversation } = await ensureDirectConversation(db, a.id, b.id)
  const h = auth(tokenFor(b))
  const url = `/api/conversations/${conversation.id}/messages`
  t.same((await app.inject({ url, headers: h })).json(), { messages: [], hasMore: false, olderCursor: null, newerCursor: null })

  // 3 older messages, 7 sharing one timestamp (to the microsecond), 2 newer.
  const tie = new Date('2026-01-02T03:04:05.123Z')
  const rows = [
    ...[0, 1, 2].map(i => ({ content: `old${i}`, createdAt: new Date(tie.getTime() - (3 - i) * 1000) })),
    ...[0, 1, 2, 3, 4, 5, 6].map(i => ({ content: `tie${i}`, createdAt: tie })),
    ...[0, 1].map(i => ({ content: `new${i}`, createdAt: new Date(tie.getTime() + (i + 1) * 1000) }))
  ]
  await db.insert(messages).values(rows.map(r => ({ ...r, conversationId: conversation.id, senderId: a.id, format: 'text' as const })))

  const latest = (await app.inject({ url: `${url}?limit=3`, headers: h })).json()
  t.equal(latest.messages.length, 3)
  t.equal(latest.messages.at(-1).content, 'new1', 'newest last')
  t.equal(latest.hasMore, true)

  const seen: string[] = []
  let page = latest
  let guard = 0
  while (true) {
    seen.unshift(...page.messages.map((m: { content: string }) => m.content))
    if (!page.olderCursor) break
    page = (await app.inject({ url: `${url}?limit=3&cursor=${page.olderCursor}`, headers: h })).json()
    if (++guard > 10) break
  }
  t.equal(seen.length, 12, 'every message once')
  t.equal(new Set(seen).size, 12, 'no repeats')
  t.same(seen.slice(0, 3), ['old0', 'old1', 'old2'])
  t.same(seen.slice(-2), ['new0', 'new1'])

  // Forward from the oldest with the newer cursor, 2 at a time.
  const forward: string[] = []
  let cursor = (await app.inject({ url: `${url}?since=2000-01-01T00:00:00Z&limit=2`, headers: h })).json()
  forward.push(...cursor.messages.map((m: { content: string }) => m.content))
  for (let i = 0; i < 10 && cursor.hasMore; i++) {
    cursor = (await app.inject({ url: `${url}?limit=2&cursor=${cursor.newerCursor}`, headers: h })).json()
    forward.push(...cursor.messages.map((m: { content: string }) => m.content))
  }
  t.same(forward, seen, 'catching up forward yields the same sequence')
  const empty = (await app.inject({ url: `${url}?cursor=${cursor.newerCursor}`, headers: h })).json()
  t.same(empty.messages, [])
  t.equal(empty.newerCursor, cursor.newerCursor, 'an empty catch-up page keeps the poller\'s place')

  const before = (await app.inject({ url: `${url}?before=${encodeURIComponent(tie.toISOString())}`, headers: h })).json()
  t.same(before.messages.map((m: { content: string }) => m.content), ['old0', 'old1', 'old2'], 'before=<ISO> is strict')
  const since = (await app.inject({ url: `${url}?since=${encodeURIComponent(tie.toISOString())}`, headers: h })).json()
  t.same(since.messages.map((m: { content: string }) => m.content), ['new0', 'new1'])

  t.equal((await app.inject({ url: `${url}?cursor=bm9wZQ`, headers: h })).statusCode, 400, 'a cursor the server did not issue')
  t.equal((await app.inject({ url: `${url}?before=yesterday`, headers: h })).statusCode, 400)
  t.equal((await app.inject({ url: `${url}?before=${tie.toISOString()}&since=${tie.toISOString()}`, headers: h })).statusCode, 400)
  t.equal((await app.inject({ url: `${url}?limit=201`, headers: h })).statusCode, 400)
})

t.test('a message acknowledged while Redis is down is in the history', async (t) => {
  const { app, db, redis, createUser, tokenFor } = await build(t)
  const a = await createUser()
  const { conversation } = await ensureDirectConversation(db, a.id, (await createUser()).id)
  redis.disconnect()
  const sent = await app.inject({ method: 'POST', url: `/api/conversations/${conversation.id}/messages`, headers: auth(tokenFor(a)), payload: { content: 'during outage' } })
  await reconnectRedis(redis)
  t.equal(sent.statusCode, 201)
  const page = (await app.inject({ url: `/api/conversations/${conversation.id}/messages`, headers: auth(tokenFor(a)) })).json()
  t.same(page.messages.map((m: { id: string }) => m.id), [sent.json().id])
})

t.test('conversation lists only show the caller\'s rooms', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const a = await createUser()
  const [room] = await db.insert(conversations).values({ kind: 'room', title: `Lobby ${uniq()}`, isPublic: true, createdBy: a.id }).returning()
  await db.insert(conversationMembers).values({ conversationId: room.id, userId: a.id, role: 'moderator' })
  const list = (await app.inject({ url: '/api/conversations', headers: auth(tokenFor(a)) })).json().conversations
  t.match(list, [{ id: room.id, kind: 'room', isPublic: true, title: room.title, members: [{ id: a.id, role: 'moderator' }] }])
})
