import t from 'tap'
import { ensureDirectConversation, type User } from '@parley/db'
import { build } from '../helper.js'
import { connectReady, listen, settle, type ChatClient, type ChatEvent } from '../ws/client.js'
import { uniq } from '../../../../test/env.js'

t.test('rooms and access control', async (t) => {
  const { app, db, createUser, tokenFor, admin } = await build(t)
  const base = await listen(app)
  const auth = (u: User) => ({ authorization: `Bearer ${tokenFor(u)}` })
  const call = (u: User | undefined, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    app.inject({ method, url, headers: u ? auth(u) : {}, ...(payload === undefined ? {} : { payload }) })
  const newRoom = async (owner: User, isPublic: boolean, title = `Room ${uniq()}`) => {
    const res = await call(owner, 'POST', '/api/rooms', { title, isPublic })
    if (res.statusCode !== 201) throw new Error(res.body)
    return res.json() as { id: string, title: string }
  }
  const roomAs = async (u: User, room: { id: string, title: string }) =>
    (await call(u, 'GET', `/api/rooms?q=${encodeURIComponent(room.title)}`)).json().rooms.find((r: { id: string }) => r.id === room.id)
  /** The next `conversation:updated` for `roomId` on `c`. */
  const updated = (c: ChatClient, roomId: string, match: (e: ChatEvent) => boolean = () => true) =>
    c.next(e => e.type === 'conversation:updated' && e.conversation.id === roomId && match(e))
  const hasMember = (id: string) => (e: ChatEvent) => e.conversation.members.some((m: { id: string }) => m.id === id)

  t.test('any signed-in user creates a room and becomes its moderator', async (t) => {
    const owner = await createUser()
    const title = `Lobby ${uniq()}`
    const res = await call(owner, 'POST', '/api/rooms', { title, isPublic: true })
    t.equal(res.statusCode, 201)
    t.match(res.json(), { title, isPublic: true, memberCount: 1, isMember: true, isModerator: true, joinRequestStatus: null, pendingRequestCount: 0 })
    t.match(res.json().members, [{ id: owner.id, role: 'moderator' }])
    t.equal((await call(undefined, 'POST', '/api/rooms', { title })).statusCode, 401)
    const blank = await call(owner, 'POST', '/api/rooms', { title: '   ' })
    t.equal(blank.statusCode, 400)
    t.match(blank.json().message, /title/)
    t.equal((await call(owner, 'POST', '/api/rooms', { title, isPublic: 'yes' })).statusCode, 400, 'no coercion')
    t.match((await call(owner, 'POST', '/api/rooms', { title, colour: 'red' })).json().message, /colour is not allowed/)
    t.equal((await call(owner, 'POST', '/api/rooms', { title: 'x'.repeat(101) })).statusCode, 400)
  })

  t.test('GET /api/rooms: public and private rooms, members hidden from outsiders of private rooms', async (t) => {
    const owner = await createUser()
    const other = await createUser()
    const tag = uniq()
    const pub = await newRoom(owner, true, `Pub ${tag}`)
    const priv = await newRoom(owner, false, `Priv ${tag}`)
    const list = (await call(other, 'GET', `/api/rooms?q=${tag}`)).json().rooms
    t.same(list.map((r: { id: string }) => r.id), [priv.id, pub.id], 'both listed, by title')
    t.match(list[1], { isPublic: true, memberCount: 1, isMember: false, isModerator: false, joinRequestStatus: null, pendingRequestCount: 0 })
    t.equal(list[1].members.length, 1, 'members of a public room are visible')
    t.match(list[0], { isPublic: false, memberCount: 1, isMember: false })
    t.same(list[0].members, [], 'members of a private room are not shown to outsiders')
    t.equal((await roomAs(owner, priv)).members.length, 1, 'but to its members')
    const { user: adm } = await admin()
    t.match(await roomAs(adm, priv), { isMember: false, isModerator: true }, 'admins moderate every room')
    t.equal((await call(other, 'GET', '/api/rooms?limit=0')).statusCode, 400)
  })

  t.test('join: public rooms at once (broadcast to members), private rooms 403, unknown 404', async (t) => {
    const owner = await createUser()
    const joiner = await createUser()
    const pub = await newRoom(owner, true)
    const priv = await newRoom(owner, false)
    const ownerSocket = await connectReady(t, base, tokenFor(owner))
    const res = await call(joiner, 'POST', `/api/rooms/${pub.id}/join`)
    t.equal(res.statusCode, 200)
    t.match(res.json(), { isMember: true, memberCount: 2 })
    const e = await updated(ownerSocket, pub.id, hasMember(joiner.id))
    t.equal(e.conversation.memberCount, 2, 'the member sees the new membership')
    t.match((await call(joiner, 'POST', `/api/rooms/${pub.id}/join`)).json(), { memberCount: 2 }, 'joining twice changes nothing')
    const denied = await call(joiner, 'POST', `/api/rooms/${priv.id}/join`)
    t.equal(denied.statusCode, 403)
    t.match(denied.json().message, /private.*request-access/)
    t.equal((await call(joiner, 'POST', '/api/rooms/00000000-0000-4000-8000-000000000000/join')).statusCode, 404)
    const { conversation: dm } = await ensureDirectConversation(db, owner.id, joiner.id)
    t.equal((await call(owner, 'POST', `/api/rooms/${dm.id}/join`)).statusCode, 404, 'a direct conversation is not a room')
    t.equal((await call(joiner, 'POST', '/api/rooms/not-a-uuid/join')).statusCode, 400)
  })

  t.test('PATCH: room moderators and admins only', async (t) => {
    const owner = await createUser()
    const member = await createUser()
    const outsider = await createUser()
    const room = await newRoom(owner, true)
    await call(member, 'POST', `/api/rooms/${room.id}/join`)
    const memberSocket = await connectReady(t, base, tokenFor(member))
    t.equal((await call(member, 'PATCH', `/api/rooms/${room.id}`, { isPublic: false })).statusCode, 403, 'a plain member may not')
    t.equal((await call(outsider, 'PATCH', `/api/rooms/${room.id}`, { isPublic: false })).statusCode, 403, 'an outsider may not')
    const globalModerator = await createUser({ role: 'moderator' })
    t.equal((await call(globalModerator, 'PATCH', `/api/rooms/${room.id}`, { isPublic: false })).statusCode, 403, 'the global moderator role is not a room moderator')
    t.equal((await roomAs(owner, room)).isPublic, true, 'refused changes changed nothing')
    const res = await call(owner, 'PATCH', `/api/rooms/${room.id}`, { isPublic: false })
    t.equal(res.statusCode, 200)
    t.equal(res.json().isPublic, false)
    t.equal((await updated(memberSocket, room.id, e => e.conversation.isPublic === false)).conversation.isPublic, false, 'members are told')
    t.equal((await call(outsider, 'POST', `/api/rooms/${room.id}/join`)).statusCode, 403, 'now private')
    const { user: adm } = await admin()
    t.equal((await call(adm, 'PATCH', `/api/rooms/${room.id}`, { isPublic: true })).json().isPublic, true, 'an admin may')
    t.equal((await call(owner, 'PATCH', `/api/rooms/${room.id}`, {})).statusCode, 400, 'empty body')
    t.equal((await call(owner, 'PATCH', `/api/rooms/${room.id}`, { isPublic: null })).statusCode, 400)
    t.equal((await call(owner, 'PATCH', '/api/rooms/00000000-0000-4000-8000-000000000000', { isPublic: true })).statusCode, 404)
  })

  t.test('POST members: moderators add without approval', async (t) => {
    const owner = await createUser()
    const member = await createUser()
    const target = await createUser()
    const room = await newRoom(owner, false)
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: member.id })).statusCode, 200)
    t.equal((await call(member, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: target.id })).statusCode, 403, 'a plain member may not add')
    t.equal((await call(target, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: target.id })).statusCode, 403, 'nor may one add oneself')
    const targetSocket = await connectReady(t, base, tokenFor(target))
    const res = await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: target.id })
    t.equal(res.statusCode, 200)
    t.equal(res.json().memberCount, 3)
    await updated(targetSocket, room.id, hasMember(target.id))
    t.match(await roomAs(target, room), { isMember: true, isModerator: false })
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: target.id })).json().memberCount, 3, 'adding twice is a no-op')
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: '00000000-0000-4000-8000-000000000000' })).statusCode, 404)
    const disabled = await createUser({ status: 'disabled' })
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: disabled.id })).statusCode, 404)
  })

  t.test('the whole join-request lifecycle of a private room', async (t) => {
    const owner = await createUser()
    const member = await createUser()
    const alice = await createUser({ displayName: 'Alice Asks' })
    const bob = await createUser()
    const room = await newRoom(owner, false)
    await call(owner, 'POST', `/api/rooms/${room.id}/members`, { targetUserId: member.id })
    const [ownerSocket, memberSocket, aliceSocket] = await Promise.all([owner, member, alice].map(u => connectReady(t, base, tokenFor(u))))

    const asked = await call(alice, 'POST', `/api/rooms/${room.id}/request-access`, { note: 'I run the Tuesday stand-up' })
    t.equal(asked.statusCode, 201)
    t.match(asked.json(), { status: 'pending', request: { roomId: room.id, requester: { id: alice.id, displayName: 'Alice Asks' }, note: 'I run the Tuesday stand-up', status: 'pending', decidedBy: null }, room: { isMember: false, joinRequestStatus: 'pending' } })
    const requestId = asked.json().request.id
    t.equal((await ownerSocket.next(e => e.type === 'room:request' && e.request.id === requestId)).request.status, 'pending', 'moderators are told')

    const again = await call(alice, 'POST', `/api/rooms/${room.id}/request-access`, { note: 'please' })
    t.equal(again.statusCode, 409, 'a second request while one is pending')
    t.match(again.json().message, /pending/)

    t.match(await roomAs(alice, room), { joinRequestStatus: 'pending', pendingRequestCount: 0, isMember: false })
    t.match(await roomAs(owner, room), { pendingRequestCount: 1, isModerator: true })
    t.match(await roomAs(member, room), { pendingRequestCount: 0, isModerator: false }, 'counted for moderators only')

    t.equal((await call(alice, 'GET', `/api/rooms/${room.id}/requests`)).statusCode, 403, 'the requester cannot list requests')
    t.equal((await call(member, 'GET', `/api/rooms/${room.id}/requests`)).statusCode, 403, 'a plain member cannot list requests')
    const listed = await call(owner, 'GET', `/api/rooms/${room.id}/requests`)
    t.equal(listed.statusCode, 200)
    t.match(listed.json().requests, [{ id: requestId, requester: { id: alice.id, username: alice.username }, status: 'pending' }])

    t.equal((await call(member, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'approved' })).statusCode, 403, 'a plain member cannot decide')
    t.equal((await call(alice, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'approved' })).statusCode, 403, 'nor can the requester')
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'maybe' })).statusCode, 400)
    const otherRoom = await newRoom(owner, false)
    t.equal((await call(owner, 'POST', `/api/rooms/${otherRoom.id}/requests/${requestId}/respond`, { decision: 'approved' })).statusCode, 404, 'a request of another room')
    t.match(await roomAs(alice, room), { isMember: false, joinRequestStatus: 'pending' }, 'refusals changed nothing')

    const approved = await call(owner, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'approved' })
    t.equal(approved.statusCode, 200)
    t.match(approved.json(), { request: { status: 'approved', decidedBy: owner.id }, room: { memberCount: 3 } })
    t.ok(approved.json().request.decidedAt)
    for (const [who, c] of [['moderator', ownerSocket], ['member', memberSocket], ['new member', aliceSocket]] as const) {
      const e = await updated(c, room.id, hasMember(alice.id))
      t.equal(e.conversation.memberCount, 3, `the ${who} gets the new membership`)
    }
    t.equal((await aliceSocket.next(e => e.type === 'room:request' && e.request.status === 'approved')).request.id, requestId, 'the requester is told')
    t.match(await roomAs(alice, room), { isMember: true, joinRequestStatus: 'approved' })

    const twice = await call(owner, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'denied' })
    t.equal(twice.statusCode, 409, 'a request is decided once')
    t.match(twice.json().message, /already approved/)
    t.equal((await call(owner, 'POST', `/api/rooms/${room.id}/requests/${requestId}/respond`, { decision: 'approved' })).statusCode, 409)
    t.equal((await call(alice, 'POST', `/api/rooms/${room.id}/request-access`, {})).statusCode, 409, 'a member need not ask')

    // Denied: not a member, no membership broadcast, and may ask again.
    const bobAsked = (await call(bob, 'POST', `/api/rooms/${room.id}/request-access`, {})).json().request
    t.equal(bobAsked.note, null)
    const denied = await call(owner, 'POST', `/api/rooms/${room.id}/requests/${bobAsked.id}/respond`, { decision: 'denied' })
    t.equal(denied.statusCode, 200)
    t.match(denied.json(), { request: { status: 'denied', decidedBy: owner.id }, room: { memberCount: 3 } })
    t.match(await roomAs(bob, room), { isMember: false, joinRequestStatus: 'denied' })
    await settle(memberSocket)
    t.notOk(memberSocket.events.some(e => e.type === 'conversation:updated' && hasMember(bob.id)(e)), 'no membership for a denied requester')
    t.equal((await call(owner, 'GET', `/api/rooms/${room.id}/requests?status=denied`)).json().requests[0].id, bobAsked.id)
    t.same((await call(owner, 'GET', `/api/rooms/${room.id}/requests`)).json().requests, [], 'nothing pending')
    t.equal((await call(owner, 'GET', `/api/rooms/${room.id}/requests?status=all`)).json().requests.length, 2)
    t.equal((await call(bob, 'POST', `/api/rooms/${room.id}/request-access`, { note: 'second try' })).statusCode, 201, 'a denied user may ask again')

    // An admin who is not in the room can decide.
    const { user: adm } = await admin()
    const again2 = (await call(adm, 'GET', `/api/rooms/${room.id}/requests`)).json().requests[0]
    t.match((await call(adm, 'POST', `/api/rooms/${room.id}/requests/${again2.id}/respond`, { decision: 'approved' })).json(), { request: { decidedBy: adm.id } })
  })

  t.test('request-access to a public room joins at once; a direct add settles a pending request', async (t) => {
    const owner = await createUser()
    const u = await createUser()
    const pub = await newRoom(owner, true)
    const res = await call(u, 'POST', `/api/rooms/${pub.id}/request-access`, { note: 'hi' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { status: 'joined', request: null, room: { isMember: true } })

    const priv = await newRoom(owner, false)
    const v = await createUser()
    const rid = (await call(v, 'POST', `/api/rooms/${priv.id}/request-access`, {})).json().request.id
    await call(owner, 'POST', `/api/rooms/${priv.id}/members`, { targetUserId: v.id })
    t.match(await roomAs(v, priv), { isMember: true, joinRequestStatus: 'approved' })
    t.equal((await call(owner, 'POST', `/api/rooms/${priv.id}/requests/${rid}/respond`, { decision: 'denied' })).statusCode, 409, 'already settled')
  })

  t.test('races: concurrent requests make one; concurrent responses decide once', async (t) => {
    const owner = await createUser()
    const u = await createUser()
    const room = await newRoom(owner, false)
    const asks = await Promise.all([1, 2, 3].map(() => call(u, 'POST', `/api/rooms/${room.id}/request-access`, {})))
    t.same(asks.map(r => r.statusCode).sort(), [201, 409, 409])
    const rid = asks.find(r => r.statusCode === 201)!.json().request.id
    const answers = await Promise.all(['approved', 'denied', 'approved'].map(decision => call(owner, 'POST', `/api/rooms/${room.id}/requests/${rid}/respond`, { decision })))
    t.same(answers.map(r => r.statusCode).sort(), [200, 409, 409])
    const winner = answers.find(r => r.statusCode === 200)!.json().request.status
    t.equal((await roomAs(u, room)).isMember, winner === 'approved', 'membership follows the one decision')
  })
})
