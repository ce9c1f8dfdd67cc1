// Pure client behaviour against a scripted HTTP stub: error mapping, retries, 429, timeouts, tokens.
import { inspect } from 'node:util'
import t, { type Test } from 'tap'
import { createMattermostClient, isPermanent, isRetryable, MattermostError, TEAM_BATCH_MAX } from '../src/index.js'
import { appError, closedPortUrl, hang, json, limited, startHttpStub } from './helpers/http-stub.js'
import { rejection } from './helpers/await.js'

const ADMIN = 'admintoken0000000000000000'
const USER = 'usertoken11111111111111111'

async function setup (t: Test, opts: Partial<Parameters<typeof createMattermostClient>[0]> = {}) {
  const stub = await startHttpStub(t)
  const client = createMattermostClient({ baseUrl: stub.url, token: ADMIN, retryBaseMs: 1, timeoutMs: 2_000, ...opts })
  return { stub, client }
}


t.test('sends the bearer and JSON body, parses JSON with a charset suffix', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(json(201, { id: 'p1', message: 'hi' }, { 'content-type': 'application/json; charset=utf-8' }))
  const post = await client.createPost({ channel_id: 'c1', message: 'hi', pending_post_id: 'k1' })
  t.same(post, { id: 'p1', message: 'hi' })
  const [req] = stub.requests
  t.equal(req.method, 'POST')
  t.equal(req.url, '/api/v4/posts')
  t.equal(req.headers.authorization, `Bearer ${ADMIN}`)
  t.equal(req.headers['content-type'], 'application/json')
  t.same(JSON.parse(req.body), { channel_id: 'c1', message: 'hi', pending_post_id: 'k1' })
})

t.test('encodes path segments, builds query strings, tolerates a trailing slash in baseUrl', async (t) => {
  const { stub } = await setup(t)
  const client = createMattermostClient({ baseUrl: `${stub.url}/`, token: ADMIN })
  stub.reply(json(200, []))
  await client.getUserByUsername('a/b?c')
  await client.getTeamMembers('t1', { page: 2, perPage: 200 })
  await client.getChannelPosts('c1', { since: 1234, page: 3 })
  t.same(stub.requests.map((r) => r.url), [
    '/api/v4/users/username/a%2Fb%3Fc',
    '/api/v4/teams/t1/members?page=2&per_page=200',
    '/api/v4/channels/c1/posts?since=1234'
  ])
})

t.test('a per-call token overrides the default one', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(json(201, { user_id: 'u1', channel_id: 'c1' }))
  await client.addChannelMember('c1', 'u1', { token: USER })
  await client.getMe()
  t.same(stub.requests.map((r) => r.headers.authorization), [`Bearer ${USER}`, `Bearer ${ADMIN}`])
})

t.test('maps an AppError body to MattermostError', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(appError(404, 'app.user.get_by_username.app_error', 'Unable to find an existing account matching your username.',
    { detailed_error: 'resource: User id: username=nobody' }))
  const err = await rejection(client.getUserByUsername('nobody'))
  t.equal(err.status, 404)
  t.equal(err.id, 'app.user.get_by_username.app_error')
  t.equal(err.endpoint, 'GET /users/username/nobody')
  t.equal(err.detailedError, 'resource: User id: username=nobody')
  t.equal(err.requestId, 'req123')
  t.match(err.message, /GET \/users\/username\/nobody failed \(404 app\.user\.get_by_username\.app_error\)/)
  t.ok(isPermanent(err))
  t.notOk(isRetryable(err))
})

t.test('never puts a token in an error, even when the server echoes it', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(appError(401, 'api.context.session_expired.app_error', `Invalid token ${USER}`,
    { detailed_error: `token=${ADMIN}` }))
  const err = await rejection(client.getMe({ token: USER }))
  const everything = [err.message, err.stack, inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err)].join('\n')
  t.notMatch(everything, USER)
  t.notMatch(everything, ADMIN)
  t.match(err.message, '[redacted]')

  const net = await rejection(createMattermostClient({ baseUrl: await closedPortUrl(), token: USER, maxRetries: 0 }).getMe())
  t.notMatch(inspect(net, { depth: 10, showHidden: true }), USER)
})

t.test('retries 503 then succeeds', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(appError(503, 'api.server.unavailable'), json(200, { id: 'u1' }))
  t.same(await client.getUser('u1'), { id: 'u1' })
  t.equal(stub.requests.length, 2)
})

t.test('retries 500 and 502/504 but not the pending-post 500', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(appError(500, 'app.x'), appError(502, 'gw'), appError(504, 'gw'), json(200, { status: 'OK' }))
  t.same(await client.ping(), { status: 'OK' })
  t.equal(stub.requests.length, 4)

  stub.reply(appError(500, 'api.post.deduplicate_create_post.pending'))
  const err = await rejection(client.createPost({ channel_id: 'c', message: 'm', pending_post_id: 'k' }))
  t.equal(err.id, 'api.post.deduplicate_create_post.pending')
  t.equal(stub.requests.length, 1)
  t.ok(isRetryable(err), 'the job may retry it later: Mattermost then returns the first post')
  t.notOk(isPermanent(err))
})

t.test('gives up after maxRetries and throws the last error', async (t) => {
  const { stub, client } = await setup(t, { maxRetries: 2 })
  stub.reply(appError(503, 'down'))
  const err = await rejection(client.getMe())
  t.equal(err.status, 503)
  t.equal(stub.requests.length, 3)
  t.ok(isRetryable(err))
})

t.test('never retries other 4xx', async (t) => {
  const { stub, client } = await setup(t)
  for (const [status, id] of [[400, 'api.context.invalid_param.app_error'], [401, 'api.context.session_expired.app_error'],
    [403, 'api.context.permissions.app_error'], [404, 'app.user.missing_account.const']] as const) {
    stub.reply(appError(status, id))
    const err = await rejection(client.getUser('u1'))
    t.equal(err.status, status)
    t.equal(err.id, id)
    t.equal(stub.requests.length, 1, `${status} is not retried`)
    t.ok(isPermanent(err))
  }
  stub.reply(appError(501, 'app.user_access_token.disabled'))
  const disabled = await rejection(client.createUserAccessToken('u1', 'parley'))
  t.equal(stub.requests.length, 1)
  t.ok(isPermanent(disabled), 'PATs disabled in config is permanent')
})

t.test('429: waits Retry-After seconds, then retries', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(limited(1), json(200, { id: 'me' }))
  const started = performance.now()
  t.same(await client.getMe(), { id: 'me' })
  t.ok(performance.now() - started >= 950, 'waited about one second')
  t.equal(stub.requests.length, 2)
})

t.test('429: the error carries retryAfterMs and rate-limit info when not retried', async (t) => {
  const { stub, client } = await setup(t, { maxRetryAfterMs: 5_000 })
  stub.reply(limited(30))
  const err = await rejection(client.getMe())
  t.equal(stub.requests.length, 1, 'a wait beyond maxRetryAfterMs is left to the caller')
  t.equal(err.status, 429)
  t.equal(err.retryAfterMs, 30_000)
  t.same(err.rateLimit, { limit: 10, remaining: 0, resetMs: 30_000 })
  t.equal(err.id, undefined)
  t.match(err.message, 'limit exceeded')
  t.ok(isRetryable(err))
  t.notOk(isPermanent(err))
})

t.test('a timeout becomes status 0, id network, and is retried', async (t) => {
  const { stub, client } = await setup(t, { timeoutMs: 100, maxRetries: 1 })
  stub.reply(hang)
  const err = await rejection(client.getMe())
  t.equal(err.status, 0)
  t.equal(err.id, 'network')
  t.match(err.message, 'no response within 100 ms')
  t.equal(stub.requests.length, 2)
  t.ok(isRetryable(err))
})

t.test('a timed-out POST is retried only when it is idempotent', async (t) => {
  const { stub, client } = await setup(t, { timeoutMs: 100, maxRetries: 1 })
  stub.reply(hang)
  t.equal((await rejection(client.createUser({ username: 'zed', email: 'zed@example.com' }))).id, 'network')
  t.equal(stub.requests.length, 1, 'the user may exist now: a second POST would say "username exists"')
  stub.reply(hang)
  await rejection(client.createPost({ channel_id: 'c', message: 'm' }))
  t.equal(stub.requests.length, 1, 'no pending_post_id: a retry could post twice')
  stub.reply(hang)
  await rejection(client.createPost({ channel_id: 'c', message: 'm', pending_post_id: 'k' }))
  t.equal(stub.requests.length, 2, 'pending_post_id de-duplicates the retry')
  stub.reply(hang)
  await rejection(client.addChannelMember('c', 'u'))
  t.equal(stub.requests.length, 2, 'adding a member twice is harmless')
})

t.test('a refused POST is retried: it never reached the server', async (t) => {
  let attempts = 0
  const client = createMattermostClient({
    baseUrl: await closedPortUrl(), token: ADMIN, maxRetries: 2, retryBaseMs: 1, limiter: { acquire: async () => { attempts++ } }
  })
  t.equal((await rejection(client.createUser({ username: 'zed', email: 'zed@example.com' }))).status, 0)
  t.equal(attempts, 3)
})

t.test('a refused connection becomes status 0, id network', async (t) => {
  const client = createMattermostClient({ baseUrl: await closedPortUrl(), token: ADMIN, maxRetries: 1, retryBaseMs: 1 })
  const err = await rejection(client.getMe())
  t.equal(err.status, 0)
  t.equal(err.id, 'network')
  t.equal(err.endpoint, 'GET /users/me')
  t.match(err.message, 'ECONNREFUSED')
})

t.test('awaits the limiter before every attempt', async (t) => {
  let acquired = 0
  const { stub, client } = await setup(t, { limiter: { acquire: async () => { acquired++ } } })
  stub.reply(appError(503, 'x'), json(200, {}))
  await client.getMe()
  t.equal(acquired, 2)
})

t.test('getChannelMember: undefined on 404, throws otherwise', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(appError(404, 'app.channel.get_member.missing.app_error'))
  t.equal(await client.getChannelMember('c1', 'u1'), undefined)
  stub.reply(appError(403, 'api.context.permissions.app_error'))
  t.equal((await rejection(client.getChannelMember('c1', 'u1'))).status, 403)
})

t.test('addTeamMembersBatch chunks by 256, gracefully', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply((res, req) => json(201, (JSON.parse(req.body) as Array<{ user_id: string }>)
    .map((m) => ({ user_id: m.user_id, member: { user_id: m.user_id }, error: null })))(res, req))
  const ids = Array.from({ length: TEAM_BATCH_MAX * 2 + 10 }, (_, i) => `u${i}`)
  const results = await client.addTeamMembersBatch('t1', ids, { graceful: true })
  t.equal(results.length, ids.length)
  t.same(stub.requests.map((r) => (JSON.parse(r.body) as unknown[]).length), [256, 256, 10])
  t.ok(stub.requests.every((r) => r.url === '/api/v4/teams/t1/members/batch?graceful=true'))
})

t.test('empty id lists make no request', async (t) => {
  const { stub, client } = await setup(t)
  t.same(await client.getUsersByIds([]), [])
  t.same(await client.getUsersByUsernames([]), [])
  t.same(await client.addTeamMembersBatch('t1', []), [])
  t.equal(stub.requests.length, 0)
})

t.test('void endpoints resolve undefined; invalid JSON on success is an error', async (t) => {
  const { stub, client } = await setup(t)
  stub.reply(json(200, { status: 'OK' }))
  t.equal(await client.revokeUserAccessToken('tok1'), undefined)
  t.same(JSON.parse(stub.requests[0].body), { token_id: 'tok1' })
  stub.reply((res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{nope') })
  const err = await rejection(client.getMe())
  t.equal(err.id, 'invalid_response')
})
