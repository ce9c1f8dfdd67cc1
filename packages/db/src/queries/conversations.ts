/**
 * Conversation (channel) and membership queries for the chat server
 * (seeds/secure-chat-server-plugin-api.md, "Conversations + Messaging"). Membership is what every
 * read and write of a conversation is authorised against.
 */
import { and, asc, eq, isNull, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { conversationMembers, conversations, type Conversation } from '../schema/conversations.js'
import { users } from '../schema/users.js'
import { preparedFor } from '../prepared.js'

/** `dm_key` of the direct conversation between two users: their ids sorted and joined by `:`. */
export const directKey = (a: string, b: string): string => [a, b].sort().join(':')

export const findConversation = async (db: Executor, id: string): Promise<Conversation | undefined> =>
  (await db.select().from(conversations).where(eq(conversations.id, id)).limit(1))[0]

/**
 * The conversation `id` when `userId` is a member of it, else undefined — callers answer 404 then,
 * so a non-member cannot tell a conversation exists.
 */
export async function findConversationForMember (db: Executor, id: string, userId: string): Promise<Conversation | undefined> {
  const rows = await preparedFor(db, 'find_conversation_for_member', d => d.select({ c: conversations }).from(conversations)
    .innerJoin(conversationMembers, and(eq(conversationMembers.conversationId, conversations.id), eq(conversationMembers.userId, sql.placeholder('userId'))))
    .where(eq(conversations.id, sql.placeholder('id'))).limit(1).prepare('find_conversation_for_member')).execute({ id, userId })
  return rows[0]?.c
}

/** Whether `userId` is a member of conversation `id`. */
export async function isMember (db: Executor, id: string, userId: string): Promise<boolean> {
  const rows = await preparedFor(db, 'is_member', d => d.select({ one: sql<number>`1` }).from(conversationMembers)
    .where(and(eq(conversationMembers.conversationId, sql.placeholder('id')), eq(conversationMembers.userId, sql.placeholder('userId')))).limit(1)
    .prepare('is_member')).execute({ id, userId })
  return rows.length > 0
}

/**
 * Creates the direct conversation between `a` and `b` (both members) or returns the existing one.
 * Race-free: concurrent calls meet on the unique `dm_key`. `a === b` is a conversation with
 * oneself (Mattermost allows a self-DM too). Pass a transaction executor when calling from one.
 * @returns the conversation and whether this call created it.
 */
export async function ensureDirectConversation (db: Executor, a: string, b: string): Promise<{ conversation: Conversation, created: boolean }> {
  const dmKey = directKey(a, b)
  const inserted = await db.insert(conversations).values({ kind: 'direct', dmKey, createdBy: a })
    .onConflictDoNothing({ target: conversations.dmKey }).returning()
  const conversation = inserted[0] ?? (await db.select().from(conversations).where(eq(conversations.dmKey, dmKey)).limit(1))[0]
  // Members are (re)inserted every time: cheap, and repairs a half-created pair.
  await db.insert(conversationMembers).values([...new Set([a, b])].map(userId => ({ conversationId: conversation.id, userId })))
    .onConflictDoNothing()
  return { conversation, created: inserted.length > 0 }
}

/** Ids of the conversations `userId` belongs to. */
export async function listConversationIdsForUser (db: Executor, userId: string): Promise<string[]> {
  const rows = await db.select({ id: conversationMembers.conversationId }).from(conversationMembers).where(eq(conversationMembers.userId, userId))
  return rows.map(r => r.id)
}

export interface ConversationRow extends Conversation {
  memberCount: number
  lastMessageAt: Date | null
}

/**
 * Conversations with their member count and last message time, most recently active first
 * (creation time when no message yet). Either all conversations of `userId` or those in `ids`.
 */
export async function listConversationRows (db: Executor, filter: { userId: string } | { ids: string[] }): Promise<ConversationRow[]> {
  const where = 'userId' in filter
    ? sql`c.id in (select conversation_id from conversation_members where user_id = ${filter.userId})`
    : filter.ids.length === 0 ? sql`false` : sql`c.id in (${sql.join(filter.ids.map(id => sql`${id}::uuid`), sql`, `)})`
  const rows = await db.execute<{
    id: string, kind: 'direct' | 'room', title: string | null, is_public: boolean, dm_key: string | null, created_by: string | null,
    created_at: string, updated_at: string, member_count: number, last_message_at: string | null
  }>(sql`
    select c.*, (select count(*)::int from conversation_members m where m.conversation_id = c.id) as member_count,
           (select max(created_at) from messages x where x.conversation_id = c.id) as last_message_at
    from conversations c where ${where}
    order by coalesce((select max(created_at) from messages x where x.conversation_id = c.id), c.created_at) desc, c.id`)
  return rows.map(r => ({
    id: r.id, kind: r.kind, title: r.title, isPublic: r.is_public, dmKey: r.dm_key, createdBy: r.created_by,
    createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at), memberCount: r.member_count,
    lastMessageAt: r.last_message_at ? new Date(r.last_message_at) : null
  }))
}

export interface MemberRow {
  conversationId: string
  role: 'member' | 'moderator'
  joinedAt: Date
  user: {
    id: string, username: string, displayName: string, manager: boolean, avatarUrl: string | null,
    profilePhotoUrl: string | null, presenceStatus: 'online' | 'idle' | 'away' | 'dnd' | 'offline'
  }
}

/**
 * Members of the conversations `ids` (deleted users left out), ordered by conversation, join time
 * then user id. `perConversation` caps how many are read for each conversation (list views);
 * omit for all.
 *
 * Read as plain rows and shaped here rather than through drizzle's select mapping: this runs for
 * every WebSocket `ready` and every list view, and the generic mapping allocated ~2 KB per row.
 */
export async function listMembers (db: Executor, ids: string[], perConversation?: number): Promise<MemberRow[]> {
  if (ids.length === 0) return []
  const cap = perConversation === undefined ? sql`` : sql`where m.rank <= ${perConversation}`
  const rows = await db.execute<{
    conversation_id: string, role: MemberRow['role'], joined_at: string, id: string, username: string, display_name: string,
    manager: boolean, avatar_url: string | null, profile_photo_url: string | null, presence_status: MemberRow['user']['presenceStatus']
  }>(sql`
    select * from (
      select cm.conversation_id, cm.role, cm.joined_at, u.id, u.username, u.display_name, u.manager, u.avatar_url, u.profile_photo_url, u.presence_status,
             row_number() over (partition by cm.conversation_id order by cm.joined_at, cm.user_id) as rank
      from conversation_members cm join users u on u.id = cm.user_id and u.deleted_at is null
      where cm.conversation_id = any(${sql.param(ids)}::uuid[])
    ) m
    ${cap}
    order by m.conversation_id, m.joined_at, m.id`)
  return rows.map(r => ({
    conversationId: r.conversation_id,
    role: r.role,
    joinedAt: new Date(r.joined_at),
    user: {
      id: r.id, username: r.username, displayName: r.display_name, manager: r.manager,
      avatarUrl: r.avatar_url, profilePhotoUrl: r.profile_photo_url, presenceStatus: r.presence_status
    }
  }))
}

/** User ids of the members of conversation `id` (deleted users included: they have no sockets). */
export async function listMemberIds (db: Executor, id: string): Promise<string[]> {
  const rows = await preparedFor(db, 'list_member_ids', d => d.select({ userId: conversationMembers.userId }).from(conversationMembers)
    .where(eq(conversationMembers.conversationId, sql.placeholder('id'))).prepare('list_member_ids')).execute({ id })
  return rows.map(r => r.userId)
}

/**
 * Distinct ids of users who share at least one conversation with `userId` (`userId` included).
 * With `maxMembers`, conversations with more members than that are not counted.
 */
export async function listConversationPeers (db: Executor, userId: string, maxMembers?: number): Promise<string[]> {
  const cap = maxMembers === undefined
    ? sql``
    : sql`and (select count(*) from conversation_members x where x.conversation_id = cm.conversation_id) <= ${maxMembers}`
  const rows = await db.execute<{ user_id: string }>(sql`
    select distinct m.user_id from conversation_members m
    where m.conversation_id in (select cm.conversation_id from conversation_members cm where cm.user_id = ${userId} ${cap})`)
  const ids = new Set(rows.map(r => r.user_id))
  ids.add(userId)
  return [...ids]
}

/** Counts for the admin stats endpoint. */
export async function countConversations (db: Executor): Promise<{ total: number, direct: number, rooms: number }> {
  const [row] = await db.select({
    total: sql<number>`count(*)::int`,
    direct: sql<number>`count(*) filter (where ${conversations.kind} = 'direct')::int`,
    rooms: sql<number>`count(*) filter (where ${conversations.kind} = 'room')::int`
  }).from(conversations)
  return row
}

