/**
 * Mattermost WebSocket listener (`/api/v4/websocket`) on `ws`: auth, resume by
 * `connection_id` + `sequence_number`, seq-gap detection, app-level ping, and reconnect with
 * backoff that never gives up. The worker uses it to notice DMs opened with the bot.
 *
 * Auth is sent twice on purpose. Mattermost resumes a connection only when the upgrade request
 * itself is authenticated (an unauthenticated upgrade always gets a new connection id, PROTOCOL
 * §9.4), so the token goes in the upgrade's Authorization header; the `authentication_challenge`
 * frame (§9.1) covers servers or proxies that drop that header, and is ignored otherwise. Because an
 * ignored challenge gets no reply, an app-level `ping` sent right after it tells us we are in: only
 * an authenticated connection answers it with `OK`.
 * @see /work/shared/mattermost/PROTOCOL.md §9; CLIENT.md explains why not `@mattermost/client`.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import WebSocket from 'ws'
import type { Post } from '@mattermost/types/posts'

export type SocketState = 'connecting' | 'open' | 'reconnecting' | 'down' | 'stopped'

/** Who an event was sent to (PROTOCOL §9.2). */
export interface WebSocketBroadcast {
  omit_users?: Record<string, boolean> | null
  user_id?: string
  channel_id?: string
  team_id?: string
  connection_id?: string
  omit_connection_id?: string
}

/** Server event envelope (PROTOCOL §9.2). `seq` counts events per connection from 0 (`hello`). */
export interface MattermostEvent {
  event: string
  data: Record<string, unknown>
  broadcast: WebSocketBroadcast
  seq: number
}

/** Events whose `data.post` the server sends as a JSON string; the socket delivers it parsed. */
export const POST_EVENTS = new Set(['posted', 'post_edited', 'post_deleted', 'ephemeral_message'])

export interface PostEvent extends MattermostEvent {
  event: 'posted' | 'post_edited' | 'post_deleted' | 'ephemeral_message'
  data: Record<string, unknown> & { post: Post }
}

export const isPostEvent = (e: MattermostEvent): e is PostEvent =>
  POST_EVENTS.has(e.event) && typeof e.data.post === 'object' && e.data.post !== null

export interface SocketEvents {
  /** Every server event except `hello`, in `seq` order, without gaps or repeats. */
  event: [MattermostEvent]
  /** A fresh server connection. `resumed` is always false: a resumed connection sends no hello. */
  hello: [{ connectionId: string, resumed: boolean }]
  /** The server could not resume: events were lost, so reconcile through REST. */
  resync: [{ previousConnectionId: string, connectionId: string }]
  state: [SocketState]
  /** Transport and protocol problems; informative only, the socket keeps reconnecting by itself. */
  error: [Error]
}

export interface SocketStatus {
  state: SocketState
  connectionId?: string
  /** Epoch ms of the last event or hello received. */
  lastEventAt?: number
  /** Connection attempts in a row that did not authenticate; 0 after a successful open. */
  consecutiveFailures: number
}

export interface MattermostSocketOptions {
  /** Server root, `http(s)://host[/path]`; the scheme becomes `ws(s)`. */
  baseUrl: string
  /** Bot or user token, sent in the upgrade's Authorization header and the `authentication_challenge` frame. Never logged. */
  token: string
  /** First reconnect delay; doubles per failed attempt. */
  reconnectIntervalMs?: number
  /** Failed attempts in a row before state `down` (retries continue every ~maxBackoffMs). */
  maxReconnectAttempts?: number
  maxBackoffMs?: number
  /** App-level `ping` period; no reply by the next tick closes with 4000 and reconnects. Also bounds handshake and auth. */
  pingIntervalMs?: number
  logger?: Pick<Logger, 'info' | 'warn' | 'debug'>
  WebSocketImpl?: typeof WebSocket
}

export type MattermostSocket = EventEmitter<SocketEvents> & {
  /** Connects (idempotent). Progress is reported through `state`, failures through `error`. */
  start (): void
  /** Closes the connection (code 1000) and clears every timer; resolves once the socket is closed. */
  stop (): Promise<void>
  status (): SocketStatus
}

interface Frame {
  event?: unknown
  seq?: unknown
  seq_reply?: unknown
  status?: unknown
  data?: unknown
  broadcast?: unknown
  error?: { id?: unknown }
}

const CLOSE_PING_TIMEOUT = 4000
const CLOSE_SEQ_MISMATCH = 4001

/** Creates a stopped socket; call `start()`. See `SocketEvents` for what it emits. */
export function createMattermostSocket ({
  baseUrl, token, reconnectIntervalMs = 5_000, maxReconnectAttempts = 10, maxBackoffMs = 60_000,
  pingIntervalMs = 30_000, logger, WebSocketImpl = WebSocket
}: MattermostSocketOptions): MattermostSocket {
  const emitter = new EventEmitter<SocketEvents>()
  let state: SocketState = 'stopped'
  let running = false
  let ws: WebSocket | undefined // the live socket; others are stale and ignored
  const closing = new Set<WebSocket>() // dropped sockets still finishing their close handshake
  let connectionId: string | undefined
  let expectedSeq = 0
  let lastEventAt: number | undefined
  let failures = 0
  let authenticated = false
  let requestSeq = 0
  let authSeq = 0
  let pendingPing = 0
  let disconnectCode: number | undefined
  let reconnectTimer: NodeJS.Timeout | undefined
  let pingTimer: NodeJS.Timeout | undefined

  const setState = (next: SocketState) => {
    if (state === next) return
    state = next
    emitter.emit('state', next)
  }

  const report = (err: Error, msg: string) => {
    logger?.warn({ err }, msg)
    if (emitter.listenerCount('error') > 0) emitter.emit('error', err)
  }

  function socketUrl (): string {
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}/api/v4/websocket`)
    url.protocol = url.protocol.replace(/^http/, 'ws')
    if (connectionId !== undefined) {
      url.searchParams.set('connection_id', connectionId)
      url.searchParams.set('sequence_number', String(expectedSeq))
    }
    if (disconnectCode !== undefined) url.searchParams.set('disconnect_err_code', String(disconnectCode))
    return url.toString()
  }

  const send = (frame: Record<string, unknown>) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame))
  }

  function connect () {
    reconnectTimer = undefined
    if (!running) return
    authenticated = false
    pendingPing = 0
    let socket: WebSocket
    try {
      socket = new WebSocketImpl(socketUrl(), {
        handshakeTimeout: pingIntervalMs, headers: { authorization: `Bearer ${token}` }
      })
    } catch (err) { // e.g. a malformed baseUrl: report it and keep the retry schedule
      report(err as Error, 'mattermost websocket could not be created')
      return afterDisconnect()
    }
    ws = socket
    socket.on('open', () => {
      if (ws !== socket) return
      authSeq = ++requestSeq
      send({ seq: authSeq, action: 'authentication_challenge', data: { token } })
      pendingPing = ++requestSeq
      send({ seq: pendingPing, action: 'ping' }) // answered OK only once authenticated (see top)
      startPing()
    })
    socket.on('message', (raw) => {
      if (ws === socket) onMessage(raw.toString())
    })
    socket.on('error', (err) => {
      if (ws === socket) report(err, 'mattermost websocket error')
    })
    socket.on('close', (code) => {
      closing.delete(socket)
      if (ws !== socket) return
      logger?.debug({ code }, 'mattermost websocket closed')
      ws = undefined
      afterDisconnect()
    })
  }

  /** Drops the live socket (telling the server why) and reconnects without waiting for its close handshake. */
  function drop (code: number, reason: string) {
    const socket = ws
    if (!socket) return
    ws = undefined
    disconnectCode = code
    closing.add(socket)
    if (socket.readyState === WebSocket.OPEN) socket.close(code, reason)
    else socket.terminate()
    afterDisconnect()
  }

  function afterDisconnect () {
    stopPing()
    if (!running) return
    if (!authenticated) failures++
    const down = failures >= maxReconnectAttempts
    setState(down ? 'down' : 'reconnecting')
    const base = down ? maxBackoffMs : Math.min(maxBackoffMs, reconnectIntervalMs * 2 ** failures)
    reconnectTimer = setTimeout(connect, base / 2 + Math.random() * (base / 2))
  }

  function markOpen () {
    if (authenticated) return
    authenticated = true
    failures = 0
    disconnectCode = undefined
    logger?.info({ connectionId }, 'mattermost websocket open')
    setState('open')
  }

  function startPing () {
    stopPing()
    pingTimer = setInterval(() => {
      // Unanswered ping, or still not authenticated one period after opening: the link is dead.
      if (pendingPing !== 0 || !authenticated) return drop(CLOSE_PING_TIMEOUT, 'ping timeout')
      pendingPing = ++requestSeq
      send({ seq: pendingPing, action: 'ping' })
    }, pingIntervalMs)
  }

  function stopPing () {
    clearInterval(pingTimer)
    pingTimer = undefined
  }

  function onMessage (text: string) {
    let frame: Frame
    try {
      frame = JSON.parse(text) as Frame
    } catch (err) {
      return report(err as Error, 'mattermost websocket sent invalid JSON')
    }
    if (typeof frame.seq_reply === 'number') return onReply(frame)
    if (typeof frame.event !== 'string') return
    const data = (typeof frame.data === 'object' && frame.data !== null ? frame.data : {}) as Record<string, unknown>
    const seq = typeof frame.seq === 'number' ? frame.seq : expectedSeq
    if (frame.event === 'hello') return onHello(String(data.connection_id ?? ''), seq)
    if (seq < expectedSeq) return // already delivered (a replay overlapping what we saw)
    if (seq > expectedSeq) {
      logger?.warn({ expectedSeq, seq }, 'mattermost websocket sequence gap; reconnecting to resume')
      return drop(CLOSE_SEQ_MISMATCH, 'sequence mismatch')
    }
    expectedSeq = seq + 1
    lastEventAt = Date.now()
    markOpen()
    if (POST_EVENTS.has(frame.event) && typeof data.post === 'string') {
      try {
        data.post = JSON.parse(data.post) as Post
      } catch (err) {
        return report(err as Error, `mattermost ${frame.event} event ${seq} has an unparseable post; skipped`)
      }
    }
    const broadcast = (typeof frame.broadcast === 'object' && frame.broadcast !== null ? frame.broadcast : {}) as WebSocketBroadcast
    deliver('event', { event: frame.event, data, broadcast, seq })
  }

  function onReply (frame: Frame) {
    if (frame.seq_reply === pendingPing) {
      pendingPing = 0
      if (frame.status === 'OK') markOpen()
      return
    }
    if (frame.seq_reply !== authSeq) return
    if (frame.status === 'OK') return markOpen()
    report(new Error(`mattermost websocket authentication failed (${String(frame.error?.id ?? 'unknown')})`),
      'mattermost websocket authentication failed')
    drop(1000, 'authentication failed')
  }

  function onHello (id: string, seq: number) {
    const previous = connectionId
    connectionId = id
    expectedSeq = seq + 1
    lastEventAt = Date.now()
    markOpen()
    deliver('hello', { connectionId: id, resumed: false })
    if (previous !== undefined && previous !== id) {
      logger?.warn({ previous, connectionId: id }, 'mattermost websocket could not resume; events may be lost')
      deliver('resync', { previousConnectionId: previous, connectionId: id })
    }
  }

  /** A throwing listener must not break the socket's own bookkeeping. */
  function deliver<K extends 'event' | 'hello' | 'resync'> (name: K, ...args: SocketEvents[K]) {
    try {
      (emitter.emit as (n: K, ...a: SocketEvents[K]) => boolean)(name, ...args)
    } catch (err) {
      report(err as Error, `mattermost websocket ${name} listener threw`)
    }
  }

  const closeNow = (socket: WebSocket) => new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve()
    const fallback = setTimeout(() => socket.terminate(), 1_000)
    socket.once('close', () => {
      clearTimeout(fallback)
      resolve()
    })
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'client stopping')
    else socket.terminate()
  })

  return Object.assign(emitter, {
    start () {
      if (running) return
      running = true
      setState(connectionId === undefined ? 'connecting' : 'reconnecting')
      connect()
    },
    async stop () {
      running = false
      clearTimeout(reconnectTimer)
      reconnectTimer = undefined
      stopPing()
      const sockets = [...closing, ...(ws ? [ws] : [])]
      ws = undefined
      await Promise.all(sockets.map(closeNow))
      closing.clear()
      setState('stopped')
    },
    status: (): SocketStatus => ({
      state,
      consecutiveFailures: failures,
      ...(connectionId !== undefined && { connectionId }),
      ...(lastEventAt !== undefined && { lastEventAt })
    })
  })
}
