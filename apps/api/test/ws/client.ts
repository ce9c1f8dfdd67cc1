/**
 * A real WebSocket client for chat tests: connects to an app listening on 127.0.0.1, records
 * every event and lets a test await the next event matching a predicate (no fixed sleeps).
 */
import { WebSocket } from 'ws'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'

export interface ChatEvent { type: string, [k: string]: any }

export interface ChatClient {
  ws: WebSocket
  events: ChatEvent[]
  /** Resolves with the first event (already received or future) matching `match` not yet taken. */
  next: (match: string | ((e: ChatEvent) => boolean), timeoutMs?: number) => Promise<ChatEvent>
  send: (msg: unknown) => void
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number, reason: string }>
  close: () => void
}

/** Starts `app` on a random port (once) and returns its ws base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  const address = app.server.address()
  if (address && typeof address === 'object') return `ws://127.0.0.1:${address.port}`
  await app.listen({ host: '127.0.0.1', port: 0 })
  const a = app.server.address() as { port: number }
  return `ws://127.0.0.1:${a.port}`
}

/** Opens `/ws?token=…` and waits for it to open (not for `ready`). Closed at teardown. */
export async function connect (t: Test, base: string, token: string | undefined): Promise<ChatClient> {
  const ws = new WebSocket(`${base}/ws${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`)
  const events: ChatEvent[] = []
  const taken = new Set<ChatEvent>()
  const waiters: { match: (e: ChatEvent) => boolean, resolve: (e: ChatEvent) => void }[] = []
  ws.on('message', (data) => {
    const e = JSON.parse(data.toString()) as ChatEvent
    events.push(e)
    const i = waiters.findIndex(w => w.match(e))
    if (i >= 0) { taken.add(e); waiters.splice(i, 1)[0].resolve(e) }
  })
  const closed = new Promise<{ code: number, reason: string }>(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  t.teardown(() => { if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate() })
  return {
    ws,
    events,
    closed,
    send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    close: () => ws.close(),
    next (match, timeoutMs = 5_000) {
      const fn = typeof match === 'string' ? (e: ChatEvent) => e.type === match : match
      const found = events.find(e => !taken.has(e) && fn(e))
      if (found) { taken.add(found); return Promise.resolve(found) }
      return new Promise((resolve, reject) => {
        const w = { match: fn, resolve: (e: ChatEvent) => { clearTimeout(timer); resolve(e) } }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.map(e => e.type).join(', ') || 'nothing'}`))
        }, timeoutMs)
        waiters.push(w)
      })
    }
  }
}

/** Connects and waits for `ready`. */
export async function connectReady (t: Test, base: string, token: string): Promise<ChatClient & { ready: ChatEvent }> {
  const c = await connect(t, base, token)
  const ready = await c.next('ready')
  return Object.assign(c, { ready })
}

/**
 * Proves the absence of an event: sends a ping and waits for the pong — frames on one socket
 * arrive in order, so an event published before the ping's handling would have arrived first.
 * Use after a round trip through Redis (e.g. after another client saw the event).
 */
export async function settle (c: ChatClient): Promise<void> {
  const id = Math.random().toString(36).slice(2)
  c.send({ type: 'ping', id })
  await c.next(e => e.type === 'pong' && e.id === id)
}
