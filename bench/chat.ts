/**
 * `npm run bench:chat` — live fan-out of the chat server (issue 5).
 *
 * 1,000 WebSocket clients (one separate process, `bench/chat-clients.ts`) sit in one room of the
 * Parley API (its own process, run as `npm run start:api` runs it), and 1,000 more on a bare `ws` server
 * that broadcasts each POST (`bench/chat-bare.ts`, the baseline). 20 messages/s are posted for
 * 30 s to each through HTTP (`POST /api/conversations/:id/messages` for Parley), alternating
 * between the two every 5 s so that noise on this shared machine hits both alike.
 *
 * Measured per target: send-to-receive latency p50/p99 (send = just before the POST leaves this
 * process; receive = the client process read the `message:created` frame), frames delivered, and
 * the API process's peak RSS (VmHWM, start-up included; and the highest RSS sampled while serving).
 *
 * Targets: every message delivered to every socket; API p99 ≤ 1.5 × bare p99; API peak RSS ≤ 200 MB.
 * Env: CLIENTS (1000), RATE (20/s), SECONDS (30 per target), DATABASE_URL, REDIS_URL, API_NODE_OPTIONS
 * (NODE_OPTIONS for the API process only, e.g. `--max-semi-space-size=4`; unset by default).
 */
import { spawn } from 'node:child_process'
import { createHmac, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { createDb, conversationMembers, conversations, runMigrations, users } from '@parley/db'
import { REDIS_URL, buildDist, freePort, freshDatabase, report, root, round, sampleRss, startServer } from './lib.js'

const CLIENTS = Number(process.env.CLIENTS ?? 1000)
const RATE = Number(process.env.RATE ?? 20)
const SECONDS = Number(process.env.SECONDS ?? 30)
const SLICE_SECONDS = 1
const TOTAL = RATE * SECONDS
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123'

/** A session JWT as the API signs it (HS256, `{sub, sv}`). */
function jwt (sub: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, sv: 1, iat: now, exp: now + 3600 })}`
  return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`
}

const peakRssMb = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? round(Number(m[1]) / 1024, 1) : NaN
}

/** The clients process and a request/answer helper over IPC. */
async function startClients () {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/chat-clients.ts')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  process.on('exit', () => child.kill('SIGKILL'))
  const answers: any[] = []
  const waiting: ((m: any) => void)[] = []
  child.on('message', (m) => { const w = waiting.shift(); if (w) w(m); else answers.push(m) })
  const nextAnswer = () => new Promise<any>(resolve => { const a = answers.shift(); if (a) resolve(a); else waiting.push(resolve) })
  await nextAnswer() // started
  const ask = async (msg: object) => {
    child.send(msg)
    const a = await nextAnswer()
    if (a.error) throw new Error(`clients: ${a.error}`)
    return a
  }
  return { ask, stop: () => child.kill('SIGTERM') }
}

type Post = (content: string) => Promise<Response>

/** Posts `count` messages numbered from `firstSeq` at RATE/s on schedule, not waiting for answers. */
async function sendSlice (post: Post, firstSeq: number, count: number, inflight: Promise<void>[], stats: { failed: number, answerMs: number[] }) {
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const due = start + i * (1000 / RATE)
    const wait = due - performance.now()
    if (wait > 0) await new Promise(r => setTimeout(r, wait))
    const sentAt = performance.now()
    const content = `b:${firstSeq + i}:${process.hrtime.bigint()}`
    inflight.push(post(content).then(async (res) => {
      if (!res.ok) stats.failed++
      await res.arrayBuffer()
      stats.answerMs.push(performance.now() - sentAt)
    }, () => { stats.failed++ }))
  }
}

async function main () {
  console.log(`bench:chat — ${CLIENTS} sockets per server in one room, ${RATE} messages/s for ${SECONDS} s per server through HTTP, alternating every ${SLICE_SECONDS} s`)
  const databaseUrl = await freshDatabase('parley_bench_chat')
  await runMigrations(databaseUrl)
  const { db, close } = createDb(databaseUrl, { max: 2 })
  const members = await db.insert(users).values(Array.from({ length: CLIENTS + 1 }, (_, i) => ({ username: `bench${i}`, displayName: `Bench ${i}` }))).returning({ id: users.id })
  const [room] = await db.insert(conversations).values({ kind: 'room', title: 'Bench room', isPublic: true }).returning()
  for (let i = 0; i < members.length; i += 500) {
    await db.insert(conversationMembers).values(members.slice(i, i + 500).map(m => ({ conversationId: room.id, userId: m.id })))
  }
  await close()
  const [sender, ...listeners] = members
  const tokens = listeners.map(m => jwt(m.id))

  const [barePort, apiPort] = [await freePort(), await freePort()]
  const bare = await startServer('bench/chat-bare.ts', { PORT: String(barePort) }, `http://127.0.0.1:${barePort}/healthz`)
  buildDist() // the API runs as in production: the esbuild bundle, with start:api's node flags
  const api = await startServer('npm:start:api', {
    NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(apiPort), DATABASE_URL: databaseUrl, REDIS_URL,
    JWT_SECRET, QUEUE_PREFIX: `{pbench-${randomUUID().slice(0, 8)}}`, DATABASE_POOL_SIZE: '10',
    ...(process.env.API_NODE_OPTIONS ? { NODE_OPTIONS: process.env.API_NODE_OPTIONS } : {})
  }, `http://127.0.0.1:${apiPort}/healthz`)
  const startupRss = peakRssMb(api.pid)
  const serving = sampleRss(api.pid, 50)
  const senderAuth = `Bearer ${jwt(sender.id)}`
  const posts: Record<'bare' | 'api', Post> = {
    bare: (content) => fetch(`http://127.0.0.1:${barePort}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) }),
    api: (content) => fetch(`http://127.0.0.1:${apiPort}/api/conversations/${room.id}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: senderAuth }, body: JSON.stringify({ content }) })
  }

  const clients = await startClients()
  const bareConnect = await clients.ask({ cmd: 'connect', target: 'bare', url: `ws://127.0.0.1:${barePort}/ws`, tokens, waitReady: false })
  const apiConnect = await clients.ask({ cmd: 'connect', target: 'api', url: `ws://127.0.0.1:${apiPort}/ws`, tokens, waitReady: true })
  console.log(`  connected ${CLIENTS} sockets to the bare server in ${bareConnect.ms} ms, to the API (each gets ready) in ${apiConnect.ms} ms`)
  await clients.ask({ cmd: 'quiet', ms: 1500 })
  // Warm-up (not measured): JIT, pools, keep-alive connections.
  for (let i = 0; i < RATE * 2; i++) {
    await Promise.all([posts.bare(`w:${i}`).then(r => r.arrayBuffer()), posts.api(`w:${i}`).then(r => r.arrayBuffer())])
    await new Promise(r => setTimeout(r, 1000 / RATE))
  }
  await clients.ask({ cmd: 'quiet', ms: 500 })

  await clients.ask({ cmd: 'measure', ranges: { bare: [0, TOTAL], api: [TOTAL, 2 * TOTAL] } })
  const inflight: Promise<void>[] = []
  const stats = { bare: { failed: 0, answerMs: [] as number[] }, api: { failed: 0, answerMs: [] as number[] } }
  const perSlice = RATE * SLICE_SECONDS
  for (let slice = 0; slice * perSlice < TOTAL; slice++) {
    const count = Math.min(perSlice, TOTAL - slice * perSlice)
    await sendSlice(posts.bare, slice * perSlice, count, inflight, stats.bare)
    await sendSlice(posts.api, TOTAL + slice * perSlice, count, inflight, stats.api)
  }
  await Promise.all(inflight)
  await clients.ask({ cmd: 'drain', expected: 2 * TOTAL * CLIENTS, ms: 5_000 })
  const result = await clients.ask({ cmd: 'finish' })
  const servingRss = serving.stop()
  const apiRss = peakRssMb(api.pid)
  const bareRss = peakRssMb(bare.pid)
  clients.stop()
  await Promise.all([api.stop(), bare.stop()])

  const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN
  const { api: p, bare: b } = result
  const ratio = p.p99 / b.p99
  const pass = p.complete && stats.api.failed === 0 && ratio <= 1.5 && apiRss <= 200
  report('chat', {
    clients: CLIENTS,
    messages_per_server: TOTAL,
    expected_deliveries_per_server: TOTAL * CLIENTS,
    api_delivered: p.delivered,
    api_all_delivered: String(p.complete),
    api_send_failures: stats.api.failed,
    api_p50_ms: round(p.p50),
    api_p99_ms: round(p.p99),
    api_max_ms: round(p.max),
    api_post_answer_p50_ms: round(median(stats.api.answerMs)),
    api_peak_rss_mb: apiRss,
    api_rss_after_startup_mb: startupRss,
    api_peak_rss_while_serving_mb: servingRss,
    api_connect_all_ms: apiConnect.ms,
    bare_delivered: b.delivered,
    bare_all_delivered: String(b.complete),
    bare_p50_ms: round(b.p50),
    bare_p99_ms: round(b.p99),
    bare_max_ms: round(b.max),
    bare_post_answer_p50_ms: round(median(stats.bare.answerMs)),
    bare_peak_rss_mb: bareRss,
    clients_process_cores: round(result.clientCpu),
    p99_ratio_api_to_bare: round(ratio)
  }, { api_all_delivered: 'true', p99_ratio_api_to_bare: '<= 1.5', api_peak_rss_mb: '<= 200' }, pass)
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
