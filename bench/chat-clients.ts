/**
 * The WebSocket clients of `bench/chat.ts`, in their own process (so their CPU is not the
 * servers'). Driven over IPC by the parent:
 * - `{cmd: "connect", target, url, tokens, waitReady}` → opens one socket per token to `url`
 *   (50 at a time) as group `target`, waits for `ready` (the Parley API) or `open` (the bare
 *   server), answers `{connected, ms}`;
 * - `{cmd: "quiet", ms}` → answers once no frame arrived for `ms`;
 * - `{cmd: "measure", ranges}` → from now on counts `message:created` frames whose content is
 *   `b:<seq>:<sentNs>`; `ranges` maps each target to its `[firstSeq, endSeq)`;
 * - `{cmd: "drain", expected, ms}` → answers once `expected` frames were counted or none came for `ms`;
 * - `{cmd: "finish"}` → answers per target `{delivered, complete, p50, p99, max}` (ms) and
 *   `clientCpu` (cores this process used while measuring), then closes every socket.
 * Latency = receive time here − send time in the parent (`process.hrtime`: the machine's monotonic
 * clock, shared by processes). With CHAT_BENCH_DUMP=<file>, the worst latency of each message
 * number is written there as a JSON array (to see whether slow messages cluster in time).
 */
import { WebSocket } from 'ws'

interface Group { sockets: WebSocket[], from: number, to: number, latencies: number[], delivered: number }
const groups = new Map<string, Group>()
let lastFrameAt = Date.now()
let measuring = false
let counts = new Uint32Array(0)
let delivered = 0
let cpuAtStart = process.cpuUsage()
let wallAtStart = Date.now()

const reply = (msg: object) => process.send!(msg)
const TYPE = Buffer.from('"type":"message:created"')
const MARK = Buffer.from('"content":"b:')
const COLON = 0x3a
const QUOTE = 0x22

/**
 * Reads `b:<seq>:<sentNs>` straight from the frame's bytes: tens of thousands of frames per second
 * must not make this process the bottleneck.
 */
function onFrame (group: Group, data: Buffer) {
  lastFrameAt = Date.now()
  if (!measuring) return
  const now = process.hrtime.bigint()
  if (data.length < TYPE.length + 1 || TYPE.compare(data, 1, TYPE.length + 1) !== 0) return
  const i = data.indexOf(MARK)
  if (i < 0) return
  const start = i + MARK.length
  const colon = data.indexOf(COLON, start)
  const end = data.indexOf(QUOTE, colon)
  const seq = Number(data.toString('latin1', start, colon))
  if (seq < group.from || seq >= group.to) return
  counts[seq]++
  delivered++
  group.delivered++
  const ms = Number(now - BigInt(data.toString('latin1', colon + 1, end))) / 1e6
  group.latencies.push(ms)
  if (ms > (maxBySeq[seq] ?? 0)) maxBySeq[seq] = ms
}
const maxBySeq: number[] = []

async function connect (target: string, url: string, tokens: string[], waitReady: boolean) {
  const group: Group = { sockets: [], from: 0, to: 0, latencies: [], delivered: 0 }
  groups.set(target, group)
  const started = Date.now()
  let next = 0
  async function one (token: string) {
    const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false, skipUTF8Validation: true })
    ws.on('message', (data: Buffer) => onFrame(group, data))
    ws.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      if (waitReady) ws.on('message', function first (d: Buffer) { if (d.toString('latin1', 0, 15) === '{"type":"ready"') { ws.off('message', first); resolve() } })
      else ws.once('open', () => resolve())
      ws.once('close', (code) => reject(new Error(`socket closed with ${code} while connecting`)))
    })
    group.sockets.push(ws)
  }
  await Promise.all(Array.from({ length: 50 }, async () => { while (next < tokens.length) await one(tokens[next++]) }))
  return Date.now() - started
}

const pct = (sorted: number[], p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] : NaN

process.on('message', async (msg: any) => {
  try {
    if (msg.cmd === 'connect') {
      const ms = await connect(msg.target, msg.url, msg.tokens, msg.waitReady)
      reply({ connected: groups.get(msg.target)!.sockets.length, ms })
    } else if (msg.cmd === 'quiet') {
      while (Date.now() - lastFrameAt < msg.ms) await new Promise(r => setTimeout(r, 100))
      reply({ quiet: true })
    } else if (msg.cmd === 'measure') {
      let size = 0
      for (const [target, [from, to]] of Object.entries(msg.ranges as Record<string, [number, number]>)) {
        const g = groups.get(target)!
        Object.assign(g, { from, to, latencies: [], delivered: 0 })
        size = Math.max(size, to)
      }
      counts = new Uint32Array(size)
      delivered = 0
      measuring = true
      cpuAtStart = process.cpuUsage()
      wallAtStart = Date.now()
      reply({ measuring: true })
    } else if (msg.cmd === 'drain') {
      let last = -1
      let still = Date.now()
      while (delivered < msg.expected && Date.now() - still < msg.ms) {
        if (delivered !== last) { last = delivered; still = Date.now() }
        await new Promise(r => setTimeout(r, 50))
      }
      reply({ delivered })
    } else if (msg.cmd === 'finish') {
      measuring = false
      const cpu = process.cpuUsage(cpuAtStart)
      const result: Record<string, unknown> = { clientCpu: (cpu.user + cpu.system) / 1000 / (Date.now() - wallAtStart) }
      for (const [target, g] of groups) {
        const sorted = g.latencies.sort((a, b) => a - b)
        let complete = g.to > g.from
        for (let seq = g.from; seq < g.to; seq++) if (counts[seq] !== g.sockets.length) complete = false
        result[target] = { delivered: g.delivered, complete, p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted.at(-1) ?? NaN }
        for (const s of g.sockets) s.terminate()
      }
      groups.clear()
      if (process.env.CHAT_BENCH_DUMP) (await import('node:fs')).writeFileSync(process.env.CHAT_BENCH_DUMP, JSON.stringify(maxBySeq))
      reply(result)
    }
  } catch (err) {
    reply({ error: (err as Error).message })
  }
})
reply({ started: true })
