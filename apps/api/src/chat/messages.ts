/**
 * Sending and reading messages (posts), shared by the REST routes, the WebSocket and the
 * approvals flow (seeds/secure-chat-server-plugin-api.md, "POST /api/conversations/:id/messages",
 * "message:created", "message:ack").
 */
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from 'typebox'
import { insertMessage, listMemberIds, type MessagePosition, type MessageRow } from '@parley/db'
import { BadRequest, Conflict } from '../errors.js'

/** Seed limit: 1–2000 characters (counted as Unicode code points). */
export const MAX_MESSAGE_LENGTH = 2000

export const MessageFormatSchema = Type.Union([Type.Literal('text'), Type.Literal('markdown')], { default: 'text' })
export const ClientIdSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$', description: 'Client-generated id; a retried send with the same id returns the first message' })
export const MessageContentSchema = Type.String({ minLength: 1, maxLength: MAX_MESSAGE_LENGTH })

export const MessageSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  conversationId: Type.String({ format: 'uuid' }),
  senderId: Type.String({ format: 'uuid' }),
  sender: Type.Object({ id: Type.String(), username: Type.String(), displayName: Type.String(), avatarUrl: Type.Union([Type.String(), Type.Null()]) }),
  content: Type.String(),
  format: Type.Union([Type.Literal('text'), Type.Literal('markdown')]),
  clientId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
})
export type MessageView = Static<typeof MessageSchema>

export const messageView = (m: MessageRow): MessageView => ({
  id: m.id,
  conversationId: m.conversationId,
  senderId: m.senderId,
  sender: m.sender,
  content: m.content,
  format: m.format,
  clientId: m.clientId,
  createdAt: m.createdAt.toISOString()
})

/**
 * Opaque page cursor: `o.<us>.<id>` (older than) or `n.<us>.<id>` (newer than), base64url.
 * The position is the message's `(created_at, id)` with microsecond precision.
 */
export function encodeCursor (direction: 'older' | 'newer', m: { us: string, id: string }): string {
  return Buffer.from(`${direction === 'older' ? 'o' : 'n'}.${m.us}.${m.id}`).toString('base64url')
}

/** @throws BadRequest when `cursor` was not made by `encodeCursor`. */
export function decodeCursor (cursor: string): { direction: 'older' | 'newer', position: MessagePosition } {
  const match = /^([on])\.(\d{1,20})\.([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (!match) throw new BadRequest('querystring/cursor is not a cursor this server issued')
  return { direction: match[1] === 'o' ? 'older' : 'newer', position: { us: match[2], id: match[3] } }
}

export interface PostMessageInput {
  conversationId: string
  senderId: string
  /** 1–2000 characters. */
  content: string
  format: 'text' | 'markdown'
  /** Optional client-generated id (≤ 64 of `[A-Za-z0-9._:-]`) making a retried send idempotent. */
  clientId?: string | null
}

/**
 * Stores a message and announces it: `{type: "message:created", conversationId, message}` to
 * every member of the conversation (the sender included) and `{type: "message:ack", message,
 * clientId}` to the sender's sockets. A repeated `clientId` of the same sender stores nothing,
 * announces only the ack again and returns the first message with `created: false`.
 *
 * Does NOT check membership: routes check the sender is a member; trusted server flows (the
 * approval response of issue 6) may post into a conversation on a user's behalf.
 * Delivery is best-effort after the commit: a Redis outage loses the live event, not the message.
 *
 * @throws BadRequest when `content` is empty or longer than 2000 characters
 * @throws Conflict when `clientId` was already used by this sender in another conversation
 */
export async function postMessage (app: FastifyInstance, input: PostMessageInput): Promise<{ message: MessageView, created: boolean }> {
  const length = [...input.content].length
  if (length < 1 || length > MAX_MESSAGE_LENGTH) throw new BadRequest(`content must be 1–${MAX_MESSAGE_LENGTH} characters (got ${length})`)
  const [{ message: row, created }, memberIds] = await Promise.all([
    insertMessage(app.db, { ...input, clientId: input.clientId ?? null }),
    listMemberIds(app.db, input.conversationId)
  ])
  if (!created && row.conversationId !== input.conversationId) {
    throw new Conflict(`clientId ${input.clientId} was already used for a message in another conversation`)
  }
  const message = messageView(row)
  if (created) await app.events.publishToUsers(memberIds, { type: 'message:created', conversationId: message.conversationId, message })
  await app.events.publishToUsers([input.senderId], { type: 'message:ack', message, clientId: message.clientId })
  app.presence?.touch(input.senderId)
  return { message, created }
}
