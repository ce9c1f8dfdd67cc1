/**
 * Message (post) queries for the chat server (seeds/secure-chat-server-plugin-api.md,
 * "GET/POST /api/conversations/:id/messages").
 *
 * Pages use the `(created_at, id)` keyset, so messages that share a timestamp are neither skipped
 * nor repeated across pages. A position is `{ us, id }`: `created_at` in whole microseconds since
 * the epoch (Postgres' own precision, which a JS Date would round to milliseconds) and the id.
 */
import { and, eq, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { messages, type Message } from '../schema/messages.js'
import { users } from '../schema/users.js'

/** A keyset position: microseconds since the epoch (as a decimal string) and the message id. */
export interface MessagePosition { us: string, id: string }

export interface MessageRow extends Message {
  /** `created_at` as microseconds since the epoch (decimal string), for cursors. */
  us: string
  sender: { id: string, username: string, displayName: string, avatarUrl: string | null }
}

const selection = {
  id: messages.id, conversationId: messages.conversationId, senderId: messages.senderId, content: messages.content,
  format: messages.format, clientId: messages.clientId, createdAt: messages.createdAt,
  us: sql<string>`((extract(epoch from ${messages.createdAt}) * 1000000)::bigint)::text`,
  sender: { id: users.id, username: users.username, displayName: users.displayName, avatarUrl: users.avatarUrl }
}

const positionSql = (p: MessagePosition) => sql`(timestamptz 'epoch' + ${p.us}::bigint * interval '1 microsecond', ${p.id}::uuid)`

/**
 * Inserts a message unless the sender already sent one with the same `clientId`.
 * @returns the stored message (the earlier one for a repeated `clientId`) and whether this call
 * inserted it. The caller checks that a repeated `clientId` belongs to the same conversation.
 */
export async function insertMessage (db: Executor, row: { conversationId: string, senderId: string, content: string, format: 'text' | 'markdown', clientId?: string | null }): Promise<{ message: MessageRow, created: boolean }> {
  // One round trip on the hot path: insert and read the sender in the same statement.
  const inserted = await db.execute<{
    id: string, conversation_id: string, sender_id: string, content: string, format: 'text' | 'markdown', client_id: string | null,
    created_at: Date | string, us: string, username: string, display_name: string, avatar_url: string | null
  }>(sql`
    with ins as (
      insert into messages (conversation_id, sender_id, content, format, client_id)
      values (${row.conversationId}, ${row.senderId}, ${row.content}, ${row.format}, ${row.clientId ?? null})
      on conflict (sender_id, client_id) where client_id is not null do nothing
      returning id, conversation_id, sender_id, content, format, client_id, created_at
    )
    select ins.*, ((extract(epoch from ins.created_at) * 1000000)::bigint)::text as us, u.username, u.display_name, u.avatar_url
    from ins join users u on u.id = ins.sender_id`)
  const r = inserted[0]
  if (r) {
    return {
      created: true,
      message: {
        id: r.id, conversationId: r.conversation_id, senderId: r.sender_id, content: r.content, format: r.format, clientId: r.client_id,
        createdAt: new Date(r.created_at), us: r.us, sender: { id: r.sender_id, username: r.username, displayName: r.display_name, avatarUrl: r.avatar_url }
      }
    }
  }
  // A repeated client id: a new statement (a fresh snapshot) sees the first message, even one
  // committed by a concurrent retry this insert waited for.
  const [message] = await db.select(selection).from(messages).innerJoin(users, eq(users.id, messages.senderId))
    .where(and(eq(messages.senderId, row.senderId), eq(messages.clientId, row.clientId!))).limit(1)
  return { message, created: false }
}

export interface MessagePageQuery {
  conversationId: string
  limit: number
  /** Messages strictly older than this position (or instant), newest `limit` of them. */
  before?: MessagePosition | Date
  /** Messages strictly newer than this position (or instant), oldest `limit` of them. */
  after?: MessagePosition | Date
}

/**
 * One page of a conversation, always ordered oldest → newest ("newest last"). Without `before`
 * or `after` it is the newest `limit` messages. `hasMore` tells whether more exist beyond the page
 * in the direction read (older for `before`/latest, newer for `after`).
 */
export async function listMessagePage (db: Executor, q: MessagePageQuery): Promise<{ messages: MessageRow[], hasMore: boolean }> {
  const bound = (p: MessagePosition | Date, op: '<' | '>') => p instanceof Date
    ? sql`${messages.createdAt} ${sql.raw(op)} ${p.toISOString()}::timestamptz`
    : sql`(${messages.createdAt}, ${messages.id}) ${sql.raw(op)} ${positionSql(p)}`
  const conditions = [eq(messages.conversationId, q.conversationId)]
  if (q.before) conditions.push(bound(q.before, '<'))
  if (q.after) conditions.push(bound(q.after, '>'))
  const newerFirst = !q.after
  const rows = await db.select(selection).from(messages).innerJoin(users, eq(users.id, messages.senderId))
    .where(and(...conditions))
    .orderBy(...(newerFirst ? [sql`${messages.createdAt} desc`, sql`${messages.id} desc`] : [sql`${messages.createdAt} asc`, sql`${messages.id} asc`]))
    .limit(q.limit + 1)
  const hasMore = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  if (newerFirst) page.reverse()
  return { messages: page, hasMore }
}

/** Counts for the admin stats endpoint. */
export async function countMessages (db: Executor): Promise<{ total: number, last24h: number }> {
  const [row] = await db.select({
    total: sql<number>`count(*)::int`,
    last24h: sql<number>`count(*) filter (where ${messages.createdAt} > now() - interval '24 hours')::int`
  }).from(messages)
  return row
}
