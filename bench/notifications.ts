/**
 * `npm run bench:notifications` — the notification pipeline against baselines measured in the same run.
 *
 * (a) Accept path: `POST /api/notifications/send` (API in its own process) at 50 connections, beside
 *     a bare loop doing the work it cannot avoid — one `INSERT … RETURNING` into a table of the same
 *     shape plus one BullMQ `add` — at the same concurrency; and beside `GET /healthz`.
 *     Targets: rate ≥ 0.6 × bare; p99 ≤ 1.5 × bare p99 (the 25 ms target, corrected for this machine).
 *     Each side first runs BENCH_WARMUP_SECONDS (default 2) unmeasured, so JIT compilation is not
 *     measured; 0 measures cold processes.
 * (b) End to end: 20,000 notifications for 2,000 known users (half DM-ready) drained by the worker
 *     (its own process) through the simulator, against a bare BullMQ worker making the same single
 *     post call per job at the same concurrency. Target ≥ 0.5.
 * (c) Mattermost calls per delivered notification for known users. Target ≤ 1.05.
 * (d) Worker peak RSS while draining the 20,000 backlog. Target ≤ 250 MB.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { runMigrations } from '../packages/db/src/migrate.js'
import { REDIS_URL, buildDist, cpuMs, freePort, freshDatabase, percentile, report, round, sampleRss, startProcess, startServer, until } from './lib.js'

const CONNECTIONS = 50
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
/** Unmeasured load before each measured phase of (a), the same for every side, so JIT compilation is not measured. */
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2)
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 20_000)
const USERS = 2_000
const CONCURRENCY = 50

buildDist()
const dbUrl = await freshDatabase('parley_bench')
await runMigrations(dbUrl)
// The bare loop gets the API's pool size (DATABASE_POOL_SIZE, default 20): same resources, same concurrency.
const POOL = Number(process.env.DATABASE_POOL_SIZE ?? 20)
const sql = postgres(dbUrl, { max: POOL, onnotice: () => {} })
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
const runId = randomBytes(3).toString('hex')
const prefix = `{bench-${runId}}`

console.log('starting the simulator and the API')
const sim = await startProcess('packages/mattermost-sim/src/main.ts', {}, () => true, ['--port', '0', '--seed-demo', '--config', JSON.stringify({ MaxUsersPerTeam: 100_000 })])
const seed = JSON.parse(sim.firstLine)
const apiPort = await freePort()
const api = `http://127.0.0.1:${apiPort}`
const common = {
  DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, MATTERMOST_URL: seed.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: seed.channelId,
  TOKEN_ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', NODE_ENV: 'production'
}
const adminPassword = randomBytes(12).toString('hex')
const apiProc = await startServer('npm:start:api', { ...common, PORT: String(apiPort), HOST: '127.0.0.1', JWT_SECRET: randomBytes(32).toString('hex'), PARLEY_ADMIN_USERNAME: 'admin', PARLEY_ADMIN_PASSWORD: adminPassword }, `${api}/readyz`)
const login = await (await fetch(`${api}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: adminPassword }) })).json() as { token: string }
const { key } = await (await fetch(`${api}/api/admin/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${login.token}` }, body: JSON.stringify({ name: 'bench', scopes: ['notifications:send'] }) })).json() as { key: string }

// ---------- (a) accept path ----------
console.log(`(a) bare INSERT … RETURNING + BullMQ add loop, ${CONNECTIONS} concurrent, ${SECONDS} s`)
await sql.unsafe('create table bench_bare_notifications (like notifications including all)')
const bareQueue = new Queue('bare-accept', { connection: redis, prefix: `{bench-bare-${runId}}` })
const bareLatencies: number[] = []
const cpu = () => ({ pg: cpuMs('postgres'), redis: cpuMs('redis-server'), bench: cpuMs(process.pid) })
let n = 0
/** The bare loop for `seconds` at CONNECTIONS concurrency; latencies (ms) go to `into` when given. */
async function bareLoop (seconds: number, into?: number[]) {
  const end = Date.now() + seconds * 1000
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < end) {
      const t0 = performance.now()
      const i = n++
      const [row] = await sql`insert into bench_bare_notifications (idempotency_key, action, request_id, user_id, mattermost_username, payload)
        values (${`notification:BORROW:${i}:${runId}`}, 'BORROW', ${String(i)}, ${runId}, 'alice', ${sql.json({ device: { id: 1, name: 'MacBook', assetTag: 'DEV-1' }, startDate: '2026-01-10', endDate: '2026-02-10' })}) returning id`
      await bareQueue.add('deliver', { v: 1, notificationId: row.id }, { jobId: `deliver-${row.id}` })
      into?.push(performance.now() - t0)
    }
  }))
}
/** Each measured side starts from a checkpointed database with no vacuum pending from the other side's rows. */
const settleDatabase = async () => { await sql`vacuum analyze`; await sql`checkpoint` }
await bareLoop(WARMUP)
await settleDatabase()
const cpuBare0 = cpu()
await bareLoop(SECONDS, bareLatencies)
const bareRate = bareLatencies.length / SECONDS
const cpuBare1 = cpu()
await bareQueue.obliterate({ force: true })
await bareQueue.close()

let counter = 0
const body = () => JSON.stringify({
  action: 'BORROW', userId: 1, mattermostUsername: 'alice', requestId: `${runId}-${counter++}`,
  device: { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001', category: 'laptop', brand: 'Apple', model: 'M3' },
  startDate: '2026-01-10', endDate: '2026-02-10'
})
const cannon = (opts: autocannon.Options) => new Promise<autocannon.Result>((resolve, reject) =>
  autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (err, result) => err ? reject(err) : resolve(result)))
console.log(`(a) POST /api/notifications/send, ${CONNECTIONS} connections, ${SECONDS} s`)
const sendOpts: autocannon.Options = {
  url: `${api}/api/notifications/send`,
  requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, setupRequest: (req) => ({ ...req, body: body() }) }]
}
if (WARMUP > 0) await cannon({ ...sendOpts, duration: WARMUP })
await settleDatabase()
const cpuSend0 = { ...cpu(), api: cpuMs(apiProc.pid) }
const send = await cannon(sendOpts)
const cpuSend1 = { ...cpu(), api: cpuMs(apiProc.pid) }
console.log(`(a) GET /healthz, ${CONNECTIONS} connections, ${SECONDS} s`)
if (WARMUP > 0) await cannon({ url: `${api}/healthz`, duration: WARMUP })
const health = await cannon({ url: `${api}/healthz` })
await apiProc.stop()
await new Queue('notifications', { connection: redis, prefix }).obliterate({ force: true })

// ---------- (b)(c)(d) end to end ----------
console.log(`(b) seeding ${USERS} known users (half DM-ready) and a backlog of ${BACKLOG} notifications`)
const mm = (path: string, init: RequestInit = {}) => fetch(`${seed.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${seed.botToken}`, ...init.headers } }).then(async r => { if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`); return r.json() })
const { users } = await mm('/__sim/seed/users', { method: 'POST', body: JSON.stringify({ teamId: seed.teamId, users: Array.from({ length: USERS }, (_, i) => ({ username: `bench${runId}u${i}` })) }) }) as { users: { id: string, username: string }[] }
const recipients: { id: string, username: string, dm?: string }[] = []
for (let i = 0; i < users.length; i += 500) {
  const slice = users.slice(i, i + 500)
  const channelMembers = slice.filter((_, j) => (i + j) % 2 === 1).map(u => u.id)
  await mm(`/api/v4/channels/${seed.channelId}/members`, { method: 'POST', body: JSON.stringify({ user_ids: channelMembers }) })
  for (const [j, u] of slice.entries()) {
    if ((i + j) % 2 === 0) {
      const dm = await mm('/__sim/direct', { method: 'POST', body: JSON.stringify({ userIds: [u.id, seed.botUserId] }) }) as { id: string }
      recipients.push({ ...u, dm: dm.id })
    } else recipients.push(u)
  }
}
await sql`insert into mattermost_recipients ${sql(recipients.map(r => ({ mm_user_id: r.id, username: r.username, dm_ready: !!r.dm, dm_channel_id: r.dm ?? null, member_of_channel_id: r.dm ? null : seed.channelId, welcome_sent_at: r.dm ? new Date() : null })))}`
const ids: string[] = []
for (let i = 0; i < BACKLOG; i += 1000) {
  const rows = Array.from({ length: Math.min(1000, BACKLOG - i) }, (_, j) => {
    const r = recipients[(i + j) % USERS]
    const id = randomUUID()
    ids.push(id)
    return { id, idempotency_key: `notification:RETURN:e2e${i + j}:${runId}`, action: 'RETURN', request_id: `e2e${i + j}`, user_id: runId, mattermost_username: r.username, payload: { device: { id: 1, name: 'MacBook Pro', assetTag: 'DEV-001' }, returnDate: '2026-01-20' } }
  })
  await sql`insert into notifications ${sql(rows as any)}`
}
const notificationsQueue = new Queue('notifications', { connection: redis, prefix })
for (let i = 0; i < ids.length; i += 1000) {
  await notificationsQueue.addBulk(ids.slice(i, i + 1000).map(id => ({ name: 'deliver', data: { v: 1, notificationId: id }, opts: { jobId: `deliver-${id}`, attempts: 10, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { count: 1000 } } })))
}
await mm('/__sim/calls/reset', { method: 'POST', body: '{}' })

console.log(`(b) Parley worker draining ${BACKLOG} (concurrency ${CONCURRENCY})`)
let t0 = 0
const worker = await startProcess('npm:start:worker', { ...common, ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}), LOG_LEVEL: 'info', MATTERMOST_BOT_TOKEN: seed.botToken, WORKER_CONCURRENCY: String(CONCURRENCY) }, (line) => line.includes('worker started'))
t0 = performance.now()
const rss = sampleRss(worker.pid)
await until(async () => { const [r] = await sql`select count(*)::int as n from notifications where status <> 'queued' and user_id = ${runId}`; return r.n >= BACKLOG ? true : undefined }, 600_000, 50)
const parleySeconds = (performance.now() - t0) / 1000
const peakRss = rss.stop()
await worker.stop()
const [outcome] = await sql`select count(*) filter (where status = 'delivered')::int as delivered, count(*) filter (where delivery = 'dm')::int as dm from notifications where user_id = ${runId}`
const calls = await mm('/__sim/calls') as Record<string, number> | { total?: number, byRoute?: Record<string, number> }
console.log('  mattermost calls by route:', JSON.stringify((calls as { routes?: unknown }).routes))
const totalCalls = typeof (calls as { total?: number }).total === 'number' ? (calls as { total: number }).total : Object.values(calls as Record<string, number>).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0)

console.log(`(b) bare BullMQ worker, one post per job (concurrency ${CONCURRENCY})`)
const barePrefix = `{bench-bare-e2e-${runId}}`
const bareE2e = new Queue('bare', { connection: redis, prefix: barePrefix })
for (let i = 0; i < BACKLOG; i += 1000) {
  await bareE2e.addBulk(Array.from({ length: Math.min(1000, BACKLOG - i) }, (_, j) => {
    const r = recipients[(i + j) % USERS]
    return { name: 'post', data: { channel_id: r.dm ?? seed.channelId, message: `@${r.username} Your device return has been confirmed` }, opts: { removeOnComplete: { count: 1000 } } }
  }))
}
const bare = await startProcess('bench/fixtures/bare-worker.mjs', { REDIS_URL, PREFIX: barePrefix, CONCURRENCY: String(CONCURRENCY), MM_URL: seed.url, MM_TOKEN: seed.botToken }, (l) => l === 'ready')
const t1 = performance.now()
const bareRss = sampleRss(bare.pid)
await until(async () => (await bareE2e.getJobCounts('wait', 'active', 'delayed', 'prioritized')) && (await bareE2e.count()) === 0 ? true : undefined, 600_000, 50)
const bareSeconds = (performance.now() - t1) / 1000
const bareWorkerRss = bareRss.stop()
await bare.stop()
await bareE2e.obliterate({ force: true })
await bareE2e.close()
await notificationsQueue.obliterate({ force: true })
await notificationsQueue.close()
await sim.stop()
await redis.quit()
await sql.end()

const sendRate = send.requests.average
const figures = {
  'a.bare_insert_add_rps': round(bareRate, 0),
  'a.bare_p50_ms': round(percentile(bareLatencies, 50), 1),
  'a.bare_p99_ms': round(percentile(bareLatencies, 99), 1),
  'a.send_rps': round(sendRate, 0),
  'a.send_p50_ms': send.latency.p50,
  'a.send_p99_ms': send.latency.p99,
  'a.send_non2xx': send.non2xx,
  'a.healthz_rps': round(health.requests.average, 0),
  'a.send_vs_bare_rate': round(sendRate / bareRate),
  'a.send_vs_bare_p99': round(send.latency.p99 / percentile(bareLatencies, 99)),
  'a.send_vs_healthz_rate': round(sendRate / health.requests.average),
  // CPU per operation (µs) of each process: where the accept path spends what the bare loop does not.
  'a.bare_cpu_us_per_op_postgres': round((cpuBare1.pg - cpuBare0.pg) * 1000 / bareLatencies.length, 0),
  'a.bare_cpu_us_per_op_redis': round((cpuBare1.redis - cpuBare0.redis) * 1000 / bareLatencies.length, 0),
  'a.bare_cpu_us_per_op_loop': round((cpuBare1.bench - cpuBare0.bench) * 1000 / bareLatencies.length, 0),
  'a.send_cpu_us_per_req_postgres': round((cpuSend1.pg - cpuSend0.pg) * 1000 / send.requests.total, 0),
  'a.send_cpu_us_per_req_redis': round((cpuSend1.redis - cpuSend0.redis) * 1000 / send.requests.total, 0),
  'a.send_cpu_us_per_req_api': round((cpuSend1.api - cpuSend0.api) * 1000 / send.requests.total, 0),
  'a.send_cpu_us_per_req_load_generator': round((cpuSend1.bench - cpuSend0.bench) * 1000 / send.requests.total, 0),
  'b.parley_delivered_per_s': round(BACKLOG / parleySeconds, 0),
  'b.bare_posts_per_s': round(BACKLOG / bareSeconds, 0),
  'b.parley_vs_bare': round(bareSeconds / parleySeconds),
  'b.delivered': outcome.delivered,
  'b.delivered_as_dm': outcome.dm,
  'c.mattermost_calls_per_notification': round(totalCalls / BACKLOG, 3),
  'd.worker_peak_rss_mb': peakRss,
  'd.bare_worker_peak_rss_mb': bareWorkerRss
}
const targets = {
  'a.send_vs_bare_rate': '>= 0.6',
  'a.send_vs_bare_p99': '<= 1.5',
  'b.parley_vs_bare': '>= 0.5',
  'b.delivered': `== ${BACKLOG}`,
  'c.mattermost_calls_per_notification': '<= 1.05',
  'd.worker_peak_rss_mb': '<= 250'
}
const pass = figures['a.send_vs_bare_rate'] >= 0.6 && figures['a.send_vs_bare_p99'] <= 1.5 && send.non2xx === 0 &&
  figures['b.parley_vs_bare'] >= 0.5 && outcome.delivered === BACKLOG && figures['c.mattermost_calls_per_notification'] <= 1.05 && peakRss <= 250
report('notifications', figures, targets, pass)
process.exit(0)
