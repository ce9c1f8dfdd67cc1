/**
 * Conversation views and the direct-conversation workflow shared by the chat routes, the
 * WebSocket and the rooms/approvals routes (seeds/secure-chat-server-plugin-api.md,
 * "GET /api/conversations", "POST /api/conversations/direct", "Direct Message Workflow").
 *
 * A view is what clients see of a conversation (a Mattermost channel): id, kind, title, isPublic,
 * memberCount, lastMessageAt and `members` with presence metadata. List views and events carry at
 * most `LIST_MEMBER_LIMIT` members (`membersTruncated: true` when there are more); the detail
 * endpoint `GET /api/conversations/:id` carries all of them.
 */
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from 'typebox'
import {
  ensureDirectConversation, listConversationRows, listMembers,
  type ConversationRow, type MemberRow
} from '@parley/db'
import { PresenceSchema } from '../schemas/common.js'

/** Members carried by list views, `ready` and `conversation:updated` events. */
export const LIST_MEMBER_LIMIT = 100

export const MemberSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  displayName: Type.String(),
  manager: Type.Boolean(),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  profilePhotoUrl: Type.Union([Type.String(), Type.Null()]),
  presenceStatus: PresenceSchema,
  role: Type.Union([Type.Literal('member'), Type.Literal('moderator')], { description: 'Role in this conversation' }),
  joinedAt: Type.String({ format: 'date-time' })
})

export const ConversationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Type.Union([Type.Literal('direct'), Type.Literal('room')]),
  title: Type.Union([Type.String(), Type.Null()]),
  isPublic: Type.Boolean(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  lastMessageAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  memberCount: Type.Integer(),
  members: Type.Array(MemberSchema),
  membersTruncated: Type.Boolean({ description: 'true when `members` lists only the first members (list views and events)' })
})
export type ConversationView = Static<typeof ConversationSchema>

/**
 * Shapes a conversation row and (some of) its member rows into the public view.
 * @param row from `listConversationRows` (carries memberCount and lastMessageAt)
 * @param members member rows of this conversation, in join order
 */
export function conversationView (row: ConversationRow, members: MemberRow[]): ConversationView {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    isPublic: row.isPublic,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastMessageAt: row.lastMessageAt?.toISOString() ?? null,
    memberCount: row.memberCount,
    members: members.map(m => ({ ...m.user, role: m.role, joinedAt: m.joinedAt.toISOString() })),
    membersTruncated: members.length < row.memberCount
  }
}

/**
 * Views of conversations, most recently active first: all of `{ userId }`'s, or those in `{ ids }`.
 * @param memberLimit members per view (default `LIST_MEMBER_LIMIT`; `Infinity` for all)
 */
export async function loadConversationViews (app: FastifyInstance, filter: { userId: string } | { ids: string[] }, memberLimit = LIST_MEMBER_LIMIT): Promise<ConversationView[]> {
  const rows = await listConversationRows(app.db, filter)
  const members = await listMembers(app.db, rows.map(r => r.id), Number.isFinite(memberLimit) ? memberLimit : undefined)
  const byConversation = new Map<string, MemberRow[]>()
  for (const m of members) {
    let list = byConversation.get(m.conversationId)
    if (!list) byConversation.set(m.conversationId, list = [])
    list.push(m)
  }
  return rows.map(r => conversationView(r, byConversation.get(r.id) ?? []))
}

/** The view of one conversation (no membership check: callers do that), or undefined. */
export async function getConversationView (app: FastifyInstance, conversationId: string, memberLimit = LIST_MEMBER_LIMIT): Promise<ConversationView | undefined> {
  return (await loadConversationViews(app, { ids: [conversationId] }, memberLimit))[0]
}

/**
 * Sends `{ type: "conversation:updated", conversation }` (the list view) to every member of
 * `conversationId` and to `alsoNotify` (e.g. a user just removed, so its sidebar drops it).
 * Call after membership, title or visibility changes. Never throws for a publish failure.
 */
export async function publishConversationUpdated (app: FastifyInstance, conversationId: string, alsoNotify: string[] = []): Promise<void> {
  const view = await getConversationView(app, conversationId)
  if (!view) return
  const memberIds = (await listMembers(app.db, [conversationId])).map(m => m.user.id)
  await app.events.publishToUsers([...memberIds, ...alsoNotify], { type: 'conversation:updated', conversation: view })
}

/**
 * "Create or fetch" the direct conversation (direct channel) between `userA` and `userB`, then
 * emits `conversation:updated` to both (seed: "Direct Message Workflow", step 1). Callers check
 * that both users exist and are active.
 * @returns the list view and whether this call created the conversation.
 */
export async function getOrCreateDirect (app: FastifyInstance, userA: string, userB: string): Promise<{ conversation: ConversationView, created: boolean }> {
  const { conversation, created } = await app.db.transaction(tx => ensureDirectConversation(tx, userA, userB))
  const view = (await getConversationView(app, conversation.id))!
  await app.events.publishToUsers([userA, userB], { type: 'conversation:updated', conversation: view })
  return { conversation: view, created }
}
