/**
 * Approvals and manager tokens (seeds/secure-chat-server-plugin-api.md, "Approvals + Manager
 * Tokens", "Token Handling Workflow"; issue 6).
 *
 * - `GET /api/approvals?direction=incoming|outgoing|all[&status=]`: the caller's approvals, newest first.
 * - `POST /api/approvals {targetUserId, note?, conversationId?}` (201): asks a manager. Only
 *   managers can be targets (400 otherwise; 404 for an unknown or inactive user; 400 for oneself).
 *   With `conversationId` the caller must be a member of it (404 otherwise, so a non-member cannot
 *   tell it exists) and so must the manager, since the token will be posted there as the manager
 *   (400 otherwise).
 * - `POST /api/approvals/:id/respond {decision}` (200): only the target manager (403 for the
 *   requester, 404 for anyone else), once (409 afterwards). On `approved` the manager's token is
 *   made sure of — a 32-character token is generated with `crypto` and stored encrypted
 *   (`users.manager_token_enc`, `app.tokenCipher`) when the manager has none — and a message whose
 *   content is only that token is posted as the manager into the request's conversation, or into
 *   the manager↔requester direct conversation when the request named none (created if needed). Its
 *   members get it as `message:created`. A denial posts nothing.
 * - Both parties get `{ type: "approval:updated", request }` on creation and on the decision.
 * - Audit: `decidedBy`/`decidedAt` and where the token went (`tokenConversationId`,
 *   `tokenMessageId`) are kept on the row. The token is never returned by these routes, logged,
 *   or put in an event other than the message itself.
 */
import { randomInt } from 'node:crypto'
import { Type, type Static } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  decideApproval, ensureManagerTokenEnc, findApproval, findConversationForMember, findUserById, insertApproval, isMember,
  listApprovals, recordTokenMessage, reopenApproval, type ApprovalRow
} from '@parley/db'
import { BadRequest, Conflict, Forbidden, NotFound, Unavailable } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, errorResponses } from '../../schemas/common.js'
import { getOrCreateDirect } from '../../chat/conversations.js'
import { postMessage } from '../../chat/messages.js'

export const MANAGER_TOKEN_LENGTH = 32
const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A fresh 32-character manager token: letters and digits drawn uniformly with `crypto.randomInt` (~190 bits). */
export const generateManagerToken = (): string =>
  Array.from({ length: MANAGER_TOKEN_LENGTH }, () => TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)]).join('')

const Uuid = Type.String({ format: 'uuid' })
const StatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('denied')])
const PartySchema = Type.Object({ id: Uuid, username: Type.String(), displayName: Type.String(), manager: Type.Boolean() })

export const ApprovalSchema = Type.Object({
  id: Uuid,
  requester: PartySchema,
  target: PartySchema,
  note: Type.String(),
  conversationId: Type.Union([Uuid, Type.Null()], { description: 'Where the request was made; the token goes there on approval' }),
  status: StatusSchema,
  decidedBy: Type.Union([Uuid, Type.Null()]),
  decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  tokenConversationId: Type.Union([Uuid, Type.Null()], { description: 'Conversation the token message was posted to (approved only)' }),
  tokenMessageId: Type.Union([Uuid, Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})
export type ApprovalView = Static<typeof ApprovalSchema>

export const approvalView = (a: ApprovalRow): ApprovalView => ({
  id: a.id,
  requester: a.requester,
  target: a.target,
  note: a.note,
  conversationId: a.conversationId,
  status: a.status,
  decidedBy: a.decidedBy,
  decidedAt: a.decidedAt?.toISOString() ?? null,
  tokenConversationId: a.tokenConversationId,
  tokenMessageId: a.tokenMessageId,
  createdAt: a.createdAt.toISOString(),
  updatedAt: a.updatedAt.toISOString()
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  app.addHook('preHandler', app.requireUser)

  async function announce (id: string): Promise<ApprovalView> {
    const view = approvalView((await findApproval(db, id))!)
    await app.events.publishToUsers([view.requester.id, view.target.id], { type: 'approval:updated', request: view })
    return view
  }

  app.get('/', {
    schema: {
      tags: ['approvals'],
      description: 'Approvals the caller sent (outgoing), received as manager (incoming) or both (all), newest first.',
      querystring: Type.Object({
        direction: Type.Union([Type.Literal('incoming'), Type.Literal('outgoing'), Type.Literal('all')], { default: 'all' }),
        status: Type.Optional(StatusSchema),
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ approvals: Type.Array(ApprovalSchema) }), ...errorResponses }
    }
  }, async (request) => {
    const rows = await listApprovals(db, currentUser(request).id, request.query)
    return { approvals: rows.map(approvalView) }
  })

  app.post('/', {
    schema: {
      tags: ['approvals'],
      description: 'Asks a manager for approval; on approval the manager\'s token is posted into `conversationId` (or the direct conversation).',
      body: Type.Object({
        targetUserId: Uuid,
        note: Type.String({ maxLength: 1000, default: '' }),
        conversationId: Type.Optional(Uuid)
      }, { additionalProperties: false }),
      response: { 201: ApprovalSchema, 404: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const me = currentUser(request)
    const { targetUserId, note, conversationId } = request.body
    if (targetUserId === me.id) throw new BadRequest('body/targetUserId is yourself: ask another manager')
    const target = await findUserById(db, targetUserId)
    if (!target || target.status !== 'active') throw new NotFound(`No active user with id ${targetUserId}`)
    if (!target.manager) throw new BadRequest(`body/targetUserId: user ${target.username} is not a manager; only managers can approve`)
    if (conversationId) {
      if (!await findConversationForMember(db, conversationId, me.id)) throw new NotFound(`No conversation ${conversationId} that you are a member of`)
      if (!await isMember(db, conversationId, target.id)) {
        throw new BadRequest(`body/conversationId: manager ${target.username} is not a member of conversation ${conversationId}, where the token would be posted`)
      }
    }
    const row = await insertApproval(db, { requesterId: me.id, targetId: target.id, note: note.trim(), conversationId: conversationId ?? null })
    request.log.info({ approvalId: row.id, targetId: target.id }, 'approval requested')
    return reply.code(201).send(await announce(row.id))
  })

  app.post('/:id/respond', {
    schema: {
      tags: ['approvals'],
      description: 'The target manager approves (posts the token as the manager) or denies, once.',
      params: Type.Object({ id: Uuid }),
      body: Type.Object({ decision: Type.Union([Type.Literal('approved'), Type.Literal('denied')]) }, { additionalProperties: false }),
      response: { 200: ApprovalSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema, ...errorResponses }
    }
  }, async (request) => {
    const me = currentUser(request)
    const { id } = request.params
    const { decision } = request.body
    const found = await findApproval(db, id)
    if (!found || (found.targetId !== me.id && found.requesterId !== me.id)) throw new NotFound(`No approval with id ${id}`)
    if (found.targetId !== me.id) throw new Forbidden('Only the manager this approval was sent to may respond')
    if (found.status !== 'pending') throw new Conflict(`Approval ${id} was already ${found.status}`)
    if (decision === 'approved') {
      if (!me.manager) throw new Forbidden('You are no longer a manager, so you cannot approve')
      if (!app.tokenCipher) throw new Unavailable('Token encryption is not configured (TOKEN_ENCRYPTION_KEYS)')
    }
    if (decision === 'denied') {
      if (!await decideApproval(db, { id, decision, decidedBy: me.id })) throw new Conflict(`Approval ${id} was already decided`)
      request.log.info({ approvalId: id, decision }, 'approval decided')
      return announce(id)
    }
    const cipher = app.tokenCipher!
    if (found.conversationId) {
      const [requesterIn, managerIn] = await Promise.all([isMember(db, found.conversationId, found.requesterId), isMember(db, found.conversationId, me.id)])
      if (!requesterIn || !managerIn) throw new Conflict(`Conversation ${found.conversationId} no longer has both of you as members; deny this approval and ask again`)
    }
    // Committed before the token is posted, so a posted token is always the stored one.
    const tokenEnc = await ensureManagerTokenEnc(db, me.id, () => cipher.encrypt(generateManagerToken()))
    // The decision is claimed by one conditional update (concurrent responses get 409), then the
    // token is posted; no transaction is held open while posting, so responses cannot starve the
    // connection pool. If posting fails the approval is reopened for another try.
    if (!await decideApproval(db, { id, decision, decidedBy: me.id })) throw new Conflict(`Approval ${id} was already decided`)
    try {
      const conversationId = found.conversationId ?? (await getOrCreateDirect(app, me.id, found.requesterId)).conversation.id
      const { message } = await postMessage(app, { conversationId, senderId: me.id, content: cipher.decrypt(tokenEnc), format: 'text' })
      await recordTokenMessage(db, id, { conversationId, messageId: message.id })
    } catch (err) {
      await reopenApproval(db, id, me.id).catch(() => {})
      throw err
    }
    request.log.info({ approvalId: id, decision }, 'approval decided')
    return announce(id)
  })
}
export default routes
