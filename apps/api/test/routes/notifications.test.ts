import t from 'tap'
import { build } from '../helper.js'
import { borrowBody } from '../fixtures-notifications.js'

t.test('POST /api/notifications/send', async (t) => {
  const h = await build(t)
  const { app, queues } = h
  const sender = await h.apiKey(['notifications:send'])
  const send = (body: unknown, headers: Record<string, string> = sender.headers) =>
    app.inject({ method: 'POST', url: '/api/notifications/send', headers, payload: body as object })

  t.test('accepts, records and enqueues one job', async (t) => {
    const body = borrowBody()
    const res = await send(body)
    t.equal(res.statusCode, 202)
    const json = res.json()
    t.match(json, { status: 'queued', idempotencyKey: `notification:BORROW:${body.requestId}:${body.userId}` })
    const job = await queues.notifications.getJob(`deliver-${json.notificationId}`)
    t.same(job?.data, { v: 1, notificationId: json.notificationId }, 'the job carries only the id')
    const got = await app.inject({ method: 'GET', url: `/api/notifications/${json.notificationId}`, headers: sender.headers })
    t.equal(got.statusCode, 200)
    t.match(got.json(), { id: json.notificationId, status: 'queued', delivery: null, attempts: 0, mattermostUsername: 'john.doe' })
  })

  t.test('the same key within the window is a duplicate and enqueues nothing', async (t) => {
    const body = borrowBody()
    const first = (await send(body)).json()
    const before = await queues.notifications.count()
    const again = await send(body)
    t.equal(again.statusCode, 200)
    t.same(again.json(), { notificationId: first.notificationId, status: 'duplicate', idempotencyKey: first.idempotencyKey })
    t.equal(await queues.notifications.count(), before, 'no new job')
  })

  t.test('parallel sends of one key admit exactly one', async (t) => {
    const body = borrowBody()
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(body)))
    t.equal(answers.filter(a => a.statusCode === 202).length, 1)
    t.equal(answers.filter(a => a.statusCode === 200).length, 9)
    t.equal(new Set(answers.map(a => a.json().notificationId)).size, 1)
  })

  t.test('after the window the key is admitted again', async (t) => {
    const short = await build(t, { NOTIFY_IDEMPOTENCY_WINDOW_SECONDS: '1' })
    const key = await short.apiKey(['notifications:send'])
    const body = borrowBody()
    const first = await short.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: body })
    t.equal(first.statusCode, 202)
    await short.sql`update notification_keys set expires_at = now() - interval '1 second' where key = ${first.json().idempotencyKey}`
    const second = await short.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: body })
    t.equal(second.statusCode, 202)
    t.not(second.json().notificationId, first.json().notificationId)
  })

  t.test('each action requires its own dates and refuses the others', async (t) => {
    const cases: [Record<string, unknown>, string][] = [
      [borrowBody({ endDate: undefined }), 'body/endDate is required for action BORROW'],
      [borrowBody({ returnDate: '2026-01-20' }), 'body/returnDate is not allowed for action BORROW'],
      [borrowBody({ action: 'RETURN', startDate: undefined, endDate: undefined }), 'body/returnDate is required for action RETURN'],
      [borrowBody({ action: 'RENEWAL', startDate: undefined, endDate: undefined, previousEndDate: '2026-02-10' }), 'body/newEndDate is required for action RENEWAL'],
      [borrowBody({ endDate: '2026-02-30' }), 'body/endDate'],
      [borrowBody({ endDate: '2027-02-29' }), 'body/endDate'],
      [borrowBody({ endDate: '2100-02-29' }), 'body/endDate'],
      [borrowBody({ endDate: '2026-04-31' }), 'body/endDate'],
      [borrowBody({ endDate: '2026-13-01' }), 'body/endDate'],
      [borrowBody({ endDate: '2026-00-10' }), 'body/endDate'],
      [borrowBody({ endDate: '2026-01-00' }), 'body/endDate'],
      [borrowBody({ startDate: '10/01/2026' }), 'body/startDate'],
      [borrowBody({ action: 'LEND' }), 'body/action must be one of'],
      [borrowBody({ extra: 1 }), 'body/extra is not allowed'],
      [borrowBody({ device: { id: 1, name: 'x', assetTag: 'a', color: 'red' } }), 'body/device/color is not allowed'],
      [borrowBody({ device: { id: 1, assetTag: 'a' } }), 'body/device/name is required'],
      [borrowBody({ userId: null }), 'body/userId'],
      [borrowBody({ mattermostUsername: 'bad name' }), 'body/mattermostUsername']
    ]
    for (const [body, message] of cases) {
      const res = await send(JSON.parse(JSON.stringify(body)))
      t.equal(res.statusCode, 400, message)
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', message: new RegExp(message.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }, message)
    }
    const ok = await send(borrowBody({ action: 'RENEWAL', startDate: undefined, endDate: undefined, previousEndDate: '2026-02-10', newEndDate: '2026-03-10' }))
    t.equal(ok.statusCode, 202, 'a complete RENEWAL is accepted')
    const ret = await send(borrowBody({ action: 'RETURN', startDate: undefined, endDate: undefined, returnDate: '2026-01-20' }))
    t.equal(ret.statusCode, 202, 'a complete RETURN is accepted')
    for (const endDate of ['2028-02-29', '2000-02-29', '2026-12-31', '2026-04-30']) {
      t.equal((await send(borrowBody({ endDate }))).statusCode, 202, `${endDate} is a calendar date`)
    }
  })

  t.test('authorisation', async (t) => {
    t.equal((await send(borrowBody(), {})).statusCode, 401, 'no credential')
    t.equal((await send(borrowBody(), { authorization: 'Bearer prl_nope' })).statusCode, 401, 'unknown key')
    const wrong = await h.apiKey(['directory:write'])
    t.equal((await send(borrowBody(), wrong.headers)).statusCode, 403, 'wrong scope')
    const user = await h.createUser()
    t.equal((await send(borrowBody(), { authorization: `Bearer ${h.tokenFor(user)}` })).statusCode, 403, 'a plain user')
    const admin = await h.admin()
    t.equal((await send(borrowBody(), admin.headers)).statusCode, 202, 'an admin')
  })
})

t.test('sends answer 503 while Mattermost is not configured', async (t) => {
  const h = await build(t, { MATTERMOST_URL: '', MATTERMOST_NOTIFICATION_CHANNEL_ID: '' })
  const key = await h.apiKey(['notifications:send'])
  const res = await h.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: borrowBody() })
  t.equal(res.statusCode, 503)
  t.match(res.json().message, /MATTERMOST_URL is not set/)
  const status = await h.app.inject({ method: 'GET', url: '/api/notifications/status', headers: key.headers })
  t.match(status.json(), { configured: false, reason: /not configured/ })
})

t.test('status, lists, retry', async (t) => {
  const h = await build(t)
  const admin = await h.admin()
  const key = await h.apiKey(['notifications:send'])
  const sent = (await h.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: borrowBody() })).json()

  const status = await h.app.inject({ method: 'GET', url: '/api/notifications/status', headers: key.headers })
  t.equal(status.statusCode, 200)
  t.match(status.json(), { configured: true, initialized: false, botUser: null, queue: { waiting: 1 } })

  for (const path of ['users', 'idempotency', '']) {
    const url = `/api/notifications/${path}?limit=5`
    t.equal((await h.app.inject({ method: 'GET', url, headers: key.headers })).statusCode, 403, `${url} needs an admin`)
    t.equal((await h.app.inject({ method: 'GET', url })).statusCode, 401, `${url} needs a credential`)
    const res = await h.app.inject({ method: 'GET', url, headers: admin.headers })
    t.equal(res.statusCode, 200, url)
    t.match(res.json(), { limit: 5, offset: 0 })
  }
  const keys = (await h.app.inject({ method: 'GET', url: '/api/notifications/idempotency?limit=200', headers: admin.headers })).json()
  t.ok(keys.items.some((k: { key: string }) => k.key === sent.idempotencyKey), 'the ledger lists the key')
  t.equal((await h.app.inject({ method: 'GET', url: '/api/notifications/idempotency?limit=500', headers: admin.headers })).statusCode, 400, 'limit is capped')

  const notFailed = await h.app.inject({ method: 'POST', url: `/api/notifications/${sent.notificationId}/retry`, headers: admin.headers })
  t.equal(notFailed.statusCode, 409, 'only failed notifications can be retried')
  await h.sql`update notifications set status = 'failed', last_error = 'boom' where id = ${sent.notificationId}`
  await h.queues.notifications.obliterate({ force: true })
  const retried = await h.app.inject({ method: 'POST', url: `/api/notifications/${sent.notificationId}/retry`, headers: admin.headers })
  t.equal(retried.statusCode, 202)
  t.match(retried.json(), { status: 'queued', lastError: null })
  t.ok(await h.queues.notifications.getJob(`deliver-${sent.notificationId}`), 'a new job is enqueued')
  t.equal((await h.app.inject({ method: 'GET', url: '/api/notifications/00000000-0000-4000-8000-000000000000', headers: key.headers })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/notifications/not-a-uuid', headers: key.headers })).statusCode, 400)
})
