/**
 * The WebSocket clients of `bench/chat.ts`, in their own process (so their CPU is not the
 * server's). Driven over IPC by the parent:
 * - `{cmd: "connect", url, tokens, waitReady}` → opens one socket per token (50 at a time), waits
 *   for `ready` (the Parley API) or `open` (the bare server), answers `{connected, ms}`;
 * - `{cmd: "quiet", ms}` → answers once no frame arrived for `ms` (presence fan-out has settled);
 * - `{cmd: "measure", total}` → counts `message:created` events whose content is `b:<seq>:<sentNs>`;
 * - `{cmd: "finish"}` → answers `{delivered, complete, p50, p99, max}` (ms), `clientCpu` (cores used
 *   while measuring) and closes the sockets.
 * Latency = receive time here − send time in the parent (both `process.hrtime`, the machine's
 * monotonic clock, shared by processes).
 */
import { WebSocket } from 'ws'

let sockets: WebSocket[] = []
let lastFrameAt = Date.now()
let measuring = false
let counts = new Uint32Array(0)
let latencies: number[] = []
let delivered = 0
let cpuAtStart = process.cpuUsage()
let wallAtStart = Date.now()

const reply = (msg: object) => process.send!(msg)

const TYPE = Buffer.from('"type":"message:created"')
const MARK = Buffer.from('"content":"b:')
const COLON = 0x3a
const QUOTE = 0x22

/**
 * Reads `b:<seq>:<sentNs>` straight from the frame's bytes: 20,000 frames/s must not make this
 * process the bottleneck (JSON.parse of every frame did, on 2 cores shared with the server).
 */
function onFrame (data: Buffer) {
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
  if (seq < counts.length) counts[seq]++
  delivered++
  latencies.push(Number(now - BigInt(data.toString('latin1', colon + 1, end))) / 1e6)
}

async function connect (url: string, tokens: string[], waitReady: boolean) {
  const started = Date.now()
  let next = 0
  async function one (token: string) {
    const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false, skipUTF8Validation: true })
    ws.on('message', onFrame)
    ws.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      if (waitReady) ws.on('message', function first (d: Buffer) { if (d.toString().startsWith('{"type":"ready"')) { ws.off('message', first); resolve() } })
      else ws.once('open', () => resolve())
      ws.once('close', (code) => reject(new Error(`socket closed with ${code} while connecting`)))
    })
    sockets.push(ws)
  }
  await Promise.all(Array.from({ length: 50 }, async () => { while (next < tokens.length) await one(tokens[next++]) }))
  return Date.now() - started
}

const pct = (sorted: number[], p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] : NaN

process.on('message', async (msg: any) => {
  try {
    if (msg.cmd === 'connect') {
      const ms = await connect(msg.url, msg.tokens, msg.waitReady)
      reply({ connected: sockets.length, ms })
    } else if (msg.cmd === 'quiet') {
      while (Date.now() - lastFrameAt < msg.ms) await new Promise(r => setTimeout(r, 100))
      reply({ quiet: true })
    } else if (msg.cmd === 'measure') {
      counts = new Uint32Array(msg.total)
      latencies = []
      delivered = 0
      measuring = true
      cpuAtStart = process.cpuUsage()
      wallAtStart = Date.now()
      reply({ measuring: true })
    } else if (msg.cmd === 'drain') {
      // Waits until every message reached every socket, or `ms` passed without progress.
      let last = -1
      let still = Date.now()
      while (delivered < msg.expected && Date.now() - still < msg.ms) {
        if (delivered !== last) { last = delivered; still = Date.now() }
        await new Promise(r => setTimeout(r, 50))
      }
      reply({ delivered })
    } else if (msg.cmd === 'finish') {
      measuring = false
      const sorted = latencies.sort((a, b) => a - b)
      const complete = counts.every(c => c === sockets.length)
      const cpu = process.cpuUsage(cpuAtStart)
      const clientCpu = (cpu.user + cpu.system) / 1000 / (Date.now() - wallAtStart)
      reply({ delivered, complete, p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted.at(-1) ?? NaN, clientCpu })
      for (const s of sockets) s.terminate()
      sockets = []
    } else if (msg.cmd === 'exit') {
      process.exit(0)
    }
  } catch (err) {
    reply({ error: (err as Error).message })
  }
})
reply({ started: true })
