/**
 * Rooms and their access control (seeds/secure-chat-server-plugin-api.md, "Rooms & Access
 * Control"). A room is a `conversations` row of kind `room` (a Mattermost channel, public "O" or
 * private "P"); membership and the per-room `moderator` role live in `conversation_members`; join
 * requests to private rooms in `room_join_requests`.
 */
import { and, desc, eq, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { conversationMembers, conversations, type Conversation } from '../schema/conversations.js'
import { roomJoinRequests, type RoomJoinRequest } from '../schema/room-join-requests.js'
import { users } from '../schema/users.js'

export type DecisionStatus = 'pending' | 'approved' | 'denied'

/** A room as listed for one user (`GET /api/rooms`). */
export interface RoomListRow {
  id: string
  title: string
  isPublic: boolean
  createdBy: string | null
  createdAt: Date
  memberCount: number
  /** The caller's role in the room, or null when not a member. */
  myRole: 'member' | 'moderator' | null
  /** Status of the caller's latest join request to this room, or null when none. */
  joinRequestStatus: DecisionStatus | null
  pendingRequestCount: number
}

/**
 * All rooms (public and private: private rooms are discoverable so people can ask to join),
 * ordered by title, as seen by `userId`. `q` filters by a case-insensitive title substring, `ids`
 * to the given rooms.
 */
export async function listRoomsFor (db: Executor, userId: string, { q, ids, limit, offset }: { q?: string, ids?: string[], limit: number, offset: number }): Promise<RoomListRow[]> {
  if (ids && ids.length === 0) return []
  const pattern = q ? `%${q.replace(/[\\%_]/g, c => `\\${c}`)}%` : undefined
  const rows = await db.execute<{
    id: string, title: string | null, is_public: boolean, created_by: string | null, created_at: string,
    member_count: number, my_role: 'member' | 'moderator' | null, join_request_status: DecisionStatus | null, pending_request_count: number
  }>(sql`
    select c.id, c.title, c.is_public, c.created_by, c.created_at,
      (select count(*)::int from conversation_members m where m.conversation_id = c.id) as member_count,
      me.role as my_role,
      (select r.status from room_join_requests r where r.room_id = c.id and r.requester_id = ${userId}
        order by r.created_at desc, r.id desc limit 1) as join_request_status,
      (select count(*)::int from room_join_requests r where r.room_id = c.id and r.status = 'pending') as pending_request_count
    from conversations c
    left join conversation_members me on me.conversation_id = c.id and me.user_id = ${userId}
    where c.kind = 'room' ${pattern ? sql`and c.title ilike ${pattern}` : sql``}
      ${ids ? sql`and c.id in (${sql.join(ids.map(id => sql`${id}::uuid`), sql`, `)})` : sql``}
    order by lower(coalesce(c.title, '')), c.id
    limit ${limit} offset ${offset}`)
  return rows.map(r => ({
    id: r.id, title: r.title ?? '', isPublic: r.is_public, createdBy: r.created_by, createdAt: new Date(r.created_at),
    memberCount: r.member_count, myRole: r.my_role, joinRequestStatus: r.join_request_status, pendingRequestCount: r.pending_request_count
  }))
}

/** The room `id` (kind `room`), or undefined for an unknown id or a direct conversation. */
export const findRoom = async (db: Executor, id: string): Promise<Conversation | undefined> =>
  (await db.select().from(conversations).where(and(eq(conversations.id, id), eq(conversations.kind, 'room'))).limit(1))[0]

/** `userId`'s role in conversation `roomId`, or undefined when not a member. */
export async function findMemberRole (db: Executor, roomId: string, userId: string): Promise<'member' | 'moderator' | undefined> {
  const rows = await db.select({ role: conversationMembers.role }).from(conversationMembers)
    .where(and(eq(conversationMembers.conversationId, roomId), eq(conversationMembers.userId, userId))).limit(1)
  return rows[0]?.role
}

/** Creates a room with `createdBy` as its first member and moderator. Pass a transaction. */
export async function createRoom (db: Executor, r: { title: string, isPublic: boolean, createdBy: string }): Promise<Conversation> {
  const [room] = await db.insert(conversations).values({ kind: 'room', title: r.title, isPublic: r.isPublic, createdBy: r.createdBy }).returning()
  await db.insert(conversationMembers).values({ conversationId: room.id, userId: r.createdBy, role: 'moderator' })
  return room
}

/** Sets a room's visibility and/or title. @returns the updated room, or undefined when not a room. */
export async function updateRoom (db: Executor, id: string, set: { isPublic?: boolean, title?: string }): Promise<Conversation | undefined> {
  const rows = await db.update(conversations).set(set).where(and(eq(conversations.id, id), eq(conversations.kind, 'room'))).returning()
  return rows[0]
}

/** Adds `userId` to the room. @returns false when it already was a member (nothing changes). */
export async function addRoomMember (db: Executor, roomId: string, userId: string, role: 'member' | 'moderator' = 'member'): Promise<boolean> {
  const rows = await db.insert(conversationMembers).values({ conversationId: roomId, userId, role })
    .onConflictDoNothing().returning({ userId: conversationMembers.userId })
  return rows.length === 1
}

/**
 * Records a pending join request. @returns undefined when the requester already has a pending
 * request for this room (the partial unique index decides, so concurrent requests make one row).
 */
export async function createJoinRequest (db: Executor, r: { roomId: string, requesterId: string, note: string | null }): Promise<RoomJoinRequest | undefined> {
  const rows = await db.insert(roomJoinRequests).values(r).onConflictDoNothing().returning()
  return rows[0]
}

export interface JoinRequestRow extends RoomJoinRequest {
  requester: { id: string, username: string, displayName: string, avatarUrl: string | null, presenceStatus: 'online' | 'idle' | 'away' | 'dnd' | 'offline' }
}

const requestColumns = {
  id: roomJoinRequests.id, roomId: roomJoinRequests.roomId, requesterId: roomJoinRequests.requesterId, note: roomJoinRequests.note,
  status: roomJoinRequests.status, decidedBy: roomJoinRequests.decidedBy, decidedAt: roomJoinRequests.decidedAt,
  createdAt: roomJoinRequests.createdAt, updatedAt: roomJoinRequests.updatedAt,
  requester: { id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl, presenceStatus: users.presenceStatus }
}

/** Join requests of a room with requester metadata, newest first; `status` filters (omit for all). */
export const listJoinRequests = (db: Executor, roomId: string, status: DecisionStatus | undefined, limit = 200): Promise<JoinRequestRow[]> =>
  db.select(requestColumns).from(roomJoinRequests).innerJoin(users, eq(users.id, roomJoinRequests.requesterId))
    .where(and(eq(roomJoinRequests.roomId, roomId), status ? eq(roomJoinRequests.status, status) : undefined))
    .orderBy(desc(roomJoinRequests.createdAt), desc(roomJoinRequests.id)).limit(limit)

/** One join request of room `roomId` with requester metadata, or undefined. */
export const findJoinRequest = async (db: Executor, roomId: string, id: string): Promise<JoinRequestRow | undefined> =>
  (await db.select(requestColumns).from(roomJoinRequests).innerJoin(users, eq(users.id, roomJoinRequests.requesterId))
    .where(and(eq(roomJoinRequests.id, id), eq(roomJoinRequests.roomId, roomId))).limit(1))[0]

/**
 * Decides a pending request, recording who and when. Only one decision can win: the update
 * matches `pending` rows only. @returns the decided request, or undefined when it was not pending.
 */
export async function decideJoinRequest (db: Executor, d: { roomId: string, id: string, decision: 'approved' | 'denied', decidedBy: string }): Promise<RoomJoinRequest | undefined> {
  const rows = await db.update(roomJoinRequests).set({ status: d.decision, decidedBy: d.decidedBy, decidedAt: sql`now()` })
    .where(and(eq(roomJoinRequests.id, d.id), eq(roomJoinRequests.roomId, d.roomId), eq(roomJoinRequests.status, 'pending'))).returning()
  return rows[0]
}

/** Marks `userId`'s pending request for the room approved by `decidedBy` (after a direct add or join). */
export async function settlePendingRequest (db: Executor, roomId: string, userId: string, decidedBy: string): Promise<RoomJoinRequest | undefined> {
  const rows = await db.update(roomJoinRequests).set({ status: 'approved', decidedBy, decidedAt: sql`now()` })
    .where(and(eq(roomJoinRequests.roomId, roomId), eq(roomJoinRequests.requesterId, userId), eq(roomJoinRequests.status, 'pending'))).returning()
  return rows[0]
}

/** User ids of the room's moderators. */
export async function listModeratorIds (db: Executor, roomId: string): Promise<string[]> {
  const rows = await db.select({ userId: conversationMembers.userId }).from(conversationMembers)
    .where(and(eq(conversationMembers.conversationId, roomId), eq(conversationMembers.role, 'moderator')))
  return rows.map(r => r.userId)
}
