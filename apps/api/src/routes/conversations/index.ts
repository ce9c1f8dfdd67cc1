/**
 * Conversations and messages (seeds/secure-chat-server-plugin-api.md, "Conversations +
 * Messaging"; Mattermost: channels and posts). Every read and write is authorised by membership;
 * a conversation the caller does not belong to answers 404, exactly like one that does not exist.
 *
 * History pages (`GET /:id/messages`) are ordered oldest → newest ("newest last") and read by the
 * `(created_at, id)` keyset, so equal timestamps never make a page skip or repeat a message:
 * - no parameter: the newest `limit` messages;
 * - `before=<ISO>`: the newest `limit` messages strictly before that instant (the seed's form);
 * - `since=<ISO>`: the oldest `limit` messages strictly after that instant (catching up after a
 *   reconnect);
 * - `cursor=<opaque>`: continue from a previous page's `olderCursor` or `newerCursor` — exact
 *   even when several messages share a timestamp. Prefer it over `before`/`since` for paging.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { findConversationForMember, findUserById, listMessagePage, type MessagePosition } from '@parley/db'
import { BadRequest, NotFound } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, UuidParamSchema, errorResponses } from '../../schemas/common.js'
import { ConversationSchema, getConversationView, getOrCreateDirect, loadConversationViews } from '../../chat/conversations.js'
import { ClientIdSchema, MessageContentSchema, MessageFormatSchema, MessageSchema, decodeCursor, encodeCursor, messageView, postMessage } from '../../chat/messages.js'

const MessagePageSchema = Type.Object({
  messages: Type.Array(MessageSchema, { description: 'Oldest first, newest last' }),
  hasMore: Type.Boolean({ description: 'More messages exist beyond this page in the direction read (older for latest/before, newer for since)' }),
  olderCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the page before this one; null when nothing older exists' }),
  newerCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for messages after this page (poll with it to catch up); null only for an empty conversation' })
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  app.addHook('preHandler', app.requireUser)

  async function memberConversation (id: string, userId: string) {
    const c = await findConversationForMember(db, id, userId)
    if (!c) throw new NotFound(`No conversation ${id}`)
    return c
  }

  app.get('/', {
    schema: {
      tags: ['conversations'],
      description: 'The caller\'s conversations, most recently active first. Members carry presence; at most 100 per conversation here (`membersTruncated`).',
      response: { 200: Type.Object({ conversations: Type.Array(ConversationSchema) }), ...errorResponses }
    }
  }, async (request) => ({ conversations: await loadConversationViews(app, { userId: currentUser(request).id }) }))

  app.post('/direct', {
    schema: {
      tags: ['conversations'],
      description: 'Creates or fetches the direct conversation with `targetUserId` and emits `conversation:updated` to both users.',
      body: Type.Object({ targetUserId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      response: { 200: ConversationSchema, 201: ConversationSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const me = currentUser(request)
    const target = await findUserById(db, request.body.targetUserId)
    if (!target || target.status !== 'active') throw new NotFound(`No active user ${request.body.targetUserId}`)
    const { conversation, created } = await getOrCreateDirect(app, me.id, target.id)
    return reply.code(created ? 201 : 200).send(conversation)
  })

  app.get('/:id', {
    schema: {
      tags: ['conversations'],
      params: UuidParamSchema,
      response: { 200: ConversationSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    await memberConversation(request.params.id, currentUser(request).id)
    return (await getConversationView(app, request.params.id, Infinity))!
  })

  app.get('/:id/messages', {
    schema: {
      tags: ['conversations'],
      params: UuidParamSchema,
      querystring: Type.Object({
        before: Type.Optional(Type.String({ format: 'date-time', description: 'ISO instant: messages strictly before it' })),
        since: Type.Optional(Type.String({ format: 'date-time', description: 'ISO instant: messages strictly after it' })),
        cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'olderCursor/newerCursor of a previous page' })),
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 })
      }, { additionalProperties: false }),
      response: { 200: MessagePageSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const { before, since, cursor, limit } = request.query
    if ([before, since, cursor].filter(v => v !== undefined).length > 1) throw new BadRequest('querystring: use only one of before, since, cursor')
    await memberConversation(request.params.id, currentUser(request).id)
    let older: MessagePosition | Date | undefined
    let newer: MessagePosition | Date | undefined
    if (before) older = new Date(before)
    if (since) newer = new Date(since)
    if (cursor) {
      const c = decodeCursor(cursor)
      if (c.direction === 'older') older = c.position
      else newer = c.position
    }
    const page = await listMessagePage(db, { conversationId: request.params.id, limit, before: older, after: newer })
    const first = page.messages[0]
    const last = page.messages.at(-1)
    const readingNewer = newer !== undefined
    return {
      messages: page.messages.map(messageView),
      hasMore: page.hasMore,
      olderCursor: first && (readingNewer || page.hasMore) ? encodeCursor('older', first) : null,
      // An empty catch-up page hands the same cursor back, so a poller keeps its place.
      newerCursor: last ? encodeCursor('newer', last) : (readingNewer && cursor ? cursor : null)
    }
  })

  app.post('/:id/messages', {
    schema: {
      tags: ['conversations'],
      description: 'Sends a message (1–2000 characters). With `clientId`, a retry returns the first message with 200 instead of storing a copy.',
      params: UuidParamSchema,
      body: Type.Object({
        content: MessageContentSchema,
        format: Type.Optional(MessageFormatSchema),
        clientId: Type.Optional(ClientIdSchema)
      }, { additionalProperties: false }),
      response: { 201: MessageSchema, 200: MessageSchema, 404: ErrorSchema, 409: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const me = currentUser(request)
    await memberConversation(request.params.id, me.id)
    const { content, format, clientId } = request.body
    const { message, created } = await postMessage(app, { conversationId: request.params.id, senderId: me.id, content, format: format ?? 'text', clientId })
    return reply.code(created ? 201 : 200).send(message)
  })
}
export default routes
