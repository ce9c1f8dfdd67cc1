/**
 * The `/api/v4/websocket` endpoint (PROTOCOL §9): authentication by header or
 * `authentication_challenge`, `hello`, per-connection `seq`, fan-out by broadcast rules, app-level
 * `ping`, protocol ping frames, and resume with `connection_id` + `sequence_number` from a buffer
 * of the last 128 events. A connection that drops is kept for `resumeRetentionMs`, and events for it
 * keep being buffered, so a resume replays what happened while it was away.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { isValidId, newId } from './ids.js'
import { broadcast, type SimEvent, type State, type UserRecord } from './state.js'

/** `deadQueueSize` (§9.4). */
const BUFFER_SIZE = 128

export interface HubOptions {
  /** Close a socket that has not authenticated after this long; 5 s in Mattermost (`authCheckInterval`). */
  authTimeoutMs: number
  /** Protocol ping frame period; 60 s in Mattermost. A socket that missed the previous pong is dropped. */
  pingIntervalMs: number
  /** How long a dropped connection id stays resumable. */
  resumeRetentionMs: number
  serverVersion: string
}

interface Conn {
  id: string
  userId: string
  /** The `seq` the next event on this connection gets. */
  seq: number
  buffer: Array<{ seq: number, frame: string }>
  socket: WebSocket | null
  expiry: NodeJS.Timeout | null
}

interface ClientRequest { action?: unknown, seq?: unknown, data?: unknown }

export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  private readonly conns = new Map<string, Conn>()
  private readonly sockets = new Map<WebSocket, { conn: Conn | null, alive: boolean }>()
  private readonly pingTimer: NodeJS.Timeout

  constructor (
    private readonly s: State,
    private readonly opts: HubOptions,
    private readonly authenticate: (token: string) => UserRecord | undefined,
    private readonly isDown: () => boolean
  ) {
    this.pingTimer = setInterval(() => this.pingAll(), opts.pingIntervalMs)
    this.pingTimer.unref()
  }

  /** `server.on('upgrade')` handler. Refuses with 503 while the simulator is down. */
  handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://sim')
    if (url.pathname !== '/api/v4/websocket' && url.pathname !== '/api/v4/websocket/') {
      return refuse(socket, '404 Not Found')
    }
    if (this.isDown()) return refuse(socket, '503 Service Unavailable')
    const token = tokenFromHeaders(req.headers.authorization, req.headers.cookie)
    const user = token === undefined ? undefined : this.authenticate(token)
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.onSocket(ws, user, url.searchParams)
    })
  }

  private onSocket (ws: WebSocket, user: UserRecord | undefined, query: URLSearchParams): void {
    const entry = { conn: null as Conn | null, alive: true }
    this.sockets.set(ws, entry)
    ws.on('pong', () => { entry.alive = true })
    ws.on('error', () => {})
    ws.on('close', () => {
      this.sockets.delete(ws)
      const conn = entry.conn
      if (conn !== null && conn.socket === ws) this.detach(conn)
    })
    ws.on('message', (raw) => this.onMessage(ws, entry, raw.toString()))
    if (user !== undefined) {
      this.attach(ws, entry, user.profile.id, query)
      return
    }
    const timer = setTimeout(() => { if (entry.conn === null) ws.close() }, this.opts.authTimeoutMs)
    timer.unref()
    ws.once('close', () => clearTimeout(timer))
  }

  // §9.4: resume only applies to a header-authenticated upgrade that names a connection id.
  private attach (ws: WebSocket, entry: { conn: Conn | null }, userId: string, query: URLSearchParams | null): void {
    const connectionId = query?.get('connection_id') ?? ''
    if (connectionId !== '') {
      if (!isValidId(connectionId)) { ws.close(); return }
      const conn = this.conns.get(connectionId)
      if (conn !== undefined && conn.userId === userId) {
        const raw = query?.get('sequence_number') ?? ''
        const n = raw === '' ? NaN : Number(raw)
        if (!Number.isInteger(n) || n < 0) { ws.close(); return }
        if (conn.socket !== null && conn.socket !== ws) {
          const old = conn.socket
          this.detach(conn)
          old.close()
        }
        if (conn.expiry !== null) { clearTimeout(conn.expiry); conn.expiry = null }
        if (n === conn.seq) {
          this.bind(ws, entry, conn)
          return
        }
        const from = conn.buffer.findIndex(e => e.seq === n)
        if (from >= 0) {
          this.bind(ws, entry, conn)
          for (let i = from; i < conn.buffer.length; i++) ws.send(conn.buffer[i].frame)
          return
        }
        // Events were lost: forget the old id; the client learns it from the new hello.
        this.conns.delete(conn.id)
      }
    }
    const conn: Conn = { id: newId(), userId, seq: 0, buffer: [], socket: null, expiry: null }
    this.conns.set(conn.id, conn)
    this.bind(ws, entry, conn)
    this.deliver(conn, frameBase({
      event: 'hello',
      data: { server_version: this.opts.serverVersion, connection_id: conn.id },
      broadcast: broadcast({ user_id: userId })
    }))
  }

  private bind (ws: WebSocket, entry: { conn: Conn | null }, conn: Conn): void {
    conn.socket = ws
    entry.conn = conn
  }

  private detach (conn: Conn): void {
    conn.socket = null
    if (conn.expiry !== null) clearTimeout(conn.expiry)
    conn.expiry = setTimeout(() => {
      if (conn.socket === null) this.conns.delete(conn.id)
    }, this.opts.resumeRetentionMs)
    conn.expiry.unref()
  }

  private onMessage (ws: WebSocket, entry: { conn: Conn | null }, text: string): void {
    let req: ClientRequest
    try {
      req = JSON.parse(text) as ClientRequest
    } catch {
      return
    }
    if (req === null || typeof req !== 'object') return
    const seq = typeof req.seq === 'number' ? req.seq : 0
    const action = typeof req.action === 'string' ? req.action : ''
    // websocket_router.go order: action, seq, challenge, authenticated, known action.
    if (action === '') return this.fail(ws, seq, 'api.web_socket_router.no_action.app_error', 400)
    if (seq <= 0) return this.fail(ws, seq, 'api.web_socket_router.bad_seq.app_error', 400)
    if (action === 'authentication_challenge') {
      if (entry.conn !== null) return
      const data = req.data as { token?: unknown } | undefined
      const token = typeof data?.token === 'string' ? data.token : ''
      const user = token === '' ? undefined : this.authenticate(token)
      if (user === undefined) { ws.close(); return }
      reply(ws, { status: 'OK', seq_reply: seq })
      this.attach(ws, entry, user.profile.id, null)
      return
    }
    const conn = entry.conn
    if (conn === null) return this.fail(ws, seq, 'api.web_socket_router.not_authenticated.app_error', 401)
    switch (action) {
      case 'ping':
        return reply(ws, { status: 'OK', seq_reply: seq, data: { text: 'pong', version: this.opts.serverVersion, server_time: Date.now(), node_id: '' } })
      case 'user_typing': {
        const d = (req.data ?? {}) as { channel_id?: unknown, parent_id?: unknown }
        if (typeof d.channel_id === 'string') {
          this.publish({
            event: 'typing',
            data: { parent_id: typeof d.parent_id === 'string' ? d.parent_id : '', user_id: conn.userId },
            broadcast: broadcast({ channel_id: d.channel_id, omit_users: { [conn.userId]: true } })
          })
        }
        return reply(ws, { status: 'OK', seq_reply: seq })
      }
      case 'get_statuses':
      case 'get_statuses_by_ids':
        return reply(ws, { status: 'OK', seq_reply: seq, data: {} })
      default:
        return this.fail(ws, seq, 'api.web_socket_router.bad_action.app_error', 501)
    }
  }

  private fail (ws: WebSocket, seq: number, id: string, status: number): void {
    reply(ws, { status: 'FAIL', seq_reply: seq, error: { id, message: id, detailed_error: '', status_code: status } })
  }

  /** Fans an event out by the `ShouldSendEvent` rules (§9.2) to live and resumable connections. */
  publish (ev: SimEvent): void {
    if (this.conns.size === 0) return
    let base: string | undefined
    for (const conn of this.conns.values()) {
      if (!this.shouldSend(conn, ev)) continue
      const extra = ev.dataFor?.(conn.userId)
      if (extra !== undefined) {
        this.deliver(conn, frameBase({ ...ev, data: { ...ev.data, ...extra } }))
      } else {
        base ??= frameBase(ev)
        this.deliver(conn, base)
      }
    }
  }

  private shouldSend (conn: Conn, ev: SimEvent): boolean {
    const b = ev.broadcast
    if (b.connection_id !== '' && b.connection_id !== conn.id) return false
    if (b.omit_connection_id !== '' && b.omit_connection_id === conn.id) return false
    if (b.user_id !== '') return b.user_id === conn.userId
    if (b.omit_users !== null && b.omit_users[conn.userId] === true) return false
    if (b.channel_id !== '') return this.s.channelMembers.get(b.channel_id)?.has(conn.userId) === true
    if (b.team_id !== '') return this.s.teamMembers.get(b.team_id)?.has(conn.userId) === true
    return true
  }

  private deliver (conn: Conn, base: string): void {
    const frame = `${base},"seq":${conn.seq}}`
    conn.buffer.push({ seq: conn.seq, frame })
    if (conn.buffer.length > BUFFER_SIZE) conn.buffer.shift()
    conn.seq++
    if (conn.socket !== null && conn.socket.readyState === WebSocket.OPEN) conn.socket.send(frame)
  }

  private pingAll (): void {
    for (const [ws, entry] of this.sockets) {
      if (!entry.alive) { ws.terminate(); continue }
      entry.alive = false
      ws.ping()
    }
  }

  /** Terminates every open socket now (server side); their connection ids stay resumable. */
  dropAll (): void {
    for (const [ws, entry] of this.sockets) {
      if (entry.conn !== null && entry.conn.socket === ws) this.detach(entry.conn)
      ws.terminate()
    }
  }

  /** Number of open sockets (authenticated or not). */
  get openSockets (): number {
    return this.sockets.size
  }

  close (): void {
    clearInterval(this.pingTimer)
    for (const ws of this.sockets.keys()) ws.terminate()
    for (const conn of this.conns.values()) if (conn.expiry !== null) clearTimeout(conn.expiry)
    this.conns.clear()
    this.wss.close()
  }
}

/** The envelope without its closing brace, so `seq` can be appended per connection cheaply. */
function frameBase (ev: Pick<SimEvent, 'event' | 'data' | 'broadcast'>): string {
  const json = JSON.stringify({ event: ev.event, data: ev.data, broadcast: ev.broadcast })
  return json.slice(0, -1)
}

function reply (ws: WebSocket, body: Record<string, unknown>): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(body))
}

function refuse (socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * The token of a request: `Authorization: Bearer <t>` or `Token <t>` (scheme case-insensitive),
 * else the `MMAUTHTOKEN` cookie (PROTOCOL §5, `ParseAuthTokenFromRequest`).
 */
export function tokenFromHeaders (authorization: string | undefined, cookie: string | undefined): string | undefined {
  if (authorization !== undefined) {
    const m = /^(bearer|token)\s+(\S+)\s*$/i.exec(authorization)
    if (m !== null) return m[2]
  }
  if (cookie !== undefined) {
    const m = /(?:^|;\s*)MMAUTHTOKEN=([^;]+)/.exec(cookie)
    if (m !== null) return m[1]
  }
  return undefined
}
