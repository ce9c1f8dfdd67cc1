/**
 * The chat WebSocket `GET /ws?token=<jwt>` (seeds/secure-chat-server-plugin-api.md, "WebSocket").
 *
 * - Connect: the session JWT (same checks as REST: signature, expiry, user active, session
 *   version) — on failure the socket is closed with code 4401. Then `{type: "ready", user,
 *   conversations}`; nothing is sent before it.
 * - Server events (from `app.events`, any replica): `message:created`, `message:ack`,
 *   `conversation:updated`, `presence:updated`, `approval:updated`, `typing`, `thinking`, `error`.
 *   A user only gets events of conversations it belongs to: events are addressed to members.
 * - Client messages: `ping` → `pong`; `conversation:list` → `{type: "conversation:list",
 *   conversations}`; `message:send {conversationId, content, format?, clientId?}` (answered by
 *   `message:ack`, or `error` with the same `clientId`); `typing {conversationId, typing}` and
 *   `thinking {conversationId, thinking}`, relayed to the other members with `userId` and
 *   `displayName`. Non-members get `error` code `NOT_FOUND`.
 * - Bad input: invalid JSON, unknown types and invalid fields → `{type: "error", error, code}`;
 *   frames over 32 KiB → close 1009; more than `FLOOD_BURST` frames at once or a sustained rate
 *   above `FLOOD_RATE`/s → frames dropped with `error` `RATE_LIMITED`, and after
 *   `FLOOD_CLOSE_AFTER` dropped frames → close 1008. A client that does not read (over 4 MiB
 *   buffered) → close 1013. Sign-out (disable, delete, password change) → close 4401.
 */
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import * as ws from 'ws'
import type { WebSocket } from 'ws'
import { Type, type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { findConversationForMember, findUserById, isMember, listMemberIds, type User } from '@parley/db'
import { loadConversationViews } from '../../chat/conversations.js'
import { ClientIdSchema, MessageContentSchema, MessageFormatSchema, postMessage } from '../../chat/messages.js'
import { publicUser } from '../../schemas/common.js'

export const MAX_FRAME_BYTES = 32 * 1024
export const FLOOD_BURST = 60
export const FLOOD_RATE = 20
export const FLOOD_CLOSE_AFTER = 200
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const MEMBERSHIP_CACHE_MS = 5_000

export const CLOSE_UNAUTHORIZED = 4401
const wsSender = (ws as unknown as { Sender: { frame: (data: Buffer, o: object) => Buffer[] } }).Sender

const Uuid = Type.String({ format: 'uuid', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })
const clientSchemas: Record<string, TSchema> = {
  ping: Type.Object({ type: Type.Literal('ping'), id: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
  'conversation:list': Type.Object({ type: Type.Literal('conversation:list') }, { additionalProperties: false }),
  'message:send': Type.Object({
    type: Type.Literal('message:send'), conversationId: Uuid, content: MessageContentSchema,
    format: Type.Optional(MessageFormatSchema), clientId: Type.Optional(ClientIdSchema)
  }, { additionalProperties: false }),
  typing: Type.Object({ type: Type.Literal('typing'), conversationId: Uuid, typing: Type.Boolean() }, { additionalProperties: false }),
  thinking: Type.Object({ type: Type.Literal('thinking'), conversationId: Uuid, thinking: Type.Boolean() }, { additionalProperties: false })
}

interface Conn {
  socket: WebSocket
  user: User
  connId?: string
  ready: boolean
  /** Events that arrived before `ready` was sent. */
  backlog: Buffer[]
  tokens: number
  refilledAt: number
  dropped: number
  lastRateError: number
  membership: Map<string, number>
}

export default fp(async (app) => {
  const { db } = app
  await app.register(websocket, {
    options: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false },
    preClose (done) {
      for (const client of app.websocketServer.clients) client.close(1001, 'Server shutting down')
      done()
    },
    errorHandler (error, socket, request) {
      request.log.info({ reason: error.message }, 'websocket error')
      socket.terminate()
    }
  })
  /** userId → this replica's sockets of that user. */
  const local = new Map<string, Set<Conn>>()

  function sendRaw (conn: Conn, payload: Buffer | string) {
    const s = conn.socket
    if (s.readyState !== s.OPEN) return
    if (s.bufferedAmount > MAX_BUFFERED_BYTES) { s.close(1013, 'Client is not reading its events'); return }
    s.send(payload, { binary: false })
  }
  const send = (conn: Conn, event: object) => sendRaw(conn, JSON.stringify(event))

  /**
   * An event arrives once per replica as bytes; it is framed once (a WebSocket text frame, no
   * compression, unmasked as server frames are) and the same frame is written to every recipient
   * socket. Falls back to `ws.send` when the socket's sender is busy (never, without compression).
   */
  const frameOf = (payload: Buffer): Buffer => Buffer.concat(wsSender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }))
  function sendFrame (conn: Conn, frame: Buffer, payload: Buffer) {
    const s = conn.socket as WebSocket & { _socket?: import('node:net').Socket, _sender?: { _state: number, _queue: unknown[] } }
    const raw = s._socket
    if (!raw || !s._sender || s._sender._state !== 0 || s._sender._queue.length > 0 || s.readyState !== s.OPEN || raw.destroyed) {
      sendRaw(conn, payload)
      return
    }
    if (raw.writableLength > MAX_BUFFERED_BYTES) { s.close(1013, 'Client is not reading its events'); return }
    raw.write(frame)
  }
  const sendError = (conn: Conn, code: string, error: string, ref: Record<string, unknown> = {}) =>
    send(conn, { type: 'error', error, code, ...ref })

  app.events.onDeliver((userIds, payload) => {
    let frame: Buffer | undefined
    for (const id of userIds) {
      const set = local.get(id)
      if (!set) continue
      for (const conn of set) {
        if (conn.ready) sendFrame(conn, frame ??= frameOf(payload), payload)
        else conn.backlog.push(payload)
      }
    }
  })
  app.events.onSignOut((userIds, reason) => {
    for (const id of userIds) for (const conn of local.get(id) ?? []) conn.socket.close(CLOSE_UNAUTHORIZED, reason)
  })

  async function authenticate (token: unknown): Promise<User | undefined> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return undefined
    let payload: { sub: string, sv: number }
    try {
      payload = app.jwt.verify<{ sub: string, sv: number }>(token)
    } catch {
      return undefined
    }
    if (typeof payload.sub !== 'string' || !/^[0-9a-f-]{36}$/i.test(payload.sub)) return undefined
    const user = await findUserById(db, payload.sub)
    return user && user.status === 'active' && user.sessionVersion === payload.sv ? user : undefined
  }

  /** Token bucket per socket. @returns false when the frame must be dropped. */
  function admit (conn: Conn): boolean {
    const t = Date.now()
    conn.tokens = Math.min(FLOOD_BURST, conn.tokens + (t - conn.refilledAt) * FLOOD_RATE / 1000)
    conn.refilledAt = t
    if (conn.tokens >= 1) { conn.tokens -= 1; return true }
    conn.dropped++
    if (conn.dropped >= FLOOD_CLOSE_AFTER) { conn.socket.close(1008, 'Too many frames'); return false }
    if (t - conn.lastRateError > 1_000) {
      conn.lastRateError = t
      sendError(conn, 'RATE_LIMITED', `Too many frames: at most ${FLOOD_RATE} per second (bursts of ${FLOOD_BURST}); frames are being dropped`)
    }
    return false
  }

  async function member (conn: Conn, conversationId: string): Promise<boolean> {
    const at = conn.membership.get(conversationId)
    if (at !== undefined && Date.now() - at < MEMBERSHIP_CACHE_MS) return true
    const ok = await isMember(db, conversationId, conn.user.id)
    if (ok) conn.membership.set(conversationId, Date.now())
    else conn.membership.delete(conversationId)
    return ok
  }

  async function handle (conn: Conn, raw: Buffer) {
    let msg: unknown
    try {
      msg = JSON.parse(raw.toString('utf8'))
    } catch {
      return sendError(conn, 'INVALID_JSON', 'Frame is not valid JSON')
    }
    const type = (msg as { type?: unknown } | null)?.type
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || typeof type !== 'string') {
      return sendError(conn, 'INVALID_MESSAGE', 'A message is a JSON object with a string "type"')
    }
    const schema = clientSchemas[type]
    if (!schema) return sendError(conn, 'UNKNOWN_TYPE', `Unknown message type "${type.slice(0, 40)}"; expected one of ${Object.keys(clientSchemas).join(', ')}`)
    const clientId = typeof (msg as { clientId?: unknown }).clientId === 'string' ? (msg as { clientId: string }).clientId.slice(0, 64) : undefined
    if (!Value.Check(schema, msg)) {
      const first = Value.Errors(schema, msg)[0]
      const where = first?.instancePath || '/'
      return sendError(conn, 'INVALID_MESSAGE', `${type}: ${where} ${first?.message ?? 'is invalid'}`, { requestType: type, ...(clientId ? { clientId } : {}) })
    }
    if (type !== 'ping') app.presence.touch(conn.user.id)
    switch (type) {
      case 'ping':
        return send(conn, { type: 'pong', ...((msg as { id?: string }).id ? { id: (msg as { id: string }).id } : {}) })
      case 'conversation:list':
        return send(conn, { type: 'conversation:list', conversations: await loadConversationViews(app, { userId: conn.user.id }) })
      case 'message:send': {
        const m = msg as { conversationId: string, content: string, format?: 'text' | 'markdown', clientId?: string }
        if (!await findConversationForMember(db, m.conversationId, conn.user.id)) {
          return sendError(conn, 'NOT_FOUND', `No conversation ${m.conversationId}`, { requestType: type, conversationId: m.conversationId, ...(clientId ? { clientId } : {}) })
        }
        try {
          await postMessage(app, { conversationId: m.conversationId, senderId: conn.user.id, content: m.content, format: m.format ?? 'text', clientId: m.clientId })
        } catch (err) {
          const e = err as { statusCode?: number, code?: string, message: string }
          if (!e.statusCode || e.statusCode >= 500) throw err
          sendError(conn, e.code ?? 'BAD_REQUEST', e.message, { requestType: type, conversationId: m.conversationId, ...(clientId ? { clientId } : {}) })
        }
        return
      }
      case 'typing':
      case 'thinking': {
        const m = msg as { conversationId: string, typing?: boolean, thinking?: boolean }
        if (!await member(conn, m.conversationId)) {
          return sendError(conn, 'NOT_FOUND', `No conversation ${m.conversationId}`, { requestType: type, conversationId: m.conversationId })
        }
        const others = (await listMemberIds(db, m.conversationId)).filter(id => id !== conn.user.id)
        const value = type === 'typing' ? m.typing : m.thinking
        await app.events.publishToUsers(others, { type, conversationId: m.conversationId, userId: conn.user.id, displayName: conn.user.displayName, [type]: value })
      }
    }
  }

  app.get('/ws', { websocket: true, schema: { hide: true } }, (socket, request) => {
    const queue: Buffer[] = []
    let conn: Conn | undefined
    let closed = false
    socket.on('message', (data) => {
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
      // Frames sent before `ready` wait (bounded) and are handled in order once it is sent.
      if (!conn?.ready) { if (queue.length < FLOOD_BURST) queue.push(raw); return }
      dispatch(conn, raw)
    })
    const dispatch = (c: Conn, raw: Buffer) => {
      if (!admit(c)) return
      handle(c, raw).catch((err) => {
        request.log.error({ err }, 'websocket message failed')
        sendError(c, 'INTERNAL', 'The server could not process this message')
      })
    }
    socket.on('close', () => {
      closed = true
      if (!conn) return
      const set = local.get(conn.user.id)
      set?.delete(conn)
      if (set?.size === 0) local.delete(conn.user.id)
      if (conn.connId) app.presence.disconnect(conn.user.id, conn.connId).catch((err) => request.log.warn({ err: err.message }, 'presence: disconnect failed'))
    })

    void (async () => {
      const user = await authenticate((request.query as { token?: unknown }).token)
      if (closed) return
      if (!user) { socket.close(CLOSE_UNAUTHORIZED, 'Session token is invalid or expired'); return }
      const c: Conn = { socket, user, ready: false, backlog: [], tokens: FLOOD_BURST, refilledAt: Date.now(), dropped: 0, lastRateError: 0, membership: new Map() }
      let set = local.get(user.id)
      if (!set) local.set(user.id, set = new Set())
      set.add(c)
      conn = c
      c.connId = await app.presence.connect(user.id)
      if (closed) { await app.presence.disconnect(user.id, c.connId); return }
      const [fresh, conversations] = await Promise.all([findUserById(db, user.id), loadConversationViews(app, { userId: user.id })])
      send(c, { type: 'ready', user: publicUser(fresh ?? user), conversations })
      c.ready = true
      for (const payload of c.backlog) sendRaw(c, payload)
      c.backlog = []
      for (const raw of queue.splice(0)) dispatch(c, raw)
    })().catch((err) => {
      request.log.error({ err }, 'websocket set-up failed')
      socket.close(1011, 'Server error')
    })
  })
}, { name: 'chat-websocket', dependencies: ['auth', 'events', 'presence'] })
