/**
 * `npm run bench:chat` — live fan-out of the chat server (issue 5).
 *
 * 1,000 WebSocket clients (one separate process, `bench/chat-clients.ts`) sit in one room;
 * 20 messages/s for 30 s are posted through REST (`POST /api/conversations/:id/messages`). Measured:
 * send-to-receive latency p50/p99 (send = just before the POST leaves this process, receive = the
 * client process parsed the `message:created` frame), messages delivered, and the API process's
 * peak RSS (VmHWM). The same clients and load against a bare `ws` server that broadcasts each POST
 * (`bench/chat-bare.ts`) give the baseline in the same run.
 *
 * Targets: every message delivered to every socket; p99 ≤ 1.5 × the bare server's p99;
 * API peak RSS ≤ 200 MB. Env: CLIENTS (1000), RATE (20/s), SECONDS (30).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomUUID } from 'node:crypto'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { createDb, conversationMembers, conversations, runMigrations, users } from '@parley/db'
import { REDIS_URL, freePort, freshDatabase, report, root, round, sampleRss, startServer } from './lib.js'

const CLIENTS = Number(process.env.CLIENTS ?? 1000)
const RATE = Number(process.env.RATE ?? 20)
const SECONDS = Number(process.env.SECONDS ?? 30)
const TOTAL = RATE * SECONDS
const WARMUP = RATE * 2
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123'

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
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/chat-clients.ts')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
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

/** Posts TOTAL messages at RATE/s on schedule (not waiting for answers); resolves when all answered. */
async function sendLoad (post: (content: string) => Promise<Response>): Promise<{ failed: number, answerP50: number }> {
  const start = performance.now()
  let failed = 0
  const answerMs: number[] = []
  const inflight: Promise<void>[] = []
  for (let seq = 0; seq < TOTAL; seq++) {
    const due = start + seq * (1000 / RATE)
    const wait = due - performance.now()
    if (wait > 0) await new Promise(r => setTimeout(r, wait))
    const content = `b:${seq}:${process.hrtime.bigint()}`
    const sentAt = performance.now()
    inflight.push(post(content).then(async (res) => { if (!res.ok) failed++; await res.arrayBuffer(); answerMs.push(performance.now() - sentAt) }, () => { failed++ }))
  }
  await Promise.all(inflight)
  answerMs.sort((a, b) => a - b)
  return { failed, answerP50: answerMs[Math.floor(answerMs.length / 2)] }
}

async function phase (clients: Awaited<ReturnType<typeof startClients>>, wsUrl: string, tokens: string[], waitReady: boolean, post: (content: string) => Promise<Response>) {
  const { ms } = await clients.ask({ cmd: 'connect', url: wsUrl, tokens, waitReady })
  await clients.ask({ cmd: 'quiet', ms: 1500 })
  // Warm-up (not measured): JIT, connection pools, keep-alive sockets.
  for (let i = 0; i < WARMUP; i++) {
    await post(`w:${i}`).then(r => r.arrayBuffer())
    await new Promise(r => setTimeout(r, 1000 / RATE))
  }
  await clients.ask({ cmd: 'quiet', ms: 500 })
  await clients.ask({ cmd: 'measure', total: TOTAL })
  const { failed, answerP50 } = await sendLoad(post)
  await clients.ask({ cmd: 'drain', expected: TOTAL * tokens.length, ms: 5_000 })
  const result = await clients.ask({ cmd: 'finish' })
  return { ...result, connectMs: ms, failed, answerP50 }
}

async function main () {
  console.log(`bench:chat — ${CLIENTS} sockets in one room, ${RATE} messages/s for ${SECONDS} s through REST`)
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
  const clients = await startClients()

  // Baseline: the bare ws broadcast server.
  const barePort = await freePort()
  const bare = await startServer('bench/chat-bare.ts', { PORT: String(barePort) }, `http://127.0.0.1:${barePort}/healthz`)
  const baseline = await phase(clients, `ws://127.0.0.1:${barePort}/ws`, tokens, false, (content) =>
    fetch(`http://127.0.0.1:${barePort}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) }))
  const bareRss = peakRssMb(bare.pid)
  await bare.stop()
  console.log(`  bare ws: delivered ${baseline.delivered}/${TOTAL * CLIENTS}, p50 ${round(baseline.p50)} ms, p99 ${round(baseline.p99)} ms`)

  // Parley API, one replica, its own process.
  const apiPort = await freePort()
  const api = await startServer('apps/api/src/server.ts', {
    NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(apiPort), DATABASE_URL: databaseUrl, REDIS_URL,
    ...(process.env.API_NODE_OPTIONS ? { NODE_OPTIONS: process.env.API_NODE_OPTIONS } : {}), JWT_SECRET, QUEUE_PREFIX: `{pbench-${randomUUID().slice(0, 8)}}`, DATABASE_POOL_SIZE: '10'
  }, `http://127.0.0.1:${apiPort}/healthz`)
  const startupRss = peakRssMb(api.pid)
  const rss = sampleRss(api.pid, 50)
  const senderAuth = `Bearer ${jwt(sender.id)}`
  const parley = await phase(clients, `ws://127.0.0.1:${apiPort}/ws`, tokens, true, (content) =>
    fetch(`http://127.0.0.1:${apiPort}/api/conversations/${room.id}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: senderAuth }, body: JSON.stringify({ content }) }))
  const runRss = rss.stop()
  const apiRss = peakRssMb(api.pid)
  await api.stop()
  clients.stop()

  const expected = TOTAL * CLIENTS
  const ratio = parley.p99 / baseline.p99
  const pass = parley.complete && parley.failed === 0 && ratio <= 1.5 && apiRss <= 200
  report('chat', {
    clients: CLIENTS,
    messages: TOTAL,
    expected_deliveries: expected,
    api_delivered: parley.delivered,
    api_all_delivered: String(parley.complete),
    api_send_failures: parley.failed,
    api_p50_ms: round(parley.p50),
    api_p99_ms: round(parley.p99),
    api_max_ms: round(parley.max),
    api_peak_rss_mb: apiRss,
    api_startup_peak_rss_mb: startupRss,
    api_peak_rss_during_run_mb: runRss,
    api_connect_all_ms: parley.connectMs,
    api_post_answer_p50_ms: round(parley.answerP50),
    bare_post_answer_p50_ms: round(baseline.answerP50),
    bare_delivered: baseline.delivered,
    bare_p50_ms: round(baseline.p50),
    bare_p99_ms: round(baseline.p99),
    bare_max_ms: round(baseline.max),
    bare_peak_rss_mb: bareRss,
    clients_process_cores_api_run: round(parley.clientCpu),
    clients_process_cores_bare_run: round(baseline.clientCpu),
    p99_ratio_api_to_bare: round(ratio)
  }, { api_all_delivered: 'true', p99_ratio_api_to_bare: '<= 1.5', api_peak_rss_mb: '<= 200' }, pass)
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
