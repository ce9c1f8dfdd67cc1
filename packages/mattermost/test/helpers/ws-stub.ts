/**
 * A minimal Mattermost WebSocket endpoint for pure socket behaviour (PROTOCOL §9): header or
 * challenge auth (resume only with header auth, §9.4), hello, per-connection seq with a replay
 * buffer, app-level ping replies, and knobs to lose events, forget connections, ignore pings, ignore
 * the header and refuse upgrades.
 */
import { EventEmitter, once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'

interface Session { id: string, seq: number, buffer: Array<{ seq: number, frame: string }>, socket?: WebSocket }
export interface ConnectAttempt { query: URLSearchParams, headerAuth: boolean, closeCode?: number }

let nextId = 0
const newConnectionId = () => `conn${String(++nextId).padStart(22, '0')}`

export async function startWsStub (t: Test, { token = 'bot-token' } = {}) {
  const sessions = new Map<string, Session>()
  const attempts: ConnectAttempt[] = []
  const frames: Array<Record<string, unknown>> = [] // every client frame seen
  const signals = new EventEmitter() // 'attempt', 'authenticated', 'closed'
  const knobs = { answerPings: true, refuseUpgrades: false, acceptHeaderAuth: true }
  let current: Session | undefined
  let upgradesRefused = 0

  const server = createServer((_req, res) => { res.writeHead(404).end() })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    if (knobs.refuseUpgrades) {
      upgradesRefused++
      signals.emit('refused')
      socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n')
      return
    }
    const headerToken = /^bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, new URL(req.url ?? '/', 'http://x').searchParams, headerToken))
  })

  function onConnection (ws: WebSocket, query: URLSearchParams, headerToken: string | undefined) {
    const attempt: ConnectAttempt = { query, headerAuth: headerToken !== undefined }
    attempts.push(attempt)
    signals.emit('attempt', attempt)
    let authed = false
    ws.on('close', (code) => {
      attempt.closeCode = code
      signals.emit('closed', code)
    })
    // Like Mattermost (§9.4): only an upgrade authenticated by header may resume.
    if (knobs.acceptHeaderAuth && headerToken === token) {
      authed = true
      attach(ws, query)
    }
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { action: string, seq: number, data?: { token?: string } }
      frames.push(frame)
      signals.emit('frame', frame)
      if (frame.action === 'ping') {
        if (!authed) {
          ws.send(JSON.stringify({ status: 'FAIL', seq_reply: frame.seq, error: { id: 'api.web_socket_router.not_authenticated.app_error' } }))
        } else if (knobs.answerPings) {
          ws.send(JSON.stringify({ status: 'OK', seq_reply: frame.seq, data: { text: 'pong' } }))
        }
        return
      }
      if (frame.action !== 'authentication_challenge' || authed) return // ignored once authenticated, no reply
      if (frame.data?.token !== token) return ws.close() // like Mattermost: no error frame
      authed = true
      ws.send(JSON.stringify({ status: 'OK', seq_reply: frame.seq }))
      attach(ws, undefined)
    })
  }

  function attach (ws: WebSocket, query: URLSearchParams | undefined) {
    const id = query?.get('connection_id')
    const wanted = Number(query?.get('sequence_number'))
    const known = id ? sessions.get(id) : undefined
    if (known && (known.seq === wanted || known.buffer.some((e) => e.seq === wanted))) {
      known.socket = ws
      current = known
      for (const e of known.buffer) if (e.seq >= wanted) ws.send(e.frame)
    } else {
      current = { id: newConnectionId(), seq: 0, buffer: [], socket: ws }
      sessions.set(current.id, current)
      push('hello', { connection_id: current.id, server_version: '11.9.0.stub' })
    }
    signals.emit('authenticated', current.id)
  }

  /** Buffers an event on the current connection and sends it unless `lose`. */
  function push (event: string, data: Record<string, unknown>, { lose = false, broadcast = {} } = {}) {
    if (!current) throw new Error('no connection yet')
    const seq = current.seq++
    const frame = JSON.stringify({ event, data, broadcast: { user_id: '', channel_id: '', team_id: '', ...broadcast }, seq })
    current.buffer.push({ seq, frame })
    if (!lose && current.socket?.readyState === 1) current.socket.send(frame)
    return seq
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate()
    wss.close()
    server.closeAllConnections()
    server.close(() => resolve())
  }))

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    attempts,
    frames,
    knobs,
    push,
    get upgradesRefused () { return upgradesRefused },
    get connectionId () { return current?.id },
    /** Kills every client connection without a close frame; sessions stay resumable. */
    dropAll () { for (const c of wss.clients) c.terminate() },
    /** Forgets every connection, as after a server restart: the next connect gets a new id. */
    forget () { sessions.clear() },
    /** Resolves with the next connect attempt that passes the upgrade. */
    nextAttempt: async () => (await once(signals, 'attempt'))[0] as ConnectAttempt,
    nextAuthenticated: async () => (await once(signals, 'authenticated'))[0] as string,
    nextClose: async () => (await once(signals, 'closed'))[0] as number,
    nextRefusal: async () => { await once(signals, 'refused') },
    nextFrame: async (action: string) => {
      for (;;) {
        const [frame] = await once(signals, 'frame') as [{ action: string }]
        if (frame.action === action) return frame
      }
    }
  }
}
