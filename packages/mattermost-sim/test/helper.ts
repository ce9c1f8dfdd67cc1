/**
 * Test helpers: a simulator per test (port 0, closed at teardown), a fetch wrapper that keeps the
 * raw answer, and a WebSocket client that queues frames so tests await events instead of sleeping.
 */
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startSimulator, type Simulator, type StartOptions } from '../src/index.js'

export async function start (t: Test, opts: StartOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(opts)
  t.teardown(() => sim.close())
  return sim
}

export interface Answer {
  status: number
  headers: Headers
  text: string
  body: any
}

/** Calls the simulator: `call(sim, 'POST', '/api/v4/posts', token, body)`. Body is JSON-encoded. */
export async function call (sim: Simulator, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(sim.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { parsed = undefined }
  return { status: res.status, headers: res.headers, text, body: parsed }
}

/** A seeded world: admin bot, team, channel with the bot, two plain users on the team. */
export function seed (sim: Simulator) {
  const { user: bot, token: botToken } = sim.createBot({ username: 'parley-bot', roles: 'system_admin system_user' })
  const team = sim.createTeam({ name: 'acme', displayName: 'Acme' })
  sim.addTeamMember(team.id, bot.id)
  const channel = sim.createChannel({ teamId: team.id, name: 'notifications', displayName: 'Notifications' })
  sim.addChannelMember(channel.id, bot.id)
  const alice = sim.createUser({ username: 'alice' })
  const bob = sim.createUser({ username: 'bob' })
  sim.addTeamMember(team.id, alice.id)
  sim.addTeamMember(team.id, bob.id)
  return { bot, botToken, team, channel, alice, aliceToken: sim.createAccessToken(alice.id), bob, bobToken: sim.createAccessToken(bob.id) }
}

export interface Frame { event?: string, data?: any, broadcast?: any, seq?: number, status?: string, seq_reply?: number, error?: any }

/** A `ws` client that buffers parsed frames; `next` resolves with the first (new) frame matching. */
export class WsClient {
  readonly frames: Frame[] = []
  private cursor = 0
  private waiters: Array<() => void> = []
  closed: Promise<number>

  private constructor (readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      this.frames.push(JSON.parse(raw.toString()) as Frame)
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise(resolve => ws.once('close', (code) => {
      resolve(code)
      for (const w of this.waiters.splice(0)) w()
    }))
  }

  static async connect (sim: Simulator, opts: { token?: string, query?: Record<string, string | number> } = {}): Promise<WsClient> {
    const url = new URL('/api/v4/websocket', sim.url.replace('http', 'ws'))
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, String(v))
    const ws = new WebSocket(url, { headers: opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` } })
    const client = new WsClient(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return client
  }

  send (msg: unknown): void {
    this.ws.send(JSON.stringify(msg))
  }

  /** Next frame after the previous `next` result that satisfies `match`; rejects after `timeoutMs`. */
  async next (match: (f: Frame) => boolean = () => true, timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++]
        if (match(f)) return f
      }
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('timed out waiting for a frame')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  event (name: string, timeoutMs?: number): Promise<Frame> {
    return this.next(f => f.event === name, timeoutMs)
  }

  close (): void {
    this.ws.close()
  }
}
