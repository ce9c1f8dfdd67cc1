import t from 'tap'
import { randomUUID } from 'node:crypto'
import { ensureDirectConversation } from '@parley/db'
import { build } from '../helper.js'
import { connect, connectReady, listen, settle } from './client.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('chat WebSocket', async (t) => {
  const { app, db, createUser, tokenFor, admin } = await build(t)
  const base = await listen(app)

  t.test('sign-in: bad, missing and expired tokens close with 4401', async (t) => {
    t.equal((await (await connect(t, base, 'not-a-jwt')).closed).code, 4401)
    t.equal((await (await connect(t, base, undefined)).closed).code, 4401)
    const u = await createUser()
    const expired = app.jwt.sign({ sub: u.id, sv: u.sessionVersion, iat: Math.floor(Date.now() / 1000) - 7200 } as { sub: string, sv: number }, { expiresIn: 60 })
    t.equal((await app.inject({ url: '/api/auth/me', headers: auth(expired) })).statusCode, 401, 'REST refuses it too')
    const c = await connect(t, base, expired)
    const { code, reason } = await c.closed
    t.equal(code, 4401)
    t.match(reason, /invalid or expired/)
    t.notOk(c.events.some(e => e.type === 'ready'), 'nothing before the close')
    const disabled = await createUser({ status: 'disabled' })
    t.equal((await (await connect(t, base, tokenFor(disabled))).closed).code, 4401)
  })

  t.test('ready, ping, conversation:list', async (t) => {
    const a = await createUser({ displayName: 'Ann' })
    const b = await createUser()
    const { conversation } = await ensureDirectConversation(db, a.id, b.id)
    const c = await connectReady(t, base, tokenFor(a))
    t.match(c.ready.user, { id: a.id, displayName: 'Ann', presenceStatus: 'online' })
    t.notOk('passwordHash' in c.ready.user)
    t.same(c.ready.conversations.map((x: { id: string }) => x.id), [conversation.id])
    t.equal(c.events[0].type, 'ready', 'ready comes first')
    c.send({ type: 'ping', id: 'p1' })
    t.same(await c.next('pong'), { type: 'pong', id: 'p1' })
    c.send({ type: 'conversation:list' })
    const list = await c.next('conversation:list')
    t.same(list.conversations.map((x: { id: string }) => x.id), [conversation.id])
  })

  t.test('messages reach members only; acks reach the sender', async (t) => {
    const a = await createUser({ displayName: 'Ann' })
    const b = await createUser()
    const outsider = await createUser()
    const { conversation } = await ensureDirectConversation(db, a.id, b.id)
    const ca = await connectReady(t, base, tokenFor(a))
    const ca2 = await connectReady(t, base, tokenFor(a)) // a second tab
    const cb = await connectReady(t, base, tokenFor(b))
    const co = await connectReady(t, base, tokenFor(outsider))

    ca.send({ type: 'message:send', conversationId: conversation.id, content: '# hi', format: 'markdown', clientId: 'ws-1' })
    const created = await cb.next('message:created')
    t.match(created, { conversationId: conversation.id, message: { content: '# hi', format: 'markdown', senderId: a.id, clientId: 'ws-1' } })
    t.match(await ca.next('message:ack'), { clientId: 'ws-1', message: { id: created.message.id } })
    t.equal((await ca.next('message:created')).message.id, created.message.id, 'the sender gets message:created too')
    t.equal((await ca2.next('message:ack')).message.id, created.message.id, 'on every socket of the sender')

    ca.send({ type: 'message:send', conversationId: conversation.id, content: '# hi', clientId: 'ws-1' })
    t.equal((await ca.next('message:ack')).message.id, created.message.id, 'a retried send is acknowledged with the first message')

    const rest = await app.inject({ method: 'POST', url: `/api/conversations/${conversation.id}/messages`, headers: auth(tokenFor(b)), payload: { content: 'via REST' } })
    t.equal((await ca.next('message:created')).message.id, rest.json().id, 'REST sends are pushed live')
    t.equal((await cb.next('message:ack')).message.id, rest.json().id)

    co.send({ type: 'message:send', conversationId: conversation.id, content: 'intruding', clientId: 'x-1' })
    t.match(await co.next('error'), { code: 'NOT_FOUND', clientId: 'x-1', requestType: 'message:send' })
    await settle(cb)
    await settle(co)
    t.notOk(co.events.some(e => e.type === 'message:created' || e.type === 'message:ack'), 'an outsider sees nothing of the conversation')
    t.notOk(cb.events.some(e => e.message?.content === 'intruding'), 'and cannot post into it')
    t.equal(cb.events.filter(e => e.type === 'message:created').length, 2, 'the retry was not announced again')
  })

  t.test('typing and thinking go to the other members; outsiders are refused', async (t) => {
    const a = await createUser({ displayName: 'Ann' })
    const b = await createUser()
    const outsider = await createUser()
    const { conversation } = await ensureDirectConversation(db, a.id, b.id)
    const ca = await connectReady(t, base, tokenFor(a))
    const cb = await connectReady(t, base, tokenFor(b))
    const co = await connectReady(t, base, tokenFor(outsider))
    ca.send({ type: 'typing', conversationId: conversation.id, typing: true })
    t.same(await cb.next('typing'), { type: 'typing', conversationId: conversation.id, userId: a.id, displayName: 'Ann', typing: true })
    ca.send({ type: 'thinking', conversationId: conversation.id, thinking: false })
    t.same(await cb.next('thinking'), { type: 'thinking', conversationId: conversation.id, userId: a.id, displayName: 'Ann', thinking: false })
    await settle(ca)
    t.notOk(ca.events.some(e => e.type === 'typing' || e.type === 'thinking'), 'not echoed to the sender')
    co.send({ type: 'typing', conversationId: conversation.id, typing: true })
    t.match(await co.next('error'), { code: 'NOT_FOUND', requestType: 'typing' })
    co.send({ type: 'thinking', conversationId: randomUUID(), thinking: true })
    t.match(await co.next('error'), { code: 'NOT_FOUND', requestType: 'thinking' })
    await settle(cb)
    t.equal(cb.events.filter(e => e.type === 'typing').length, 1, 'the outsider\'s typing was not relayed')
  })

  t.test('bad frames get error events, never a crash', async (t) => {
    const a = await createUser()
    const c = await connectReady(t, base, tokenFor(a))
    c.send('{not json')
    t.match(await c.next('error'), { code: 'INVALID_JSON' })
    c.send('[1,2]')
    t.match(await c.next('error'), { code: 'INVALID_MESSAGE' })
    c.send({ type: 'launch:rockets' })
    t.match(await c.next('error'), { code: 'UNKNOWN_TYPE', error: /launch:rockets/ })
    c.send({ type: 'message:send', conversationId: 'nope', content: 'x' })
    t.match(await c.next('error'), { code: 'INVALID_MESSAGE', error: /conversationId/ })
    c.send({ type: 'message:send', conversationId: randomUUID(), content: 'x'.repeat(2001), clientId: 'long' })
    t.match(await c.next('error'), { code: 'INVALID_MESSAGE', error: /content/, clientId: 'long' })
    c.send({ type: 'typing', conversationId: randomUUID(), typing: 'yes' })
    t.match(await c.next('error'), { code: 'INVALID_MESSAGE', error: /typing/ })
    c.send({ type: 'ping', extra: 1 })
    t.match(await c.next('error'), { code: 'INVALID_MESSAGE' })
    c.send({ type: 'ping' })
    await c.next('pong')
  })

  t.test('oversize frames close with 1009', async (t) => {
    const c = await connectReady(t, base, tokenFor(await createUser()))
    c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(40 * 1024) }))
    t.equal((await c.closed).code, 1009)
  })

  t.test('a flood of frames is rate limited, then closed with 1008', async (t) => {
    const c = await connectReady(t, base, tokenFor(await createUser()))
    for (let i = 0; i < 100; i++) c.send({ type: 'ping', id: String(i) })
    t.match(await c.next('error'), { code: 'RATE_LIMITED' })
    t.ok(c.events.filter(e => e.type === 'pong').length < 100, 'excess frames were dropped')
    for (let i = 0; i < 400; i++) c.send({ type: 'ping' })
    t.equal((await c.closed).code, 1008)
    // The server is fine: a new socket works.
    const d = await connectReady(t, base, tokenFor(await createUser()))
    d.send({ type: 'ping' })
    await d.next('pong')
  })

  t.test('direct conversation creation is announced to both users', async (t) => {
    const a = await createUser()
    const b = await createUser()
    const ca = await connectReady(t, base, tokenFor(a))
    const cb = await connectReady(t, base, tokenFor(b))
    const res = await app.inject({ method: 'POST', url: '/api/conversations/direct', headers: auth(tokenFor(a)), payload: { targetUserId: b.id } })
    t.equal((await ca.next('conversation:updated')).conversation.id, res.json().id)
    const seen = await cb.next('conversation:updated')
    t.equal(seen.conversation.id, res.json().id)
    t.equal(seen.conversation.members.length, 2)
  })

  t.test('disabling a user closes its sockets and its token stops working', async (t) => {
    const { headers } = await admin()
    const u = await createUser()
    const token = tokenFor(u)
    const c = await connectReady(t, base, token)
    const res = await app.inject({ method: 'PATCH', url: `/api/admin/users/${u.id}`, headers, payload: { status: 'disabled' } })
    t.equal(res.statusCode, 200)
    t.same(await c.closed, { code: 4401, reason: 'Account disabled' })
    t.equal((await app.inject({ url: '/api/auth/me', headers: auth(token) })).statusCode, 401)
    t.equal((await (await connect(t, base, token)).closed).code, 4401)
  })

  t.test('deleting a user, resetting or changing its password also close its sockets', async (t) => {
    const { headers } = await admin()
    const deleted = await createUser()
    const reset = await createUser()
    const changer = await createUser()
    const [c1, c2, c3] = await Promise.all([deleted, reset, changer].map(u => connectReady(t, base, tokenFor(u))))
    t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${deleted.id}`, headers })).statusCode, 204)
    t.same(await c1.closed, { code: 4401, reason: 'Account deleted' })
    t.equal((await app.inject({ method: 'POST', url: `/api/admin/users/${reset.id}/reset-password`, headers })).statusCode, 200)
    t.same(await c2.closed, { code: 4401, reason: 'Password reset' })
    const changed = await app.inject({ method: 'POST', url: '/api/users/me/password', headers: auth(tokenFor(changer)), payload: { currentPassword: 'correct horse battery', newPassword: 'a brand new one' } })
    t.equal(changed.statusCode, 200)
    t.same(await c3.closed, { code: 4401, reason: 'Password changed' })
    const again = await connectReady(t, base, changed.json().token)
    t.equal(again.ready.user.id, changer.id, 'the new token opens a socket')
  })
})
