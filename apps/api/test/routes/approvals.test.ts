import t from 'tap'
import { eq } from 'drizzle-orm'
import { approvals, ensureDirectConversation, messages, users, type User } from '@parley/db'
import { build } from '../helper.js'
import { connectReady, listen, settle, type ChatEvent } from '../ws/client.js'
import { uniq } from '../../../../test/env.js'

t.test('approvals and manager tokens', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const base = await listen(app)
  const auth = (u: User) => ({ authorization: `Bearer ${tokenFor(u)}` })
  const call = (u: User, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    app.inject({ method, url, headers: auth(u), ...(payload === undefined ? {} : { payload }) })
  /** A room with `members` (the first is its moderator). */
  async function roomWith (...members: User[]) {
    const room = (await call(members[0], 'POST', '/api/rooms', { title: `Ops ${uniq()}`, isPublic: false })).json()
    for (const m of members.slice(1)) await call(members[0], 'POST', `/api/rooms/${room.id}/members`, { targetUserId: m.id })
    return room.id as string
  }
  const tokenMessage = (conversationId: string) => (e: ChatEvent) => e.type === 'message:created' && e.conversationId === conversationId

  t.test('requests are validated: managers only, members only, not oneself', async (t) => {
    const bot = await createUser()
    const manager = await createUser({ manager: true })
    const plain = await createUser()
    const outsider = await createUser()
    const nonManager = await call(bot, 'POST', '/api/approvals', { targetUserId: plain.id, note: 'please' })
    t.equal(nonManager.statusCode, 400)
    t.match(nonManager.json().message, /not a manager/)
    t.equal((await call(bot, 'POST', '/api/approvals', { targetUserId: '00000000-0000-4000-8000-000000000000' })).statusCode, 404)
    const gone = await createUser({ manager: true, status: 'disabled' })
    t.equal((await call(bot, 'POST', '/api/approvals', { targetUserId: gone.id })).statusCode, 404, 'a disabled manager')
    t.equal((await call(manager, 'POST', '/api/approvals', { targetUserId: manager.id })).statusCode, 400, 'oneself')
    const theirs = await roomWith(outsider, manager)
    const notMine = await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: theirs })
    t.equal(notMine.statusCode, 404, 'a conversation the requester is not a member of')
    t.equal((await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: '00000000-0000-4000-8000-000000000000' })).statusCode, 404)
    const withoutManager = await roomWith(bot, plain)
    const res = await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: withoutManager })
    t.equal(res.statusCode, 400, 'the manager must be in the conversation where the token would go')
    t.match(res.json().message, /not a member/)
    t.equal((await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, note: 'x'.repeat(1001) })).statusCode, 400)
    t.equal((await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, extra: 1 })).statusCode, 400)
    t.same((await call(bot, 'GET', '/api/approvals')).json().approvals, [], 'nothing was recorded')
  })

  t.test('approval end to end: the token arrives over the WebSocket in the request\'s room, and nowhere else', async (t) => {
    const bot = await createUser({ username: `bot${uniq()}` })
    const manager = await createUser({ manager: true, displayName: 'Manager' })
    const bystander = await createUser()
    const outsider = await createUser()
    const roomId = await roomWith(bot, manager, bystander)
    const { conversation: dm } = await ensureDirectConversation(db, bot.id, manager.id)
    const [botSocket, managerSocket, bystanderSocket, outsiderSocket] = await Promise.all([bot, manager, bystander, outsider].map(u => connectReady(t, base, tokenFor(u))))

    const created = await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, note: 'Deploy window', conversationId: roomId })
    t.equal(created.statusCode, 201)
    const approval = created.json()
    t.match(approval, { requester: { id: bot.id }, target: { id: manager.id, manager: true }, note: 'Deploy window', conversationId: roomId, status: 'pending', decidedBy: null })
    for (const c of [botSocket, managerSocket]) t.equal((await c.next('approval:updated')).request.status, 'pending', 'both parties are told')

    t.same((await call(manager, 'GET', '/api/approvals?direction=incoming')).json().approvals.map((a: { id: string }) => a.id), [approval.id])
    t.same((await call(bot, 'GET', '/api/approvals?direction=outgoing')).json().approvals.map((a: { id: string }) => a.id), [approval.id])
    t.same((await call(bot, 'GET', '/api/approvals?direction=incoming')).json().approvals, [])
    t.same((await call(outsider, 'GET', '/api/approvals?direction=all')).json().approvals, [])
    t.equal((await call(bot, 'GET', '/api/approvals?direction=sideways')).statusCode, 400)

    t.equal((await call(bot, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'approved' })).statusCode, 403, 'the requester cannot approve itself')
    t.equal((await call(outsider, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'approved' })).statusCode, 404, 'others cannot see it')
    t.equal((await call(manager, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'yes' })).statusCode, 400)
    t.equal((await db.select().from(users).where(eq(users.id, manager.id)))[0].managerTokenEnc, null, 'the manager has no token yet')

    const res = await call(manager, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'approved' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { status: 'approved', decidedBy: manager.id, tokenConversationId: roomId })
    t.ok(res.json().decidedAt)

    const delivered = await botSocket.next(tokenMessage(roomId))
    const token = delivered.message.content
    t.match(token, /^[A-Za-z0-9]{32}$/, 'the message is only a 32-character token')
    t.match(delivered.message, { senderId: manager.id, conversationId: roomId, format: 'text' }, 'posted as the manager')
    t.equal((await bystanderSocket.next(tokenMessage(roomId))).message.id, delivered.message.id, 'every member of the room sees it')
    t.equal((await managerSocket.next(tokenMessage(roomId))).message.id, delivered.message.id)
    for (const c of [botSocket, managerSocket]) {
      const e = await c.next(e => e.type === 'approval:updated' && e.request.status === 'approved')
      t.equal(e.request.id, approval.id)
      t.notOk(JSON.stringify(e).includes(token), 'approval:updated does not carry the token')
    }
    t.notOk(res.body.includes(token), 'the response does not carry the token')
    await Promise.all([outsiderSocket, botSocket].map(settle))
    t.notOk(outsiderSocket.events.some(e => JSON.stringify(e).includes(token)), 'a non-member never sees the token')
    t.same(botSocket.events.filter(e => e.type === 'message:created').map(e => e.conversationId), [roomId], 'no token message in any other conversation (e.g. the DM)')
    t.same(await db.select().from(messages).where(eq(messages.conversationId, dm.id)), [], 'the DM stays empty')

    const stored = (await db.select().from(users).where(eq(users.id, manager.id)))[0].managerTokenEnc!
    t.notOk(stored.includes(token), 'stored encrypted')
    t.equal((await call(manager, 'GET', '/api/users/me/profile')).json().managerToken, token, 'the generated token is the manager\'s stored token')
    const [audit] = await db.select().from(approvals).where(eq(approvals.id, approval.id))
    t.match(audit, { status: 'approved', decidedBy: manager.id, tokenConversationId: roomId, tokenMessageId: delivered.message.id })
    t.ok(audit.decidedAt instanceof Date, 'audit: who and when')

    const twice = await call(manager, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'denied' })
    t.equal(twice.statusCode, 409, 'answered once')
    t.match(twice.json().message, /already approved/)
    t.equal((await db.select().from(messages).where(eq(messages.conversationId, roomId))).length, 1, 'one token message only')

    // A second approval reuses the same token.
    const second = (await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: roomId })).json()
    await call(manager, 'POST', `/api/approvals/${second.id}/respond`, { decision: 'approved' })
    t.equal((await botSocket.next(tokenMessage(roomId))).message.content, token, 'an existing token is reused, not replaced')
  })

  t.test('without conversationId the token goes to the manager↔requester DM; an existing token is used', async (t) => {
    const bot = await createUser()
    const manager = await createUser({ manager: true })
    const set = 'N008G0NN4G1V3UP50E4SYMYPR3Y!!ASS'
    t.equal((await call(manager, 'PUT', '/api/users/me/profile', { managerToken: set })).statusCode, 200)
    const botSocket = await connectReady(t, base, tokenFor(bot))
    const approval = (await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, note: 'legacy DM flow' })).json()
    t.equal(approval.conversationId, null)
    const res = await call(manager, 'POST', `/api/approvals/${approval.id}/respond`, { decision: 'approved' })
    t.equal(res.statusCode, 200)
    const dmUpdate = await botSocket.next(e => e.type === 'conversation:updated' && e.conversation.kind === 'direct')
    const dmId = dmUpdate.conversation.id
    t.same(dmUpdate.conversation.members.map((m: { id: string }) => m.id).sort(), [bot.id, manager.id].sort(), 'the DM of the two')
    const delivered = await botSocket.next(tokenMessage(dmId))
    t.equal(delivered.message.content, set, 'the manager\'s own token')
    t.equal(delivered.message.senderId, manager.id)
    t.equal(res.json().tokenConversationId, dmId)
  })

  t.test('a denial posts no token; a concurrent double approval posts one', async (t) => {
    const bot = await createUser()
    const manager = await createUser({ manager: true })
    const roomId = await roomWith(bot, manager)
    const botSocket = await connectReady(t, base, tokenFor(bot))
    const a = (await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: roomId })).json()
    const denied = await call(manager, 'POST', `/api/approvals/${a.id}/respond`, { decision: 'denied' })
    t.equal(denied.statusCode, 200)
    t.match(denied.json(), { status: 'denied', decidedBy: manager.id, tokenConversationId: null, tokenMessageId: null })
    t.equal((await botSocket.next(e => e.type === 'approval:updated' && e.request.status === 'denied')).request.id, a.id)
    await settle(botSocket)
    t.notOk(botSocket.events.some(e => e.type === 'message:created'), 'no message')
    t.same(await db.select().from(messages).where(eq(messages.conversationId, roomId)), [])
    t.equal((await db.select().from(users).where(eq(users.id, manager.id)))[0].managerTokenEnc, null, 'no token was created for a denial')
    t.equal((await call(manager, 'POST', `/api/approvals/${a.id}/respond`, { decision: 'approved' })).statusCode, 409, 'a denial is final')

    const b = (await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: roomId })).json()
    const answers = await Promise.all([1, 2, 3].map(() => call(manager, 'POST', `/api/approvals/${b.id}/respond`, { decision: 'approved' })))
    t.same(answers.map(r => r.statusCode).sort(), [200, 409, 409])
    t.equal((await db.select().from(messages).where(eq(messages.conversationId, roomId))).length, 1, 'one token message')

    // More concurrent responses than the test pool has connections (5): none may starve.
    const many = await Promise.all(Array.from({ length: 6 }, () => call(bot, 'POST', '/api/approvals', { targetUserId: manager.id, conversationId: roomId }).then(r => r.json().id as string)))
    const all = await Promise.all(many.flatMap(id => [1, 2].map(() => call(manager, 'POST', `/api/approvals/${id}/respond`, { decision: 'approved' }))))
    t.same(all.map(r => r.statusCode).sort(), [...Array(6).fill(200), ...Array(6).fill(409)])
    t.equal((await db.select().from(messages).where(eq(messages.conversationId, roomId))).length, 7, 'one token message per approval')
  })

  t.test('a manager demoted after the request cannot approve', async (t) => {
    const bot = await createUser()
    const manager = await createUser({ manager: true })
    const a = (await call(bot, 'POST', '/api/approvals', { targetUserId: manager.id })).json()
    await db.update(users).set({ manager: false }).where(eq(users.id, manager.id))
    t.equal((await call(manager, 'POST', `/api/approvals/${a.id}/respond`, { decision: 'approved' })).statusCode, 403)
    t.equal((await call(manager, 'POST', `/api/approvals/${a.id}/respond`, { decision: 'denied' })).statusCode, 200, 'but may still deny')
  })
})
