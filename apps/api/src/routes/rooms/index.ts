/**
 * Rooms and access control (seeds/secure-chat-server-plugin-api.md, "Rooms & Access Control";
 * issue 6). A room is a conversation of kind `room` — a Mattermost channel, public ("O") or
 * private ("P") — with messages through the conversation routes.
 *
 * Who may do what:
 * - Any signed-in, active user may list rooms and create one (as in Mattermost's default policy,
 *   where every team member may create channels); the creator becomes the room's first moderator.
 * - Room moderators (members with role `moderator` in that room) and global admins may change a
 *   room's visibility or title, add members directly, and list and decide join requests.
 *   Global admins count as moderators of every room; the global `moderator` role does not.
 * - Anyone may join a public room; a private room answers 403 and points to request-access.
 *
 * Private rooms are listed too (so people can ask to join), but their `members` are shown only
 * to members and admins; `memberCount` is always shown. `pendingRequestCount` is counted for the
 * room's moderators and is 0 for everybody else (`isModerator` says which).
 *
 * Events (via `app.events`): membership and visibility changes send `conversation:updated` to every
 * member (chat/conversations.ts); join requests send `{ type: "room:request", request }` to the
 * room's moderators when created and to the requester when decided (an additive event, not in
 * the seed's table).
 */
import { Type, type Static } from 'typebox'
import type { FastifyInstance } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  addRoomMember, createJoinRequest, createRoom, decideJoinRequest, findJoinRequest, findMemberRole, findRoom, findUserById,
  listJoinRequests, listMembers, listModeratorIds, listRoomsFor, settlePendingRequest, updateRoom,
  type JoinRequestRow, type RoomListRow, type User
} from '@parley/db'
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, PresenceSchema, errorResponses } from '../../schemas/common.js'
import { LIST_MEMBER_LIMIT, MemberSchema, publishConversationUpdated } from '../../chat/conversations.js'

const Uuid = Type.String({ format: 'uuid' })
const StatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('denied')])
const DecisionSchema = Type.Union([Type.Literal('approved'), Type.Literal('denied')])

export const RoomSchema = Type.Object({
  id: Uuid,
  title: Type.String(),
  isPublic: Type.Boolean(),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  memberCount: Type.Integer(),
  isMember: Type.Boolean(),
  isModerator: Type.Boolean({ description: 'The caller may moderate this room (room moderator or admin)' }),
  joinRequestStatus: Type.Union([StatusSchema, Type.Null()], { description: "The caller's latest join request to this room, or null" }),
  pendingRequestCount: Type.Integer({ description: 'Pending join requests; counted for moderators only, else 0' }),
  members: Type.Array(MemberSchema, { description: `Up to ${LIST_MEMBER_LIMIT}; empty for a private room the caller is not in` }),
  membersTruncated: Type.Boolean()
})
export type RoomView = Static<typeof RoomSchema>

export const JoinRequestSchema = Type.Object({
  id: Uuid,
  roomId: Uuid,
  requester: Type.Object({ id: Uuid, username: Type.String(), displayName: Type.String(), avatarUrl: Type.Union([Type.String(), Type.Null()]), presenceStatus: PresenceSchema }),
  note: Type.Union([Type.String(), Type.Null()]),
  status: StatusSchema,
  decidedBy: Type.Union([Uuid, Type.Null()]),
  decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
})
export type JoinRequestView = Static<typeof JoinRequestSchema>

const joinRequestView = (r: JoinRequestRow): JoinRequestView => ({
  id: r.id,
  roomId: r.roomId,
  requester: r.requester,
  note: r.note,
  status: r.status,
  decidedBy: r.decidedBy,
  decidedAt: r.decidedAt?.toISOString() ?? null,
  createdAt: r.createdAt.toISOString()
})

const RoomParams = Type.Object({ id: Uuid })
const RequestParams = Type.Object({ id: Uuid, requestId: Uuid })
const NoteSchema = Type.String({ maxLength: 500, description: 'Optional context for the moderators (≤ 500 characters)' })

/** Rooms as `user` sees them (all, or those in `ids`). */
export async function roomViews (app: FastifyInstance, user: User, o: { q?: string, ids?: string[], limit?: number, offset?: number }): Promise<RoomView[]> {
  const rows = await listRoomsFor(app.db, user.id, { q: o.q, ids: o.ids, limit: o.limit ?? 200, offset: o.offset ?? 0 })
  const admin = user.role === 'admin'
  const visible = rows.filter(r => r.isPublic || r.myRole !== null || admin).map(r => r.id)
  const members = await listMembers(app.db, visible, LIST_MEMBER_LIMIT)
  const byRoom = new Map<string, typeof members>()
  for (const m of members) {
    let list = byRoom.get(m.conversationId)
    if (!list) byRoom.set(m.conversationId, list = [])
    list.push(m)
  }
  return rows.map((r: RoomListRow) => {
    const isModerator = admin || r.myRole === 'moderator'
    const list = byRoom.get(r.id) ?? []
    return {
      id: r.id,
      title: r.title,
      isPublic: r.isPublic,
      createdBy: r.createdBy,
      createdAt: r.createdAt.toISOString(),
      memberCount: r.memberCount,
      isMember: r.myRole !== null,
      isModerator,
      joinRequestStatus: r.joinRequestStatus,
      pendingRequestCount: isModerator ? r.pendingRequestCount : 0,
      members: list.map(m => ({ ...m.user, role: m.role, joinedAt: m.joinedAt.toISOString() })),
      membersTruncated: list.length < r.memberCount
    }
  })
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  app.addHook('preHandler', app.requireUser)

  const roomView = async (user: User, id: string): Promise<RoomView> => (await roomViews(app, user, { ids: [id] }))[0]

  /** The room and the caller's standing in it. @throws NotFound for an unknown id or a direct conversation. */
  async function loadRoom (user: User, id: string) {
    const room = await findRoom(db, id)
    if (!room) throw new NotFound(`No room with id ${id}`)
    const role = await findMemberRole(db, id, user.id)
    return { room, role, canModerate: role === 'moderator' || user.role === 'admin' }
  }
  async function loadRoomAsModerator (user: User, id: string) {
    const r = await loadRoom(user, id)
    if (!r.canModerate) throw new Forbidden(`Only moderators of room ${id} may do this`)
    return r
  }

  app.get('/', {
    schema: {
      tags: ['rooms'],
      description: 'Lists rooms (public and private) with the caller\'s membership and join request status.',
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 100, description: 'Title contains (case-insensitive)' })),
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 100 }),
        offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ rooms: Type.Array(RoomSchema) }), ...errorResponses }
    }
  }, async (request) => {
    const { q, limit, offset } = request.query
    return { rooms: await roomViews(app, currentUser(request), { q: q?.trim() || undefined, limit, offset }) }
  })

  app.post('/', {
    schema: {
      tags: ['rooms'],
      description: 'Creates a room; any signed-in user may, and becomes its moderator.',
      body: Type.Object({
        title: Type.String({ minLength: 1, maxLength: 100 }),
        isPublic: Type.Boolean({ default: true })
      }, { additionalProperties: false }),
      response: { 201: RoomSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const user = currentUser(request)
    const title = request.body.title.trim()
    if (!title) throw new BadRequest('body/title must not be blank')
    const room = await db.transaction(tx => createRoom(tx, { title, isPublic: request.body.isPublic, createdBy: user.id }))
    await publishConversationUpdated(app, room.id)
    return reply.code(201).send(await roomView(user, room.id))
  })

  app.patch('/:id', {
    schema: {
      tags: ['rooms'],
      description: 'Room moderators change visibility (and/or the title).',
      params: RoomParams,
      body: Type.Object({
        isPublic: Type.Optional(Type.Boolean()),
        title: Type.Optional(Type.String({ minLength: 1, maxLength: 100 }))
      }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: RoomSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const user = currentUser(request)
    const { id } = request.params
    await loadRoomAsModerator(user, id)
    const title = request.body.title?.trim()
    if (title === '') throw new BadRequest('body/title must not be blank')
    await updateRoom(db, id, { ...(request.body.isPublic !== undefined ? { isPublic: request.body.isPublic } : {}), ...(title ? { title } : {}) })
    await publishConversationUpdated(app, id)
    return roomView(user, id)
  })

  app.post('/:id/join', {
    schema: {
      tags: ['rooms'],
      description: 'Joins a public room (a no-op for a member). A private room answers 403: request access instead.',
      params: RoomParams,
      response: { 200: RoomSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const user = currentUser(request)
    const { id } = request.params
    const { room, role } = await loadRoom(user, id)
    if (role) return roomView(user, id)
    if (!room.isPublic) throw new Forbidden(`Room ${id} is private: ask to join with POST /api/rooms/${id}/request-access`)
    if (await addRoomMember(db, id, user.id)) {
      await settlePendingRequest(db, id, user.id, user.id)
      await publishConversationUpdated(app, id)
    }
    return roomView(user, id)
  })

  app.post('/:id/members', {
    schema: {
      tags: ['rooms'],
      description: 'Room moderators add a user without approval (a no-op when already a member). A pending join request of that user is marked approved.',
      params: RoomParams,
      body: Type.Object({ targetUserId: Uuid }, { additionalProperties: false }),
      response: { 200: RoomSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const user = currentUser(request)
    const { id } = request.params
    await loadRoomAsModerator(user, id)
    const target = await findUserById(db, request.body.targetUserId)
    if (!target || target.status !== 'active') throw new NotFound(`No active user with id ${request.body.targetUserId}`)
    const added = await db.transaction(async tx => {
      const added = await addRoomMember(tx, id, target.id)
      if (added) await settlePendingRequest(tx, id, target.id, user.id)
      return added
    })
    if (added) await publishConversationUpdated(app, id)
    return roomView(user, id)
  })

  app.post('/:id/request-access', {
    schema: {
      tags: ['rooms'],
      description: 'Asks to join a private room (201, pending until a moderator decides). A public room is joined at once (200). 409 while a request is pending or when already a member of a private room.',
      params: RoomParams,
      body: Type.Object({ note: Type.Optional(NoteSchema) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ status: Type.Literal('joined'), request: Type.Null(), room: RoomSchema }),
        201: Type.Object({ status: Type.Literal('pending'), request: JoinRequestSchema, room: RoomSchema }),
        404: ErrorSchema, 409: ErrorSchema, ...errorResponses
      }
    }
  }, async (request, reply) => {
    const user = currentUser(request)
    const { id } = request.params
    const { room, role } = await loadRoom(user, id)
    if (room.isPublic) {
      if (!role && await addRoomMember(db, id, user.id)) {
        await settlePendingRequest(db, id, user.id, user.id)
        await publishConversationUpdated(app, id)
      }
      return reply.code(200).send({ status: 'joined' as const, request: null, room: await roomView(user, id) })
    }
    if (role) throw new Conflict(`You are already a member of room ${id}`)
    const note = request.body.note?.trim() || null
    const created = await createJoinRequest(db, { roomId: id, requesterId: user.id, note })
    if (!created) throw new Conflict(`You already have a pending request to join room ${id}`)
    const view = joinRequestView((await findJoinRequest(db, id, created.id))!)
    await app.events.publishToUsers(await listModeratorIds(db, id), { type: 'room:request', request: view })
    return reply.code(201).send({ status: 'pending' as const, request: view, room: await roomView(user, id) })
  })

  app.get('/:id/requests', {
    schema: {
      tags: ['rooms'],
      description: 'Room moderators list join requests with requester metadata, newest first (pending ones by default).',
      params: RoomParams,
      querystring: Type.Object({
        status: Type.Union([StatusSchema, Type.Literal('all')], { default: 'pending' })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ requests: Type.Array(JoinRequestSchema) }), 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const user = currentUser(request)
    const { id } = request.params
    await loadRoomAsModerator(user, id)
    const { status } = request.query
    return { requests: (await listJoinRequests(db, id, status === 'all' ? undefined : status)).map(joinRequestView) }
  })

  app.post('/:id/requests/:requestId/respond', {
    schema: {
      tags: ['rooms'],
      description: 'Room moderators approve (adds the requester and broadcasts the new membership) or deny a pending request. A request is decided once: 409 afterwards.',
      params: RequestParams,
      body: Type.Object({ decision: DecisionSchema }, { additionalProperties: false }),
      response: { 200: Type.Object({ request: JoinRequestSchema, room: RoomSchema }), 404: ErrorSchema, 409: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const user = currentUser(request)
    const { id, requestId } = request.params
    const { decision } = request.body
    await loadRoomAsModerator(user, id)
    const existing = await findJoinRequest(db, id, requestId)
    if (!existing) throw new NotFound(`No join request ${requestId} for room ${id}`)
    const decided = await db.transaction(async tx => {
      const decided = await decideJoinRequest(tx, { roomId: id, id: requestId, decision, decidedBy: user.id })
      if (decided && decision === 'approved') await addRoomMember(tx, id, decided.requesterId)
      return decided
    })
    if (!decided) {
      const now = await findJoinRequest(db, id, requestId)
      throw new Conflict(`Join request ${requestId} was already ${now?.status ?? 'decided'}`)
    }
    const view = joinRequestView((await findJoinRequest(db, id, requestId))!)
    if (decision === 'approved') await publishConversationUpdated(app, id)
    await app.events.publishToUsers([decided.requesterId, ...await listModeratorIds(db, id)], { type: 'room:request', request: view })
    return { request: view, room: await roomView(user, id) }
  })
}
export default routes
