/**
 * `@parley/client` end to end: producer processes (not the API) send through the queue and the
 * HTTP transport to a real API (listening on a port) and a real worker delivering to the
 * Mattermost simulator, on real Postgres and Redis.
 */
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { QueueEvents, type Job } from 'bullmq'
import { NOTIFICATIONS_QUEUE, notificationClaimKey, workerConnection } from '@parley/queue'
import { pipeline, until } from '../../../apps/worker/test/harness.js'
import { createParleyClient, type ParleyClientOptions } from '../src/index.js'
import { borrowInput, startProducer, type Fn } from './helpers.js'

async function setup (t: Test, env: Record<string, string> = {}) {
  // One job at a time, so a refused job visibly does not hold up the next one.
  const p = await pipeline(t, { worker: { listener: false, env: { WORKER_CONCURRENCY: '1', ...env } }, apiEnv: env })
  await p.api.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = p.api.app.server.address() as AddressInfo
  const prefix = p.api.config.QUEUE_PREFIX
  const queueOpts: ParleyClientOptions = { transport: 'queue', redis: p.api.config.REDIS_URL, prefix }
  const httpOpts: ParleyClientOptions = { transport: 'http', baseUrl: `http://127.0.0.1:${port}`, apiKey: p.key.key }
  const queue = p.api.queues.notifications
  // The API reads this queue's events only while it waits for an initialize job; the tests read them
  // all (from the stream's start, so no outcome reached before the first read is missed).
  const eventsConnection = workerConnection(p.api.config.REDIS_URL)
  const events = new QueueEvents(NOTIFICATIONS_QUEUE, { connection: eventsConnection, prefix, lastEventId: '0-0' })
  t.teardown(async () => { await events.close(); await eventsConnection.quit().catch(() => {}) })
  /** Resolves with the job's result once it completed; rejects with its failedReason. */
  const finished = async (jobId: string) => {
    const job = await until(() => queue.getJob(jobId))
    return job.waitUntilFinished(events, 15_000)
  }
  const postsFor = (id: string) => p.mm.sim.getPosts(p.mm.channelId).filter(x => x.props?.parley_notification_id === id)
  /** The ledger row once it exists and left `queued` (a queue send has no row until the worker records it). */
  const settled = (id: string) => until(async () => {
    const res = await p.api.app.inject({ method: 'GET', url: `/api/notifications/${id}`, headers: p.key.headers })
    return res.statusCode === 200 && res.json().status !== 'queued' ? res.json() : undefined
  }, 15_000)
  /** Keys of every `send` job this file's queue holds (kept after completion by the retention settings). */
  const sendJobKeys = async () => (await p.api.redis.keys(`${prefix}:notifications:send-*`)).length
  return { ...p, prefix, queueOpts, httpOpts, queue, events, finished, postsFor, settled, sendJobKeys }
}

/** `setup` plus producer processes (not the API) for each transport, started in parallel. */
async function withProducers (t: Test) {
  const p = await setup(t)
  // An HTTP producer whose API is a port where nothing listens: any request would fail as a network error.
  const unreachable: ParleyClientOptions = { transport: 'http', baseUrl: 'http://127.0.0.1:9', apiKey: 'prl_unused', maxRetries: 0 }
  const [queueProducer, httpProducer, offlineProducer] = await Promise.all([startProducer(t, p.queueOpts), startProducer(t, p.httpOpts), startProducer(t, unreachable)])
  return { ...p, queueProducer, httpProducer, offlineProducer }
}

t.test('producers on both transports share one key, one window and one ledger', async (t) => {
  const p = await withProducers(t)
  const alice = p.mm.user()

  t.test('queue transport: queued, recorded by the worker, delivered; a repeat is a duplicate on both paths', async (t) => {
    const input = borrowInput(alice.username)
    const first = await p.queueProducer.send('sendBorrowApprovalNotification', input)
    const again = await p.queueProducer.send('sendBorrowApprovalNotification', input)
    t.match(first.ok, { status: 'queued', idempotencyKey: `notification:BORROW:${input.requestId}:${input.userId}`, notificationId: /^[0-9a-f-]{36}$/ })
    t.same(again.ok, { ...first.ok!, status: 'duplicate' }, 'the same key again through the queue')
    const id = first.ok!.notificationId
    const n = await p.settled(id)
    t.match(n, { id, status: 'delivered', delivery: 'channel', source: 'queue', mattermostUsername: alice.username, attempts: 1 })
    const [post] = p.postsFor(id)
    t.match(post?.message, new RegExp(`^@${alice.username} Your device borrowing request has been approved`))
    const viaHttp = await p.httpProducer.send('sendBorrowApprovalNotification', input)
    t.same(viaHttp.ok, { ...first.ok!, status: 'duplicate' }, 'a queue send then an HTTP send of the same key is a duplicate')
    t.equal(p.postsFor(id).length, 1, 'one post')
  })

  t.test('HTTP transport: queued and delivered; the same key through the queue is a duplicate', async (t) => {
    const input = { ...borrowInput(alice.username, { startDate: undefined, endDate: undefined }), returnDate: '2026-01-20' }
    const first = await p.httpProducer.send('sendReturnConfirmationNotification', input)
    const again = await p.httpProducer.send('sendNotification', { ...input, action: 'RETURN' })
    t.match(first.ok, { status: 'queued', idempotencyKey: `notification:RETURN:${input.requestId}:${input.userId}` })
    t.same(again.ok, { ...first.ok!, status: 'duplicate' })
    const viaQueue = await p.queueProducer.send('sendReturnConfirmationNotification', input)
    t.same(viaQueue.ok, { ...first.ok!, status: 'duplicate' }, 'an HTTP send then a queue send of the same key is a duplicate')
    t.match(await p.settled(first.ok!.notificationId), { status: 'delivered', source: 'http' })
    t.match(p.postsFor(first.ok!.notificationId)[0]?.message, /Your device return has been confirmed/)
  })

  t.test('a queue send the worker has not recorded yet is already a duplicate for HTTP', async (t) => {
    const [worker] = p.worker.workers
    await worker.pause()
    const input = { ...borrowInput(alice.username, { startDate: undefined, endDate: undefined }), previousEndDate: '2026-02-10', newEndDate: '2026-03-10' }
    const queued = await p.queueProducer.send('sendRenewalApprovalNotification', input)
    const id = queued.ok!.notificationId
    t.equal((await p.api.app.inject({ method: 'GET', url: `/api/notifications/${id}`, headers: p.key.headers })).statusCode, 404, 'not in the ledger yet')
    const http = await p.send({ ...input, action: 'RENEWAL' })
    t.equal(http.statusCode, 200)
    t.same(http.json(), { notificationId: id, status: 'duplicate', idempotencyKey: queued.ok!.idempotencyKey })
    worker.resume()
    t.match(await p.settled(id), { status: 'delivered', source: 'queue' })
    t.equal(p.postsFor(id).length, 1)
  })

  t.test('bad input is refused in the producer, naming the field, before anything is sent', async (t) => {
    const base = borrowInput(alice.username)
    const bad: { fn: Fn, input: unknown, field: string, message: RegExp }[] = [
      { fn: 'sendBorrowApprovalNotification', input: { ...base, endDate: undefined }, field: 'endDate', message: /body\/endDate is required for action BORROW/ },
      { fn: 'sendBorrowApprovalNotification', input: { ...base, device: { id: 1, assetTag: 'A' } }, field: 'device/name', message: /body\/device\/name is required/ },
      { fn: 'sendBorrowApprovalNotification', input: { ...base, device: { ...base.device, color: 'red' } }, field: 'device/color', message: /body\/device\/color is not allowed/ },
      { fn: 'sendBorrowApprovalNotification', input: { ...base, endDate: '2026-02-30' }, field: 'endDate', message: /body\/endDate must match format "date"/ },
      { fn: 'sendReturnConfirmationNotification', input: { ...base, returnDate: '2026-01-20' }, field: 'startDate', message: /body\/startDate is not allowed for action RETURN/ },
      { fn: 'sendNotification', input: { ...base, action: 'LEND' }, field: 'action', message: /body\/action must be one of "BORROW", "RETURN", "RENEWAL"/ },
      { fn: 'sendNotification', input: { ...base, action: 'BORROW', mattermostUsername: 'john doe' }, field: 'mattermostUsername', message: /body\/mattermostUsername/ },
      { fn: 'sendRenewalApprovalNotification', input: { ...base, action: 'BORROW' }, field: 'action', message: /body\/action must be RENEWAL here/ }
    ]
    const before = await p.sendJobKeys()
    for (const [name, producer] of [['queue', p.queueProducer], ['http', p.offlineProducer]] as const) {
      for (const { fn, input, field, message } of bad) {
        t.match((await producer.send(fn, input)).error, { name: 'ParleyValidationError', field, message }, `${name}: ${field}`)
      }
    }
    t.equal(await p.sendJobKeys(), before, 'nothing was enqueued')
    for (const action of ['BORROW', 'RETURN', 'RENEWAL', 'LEND']) {
      t.equal(await p.api.redis.exists(notificationClaimKey(p.prefix, `notification:${action}:${base.requestId}:${base.userId}`)), 0, `no ${action} key was claimed`)
    }
  })

  t.test('when Redis lost the key, the ledger still refuses a duplicate inside the window', async (t) => {
    const input = borrowInput(alice.username)
    const key = `notification:BORROW:${input.requestId}:${input.userId}`
    const client = createParleyClient(p.queueOpts)
    t.teardown(() => client.close())
    const first = await client.sendBorrowApprovalNotification(input)
    await p.settled(first.notificationId)
    await p.api.redis.del(notificationClaimKey(p.prefix, key)) // as after a Redis restart without persistence
    const second = await client.sendBorrowApprovalNotification(input)
    t.equal(second.status, 'queued', 'the producer alone cannot tell')
    t.same(await p.finished(`send-${second.notificationId}`), { skipped: 'duplicate', duplicateOf: first.notificationId }, 'the worker finds it in the ledger')
    t.equal(await p.api.redis.get(notificationClaimKey(p.prefix, key)), `deliver-${first.notificationId}`, 'the claim names the admitted notification again')
    t.same(await client.sendBorrowApprovalNotification(input), { ...first, status: 'duplicate' })
    await p.api.redis.del(notificationClaimKey(p.prefix, key))
    const http = await p.send({ ...input, action: 'BORROW' })
    t.same(http.json(), { ...first, status: 'duplicate' }, 'the HTTP path asks the ledger too')
    t.equal(await p.api.redis.get(notificationClaimKey(p.prefix, key)), `deliver-${first.notificationId}`)
    t.equal((await p.api.app.inject({ method: 'GET', url: `/api/notifications/${second.notificationId}`, headers: p.key.headers })).statusCode, 404)
    t.equal(p.postsFor(first.notificationId).length + p.postsFor(second.notificationId).length, 1, 'one post')
  })

  t.test('a version-1 send job written by hand (an older producer) is accepted; a replay records one row and posts once', async (t) => {
    const notificationId = randomUUID()
    const data = {
      v: 1,
      notificationId,
      acceptedAt: Date.now(),
      notification: { action: 'BORROW', userId: 7, mattermostUsername: alice.username.toUpperCase(), device: { id: 'D-7', name: 'ThinkPad X1', assetTag: 'DEV-007' }, requestId: `r${randomUUID().slice(0, 8)}`, startDate: '2026-04-01', endDate: '2026-04-30' }
    }
    await p.queue.add('send', data as never, { jobId: `send-${notificationId}` })
    await p.queue.add('send', data as never, { jobId: `send-${notificationId}-replay` })
    const results = [await p.finished(`send-${notificationId}`), await p.finished(`send-${notificationId}-replay`)]
    t.same(results.map(r => (r as { recorded: string }).recorded).sort(), ['earlier', 'now'])
    t.match(await p.settled(notificationId), { id: notificationId, status: 'delivered', source: 'queue', mattermostUsername: alice.username })
    const [{ count }] = await p.api.sql`select count(*)::int as count from notifications where id = ${notificationId}`
    t.equal(count, 1, 'one ledger row')
    t.equal(p.postsFor(notificationId).length, 1, 'one post')
  })

  t.test('malformed and future-version jobs fail at once with a clear reason, without holding up others', async (t) => {
    const valid = { ...borrowInput(alice.username), action: 'BORROW' }
    // A row waiting for delivery, whose deliver job a newer producer rewrote as version 2.
    const [worker] = p.worker.workers
    await worker.pause()
    const waiting = (await p.send(borrowInput(alice.username, { action: 'BORROW' }))).json().notificationId as string
    await (await p.queue.getJob(`deliver-${waiting}`))!.remove()
    const ids = { malformed: randomUUID(), future: randomUUID() }
    const jobs: [string, Job][] = [
      ['garbage', await p.queue.add('send', 'hello' as never)],
      ['malformed', await p.queue.add('send', { v: 1, notificationId: ids.malformed, acceptedAt: Date.now(), notification: { ...valid, device: { id: 1, assetTag: 'A' } } } as never)],
      ['future', await p.queue.add('send', { v: 2, notificationId: ids.future, acceptedAt: Date.now(), notification: valid, priority: 'high' } as never)],
      ['future deliver', await p.queue.add('deliver', { v: 2, notificationId: waiting, channel: 'x' } as never)]
    ]
    const client = createParleyClient(p.queueOpts)
    t.teardown(() => client.close())
    const good = await client.sendBorrowApprovalNotification(borrowInput(alice.username))
    worker.resume()
    const reasons: Record<string, RegExp> = {
      garbage: /^malformed send job: data must be an object$/,
      malformed: /^malformed send job: data\/notification\/device\/name is required$/,
      future: /^send job payload version 2 is not supported by this worker \(it understands v1\); upgrade the Parley worker/,
      'future deliver': /^deliver job payload version 2 is not supported by this worker \(it understands v1\)/
    }
    for (const [name, job] of jobs) {
      await t.rejects(job.waitUntilFinished(p.events, 15_000), { message: reasons[name] }, `${name}: fails`)
      const failed = (await p.queue.getJob(job.id!))!
      t.equal(failed.attemptsMade, 1, `${name}: one attempt, no retry loop`)
      t.equal(await failed.getState(), 'failed', `${name}: in the failed set`)
    }
    t.match(await p.get(ids.malformed), { status: 'failed', source: 'queue', lastError: reasons.malformed }, 'the malformed notification is in the ledger with its reason')
    t.match(await p.get(ids.future), { status: 'failed', source: 'queue', lastError: reasons.future }, 'the future-version one too')
    t.match(await p.get(waiting), { status: 'failed', lastError: reasons['future deliver'] }, 'and the row the future deliver job named')
    t.match(await p.settled(good.notificationId), { status: 'delivered' }, 'the next job was delivered')
  })
})

t.test('after the server\'s window the same key is admitted again through the queue', async (t) => {
  const p = await setup(t, { NOTIFY_IDEMPOTENCY_WINDOW_SECONDS: '1' })
  const client = createParleyClient(p.queueOpts)
  t.teardown(() => client.close())
  const input = borrowInput(p.mm.user().username)
  const first = await client.sendBorrowApprovalNotification(input)
  const claim = notificationClaimKey(p.prefix, first.idempotencyKey)
  t.ok(await p.api.redis.pttl(claim) <= 1000, 'the claim lasts the window the server published (1 s), not the client default (1 h)')
  t.equal((await client.sendBorrowApprovalNotification(input)).status, 'duplicate')
  await until(async () => (await p.api.redis.exists(claim)) === 0 || undefined, 5_000)
  const second = await client.sendBorrowApprovalNotification(input)
  t.equal(second.status, 'queued')
  t.not(second.notificationId, first.notificationId)
  t.match(await p.settled(first.notificationId), { status: 'delivered' })
  t.match(await p.settled(second.notificationId), { status: 'delivered' }, 'both admissions are delivered')
})
