/**
 * `npm run bench:notifications:queue` — the queue transport of `@parley/client` against bare
 * BullMQ `add`, measured in the same run (to be wired into `bench:notifications`).
 *
 * Both sides keep 50 sends in flight against the same Redis for the same time, in alternating
 * rounds (bare, client, bare, client, …) so drift hits both alike:
 * - bare: `Queue.add('send', {v: 1, notificationId, acceptedAt, notification}, {jobId})`, the one
 *   command a producer cannot avoid;
 * - client: `sendBorrowApprovalNotification(input)`: the API's TypeBox validation, the atomic Redis
 *   claim of the idempotency key inside the same `add` (BullMQ deduplication, one script).
 * Every send uses a fresh key, so every one is admitted (checked: one job per send). Target: client
 * rate ≥ 0.8 × bare. Also printed: CPU per send (producer + Redis) relative to bare, the steadier
 * figure on a busy machine. The queue (jobs and claim keys) is emptied between rounds, untimed.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { NOTIFICATIONS_QUEUE, notificationJobOptions, publishNotificationWindow, sendJobId } from '../packages/queue/src/notification-contract.js'
import { createParleyClient } from '../packages/client/src/index.js'
import { REDIS_URL, percentile, report, round } from './lib.js'

const IN_FLIGHT = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5)

const runId = randomBytes(3).toString('hex')
const prefix = `{bench-q-${runId}}`
const admin = new Redis(REDIS_URL)
await publishNotificationWindow(admin, prefix, 60)

const device = { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001', category: 'laptop', brand: 'Apple', model: 'MacBook Pro 16" M3' }
let counter = 0
const input = () => ({ userId: 123, mattermostUsername: 'john.doe', device, requestId: `${runId}-${counter++}`, startDate: '2026-01-10', endDate: '2026-02-10' })

// Same connection options on both sides (the client's own for a URL).
const bareRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
const bareQueue = new Queue(NOTIFICATIONS_QUEUE, { connection: bareRedis, prefix, defaultJobOptions: notificationJobOptions })
const client = createParleyClient({ transport: 'queue', redis: REDIS_URL, prefix })

async function bareSend (): Promise<void> {
  const notificationId = randomUUID()
  await bareQueue.add('send', { v: 1, notificationId, acceptedAt: Date.now(), notification: { ...input(), action: 'BORROW' } }, { jobId: sendJobId(notificationId) })
}
async function clientSend (): Promise<void> {
  const r = await client.sendBorrowApprovalNotification(input())
  if (r.status !== 'queued') throw new Error(`expected queued, got ${r.status}`)
}

const redisCpu = async () => {
  const info = await admin.info('cpu')
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1])
}

/** Keeps IN_FLIGHT sends going for `seconds`; returns completed sends, their latencies (ms) and CPU used (s). */
async function round_ (send: () => Promise<void>, seconds: number): Promise<{ count: number, latencies: number[], elapsed: number, nodeCpu: number, redisCpu: number }> {
  const latencies: number[] = []
  const cpu0 = process.cpuUsage()
  const redis0 = await redisCpu()
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (performance.now() < end) {
      const s = performance.now()
      await send()
      latencies.push(performance.now() - s)
    }
  }))
  const elapsed = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { count: latencies.length, latencies, elapsed, nodeCpu: (cpu.user + cpu.system) / 1e6, redisCpu: await redisCpu() - redis0 }
}

/** Empties the queue between rounds (untimed), so Redis holds one round of jobs at most; @returns how many jobs the round left. */
async function settle (): Promise<number> {
  const jobs = await bareQueue.count()
  await bareQueue.obliterate({ force: true })
  return jobs
}

console.log(`warming up (1 s each), then ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s, ${IN_FLIGHT} sends in flight`)
await round_(bareSend, 1)
await round_(clientSend, 1)
await settle()
let lost = 0
const totals = {
  bare: { count: 0, seconds: 0, latencies: [] as number[][], nodeCpu: 0, redisCpu: 0 },
  client: { count: 0, seconds: 0, latencies: [] as number[][], nodeCpu: 0, redisCpu: 0 }
}
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, send] of [['bare', bareSend], ['client', clientSend]] as const) {
    const r = await round_(send, ROUND_SECONDS)
    lost += r.count - await settle() // every send must have made exactly one job
    totals[name].count += r.count
    totals[name].seconds += r.elapsed
    totals[name].latencies.push(r.latencies)
    totals[name].nodeCpu += r.nodeCpu
    totals[name].redisCpu += r.redisCpu
    console.log(`  round ${i + 1} ${name.padEnd(6)} ${round(r.count / r.elapsed, 0)} sends/s, producer CPU ${round(r.nodeCpu / r.elapsed * 100, 0)} %, Redis CPU ${round(r.redisCpu / r.elapsed * 100, 0)} %`)
  }
}

const bareRate = totals.bare.count / totals.bare.seconds
const clientRate = totals.client.count / totals.client.seconds
await client.close()
await bareQueue.obliterate({ force: true })
await bareQueue.close()
await bareRedis.quit()
await admin.del(`${prefix}:parley:notification-window`)
await admin.quit()

const all = (xs: number[][]) => xs.flat()
const perOp = (cpuSeconds: number, count: number) => round(cpuSeconds * 1e6 / count, 1)
const figures = {
  'bare_add_per_s': round(bareRate, 0),
  'bare_p50_ms': round(percentile(all(totals.bare.latencies), 50), 2),
  'bare_p99_ms': round(percentile(all(totals.bare.latencies), 99), 2),
  'bare_producer_cpu_us_per_send': perOp(totals.bare.nodeCpu, totals.bare.count),
  'bare_redis_cpu_us_per_send': perOp(totals.bare.redisCpu, totals.bare.count),
  'client_queue_send_per_s': round(clientRate, 0),
  'client_p50_ms': round(percentile(all(totals.client.latencies), 50), 2),
  'client_p99_ms': round(percentile(all(totals.client.latencies), 99), 2),
  'client_producer_cpu_us_per_send': perOp(totals.client.nodeCpu, totals.client.count),
  'client_redis_cpu_us_per_send': perOp(totals.client.redisCpu, totals.client.count),
  'client_vs_bare_rate': round(clientRate / bareRate),
  'client_vs_bare_cpu_per_send': round((totals.client.nodeCpu + totals.client.redisCpu) / totals.client.count / ((totals.bare.nodeCpu + totals.bare.redisCpu) / totals.bare.count)),
  'sends_without_a_job': lost
}
const targets = { 'client_vs_bare_rate': '>= 0.8' }
report('notifications-queue', figures, targets, figures.client_vs_bare_rate >= 0.8 && lost === 0)
process.exit(0)
