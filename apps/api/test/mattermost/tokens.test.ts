/**
 * Personal access tokens (seeds/personal-token-implementation.md; seeds/equa-mattermost-endpoints.md
 * "token-health"): health and its cache, revoked-token detection and re-issue, encryption at rest
 * (the plaintext is nowhere in Postgres, Redis or logs), key rotation, and the token-usage table.
 */
import t from 'tap'
import type { Redis } from 'ioredis'
import { findMattermostAccount } from '@parley/db'
import { uniq } from '../../../../test/env.js'
import { rig } from './setup.js'
import { waitForJob } from '../../src/routes/mattermost/jobs.js'

/** `GET /users/me` calls (the route template is `GET /api/v4/users/{user_id}`). */
const meCalls = (r: Awaited<ReturnType<typeof rig>>) => r.sim.calls.filter(c => c.method === 'GET' && c.path === '/api/v4/users/me').length

const health = (r: Awaited<ReturnType<typeof rig>>, headers?: Record<string, string>) =>
  r.app.inject({ method: 'GET', url: '/api/v1/mattermost/token-health', ...(headers ? { headers } : {}) })

t.test('token-health: 401, no_token, valid (cached), revoked → re-issued on the next session', async (t) => {
  const r = await rig(t, { env: { TOKEN_HEALTH_CACHE_SECONDS: '60' } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  t.equal((await health(r)).statusCode, 401)
  t.same((await health(r, headers)).json(), { valid: false, reason: 'no_token' })

  const first = (await r.session(headers, o.id)).json()
  t.same((await health(r, headers)).json(), { valid: true })
  const checks = meCalls(r)
  t.equal(checks, 1, 'checked against Mattermost with GET /users/me')
  t.same((await health(r, headers)).json(), { valid: true })
  t.equal(meCalls(r), checks, 'second poll answered from the cache')

  // Revoked in Mattermost: the (uncached) check says so, and the next session gets a new token.
  r.sim.revokeAccessToken(first.token)
  await r.redis.del(`${r.config.QUEUE_PREFIX}:parley:token-health:${user.id}`)
  t.same((await health(r, headers)).json(), { valid: false, reason: 'revoked' })
  const account = await findMattermostAccount(r.db, user.id)
  t.ok(account?.tokenInvalidAt, 'token marked invalid in Postgres')
  const again = await r.session(headers, o.id)
  t.equal(again.statusCode, 200, again.body)
  t.not(again.json().token, first.token, 'a new token was issued')
  t.equal(again.json().mmUserId, first.mmUserId, 'same Mattermost user')
  t.equal(r.sim.whoAmI(again.json().token)?.id, first.mmUserId, 'the new token works')
  t.equal(r.sim.callCount('POST /api/v4/users'), 1, 'no second user')
})

t.test('token-health: check_failed when Mattermost errors; not cached', async (t) => {
  const r = await rig(t, { env: { TOKEN_HEALTH_CACHE_SECONDS: '60' } })
  const o = await r.org()
  const { headers } = await r.member(o.id)
  t.equal((await r.session(headers, o.id)).statusCode, 200)
  r.sim.faults.failNext('GET /api/v4/users/{user_id}', { status: 400, id: 'api.sim.broken' })
  t.same((await health(r, headers)).json(), { valid: false, reason: 'check_failed' })
  t.same((await health(r, headers)).json(), { valid: true }, 'the failure was not cached')
})

t.test('a token that carries an expiry is re-issued before it expires', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  const first = (await r.session(headers, o.id)).json()
  // As if the server enforced a lifetime that ends within the refresh window (default 24 h).
  await r.externalChange(tx => tx`update mattermost_accounts set token_expires_at = now() + interval '1 hour' where user_id = ${user.id}`)
  const second = await r.session(headers, o.id)
  t.equal(second.statusCode, 200)
  t.not(second.json().token, first.token, 'renewed ahead of expiry')
  t.notOk(r.sim.whoAmI(first.token), 'the old token was revoked')
})

t.test('the scheduled token sweep renews tokens that expire soon, and leaves others alone', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const expiring = await r.member(o.id)
  const steady = await r.member(o.id)
  const first = (await r.session(expiring.headers, o.id)).json()
  const other = (await r.session(steady.headers, o.id)).json()
  await r.externalChange(tx => tx`update mattermost_accounts set token_expires_at = now() + interval '10 minutes' where user_id = ${expiring.user.id}`)
  const job = await r.queues.mattermost.add('token-sweep', { v: 1 }, { jobId: `sweep-${uniq()}`, removeOnComplete: false })
  const outcome = await waitForJob(r.queues.mattermost, r.queues.mattermostEvents, job.id!, 10_000)
  t.equal(outcome.state, 'completed')
  t.ok((outcome as { value: { renewed: number } }).value.renewed >= 1, 'renewed at least our user')
  const account = (await findMattermostAccount(r.db, expiring.user.id))!
  t.equal(account.tokenExpiresAt, null, 'the new token (no expiry on this server) replaced it')
  t.notOk(r.sim.whoAmI(first.token), 'the expiring token was revoked')
  const renewed = (await r.session(expiring.headers, o.id)).json()
  t.equal(r.sim.whoAmI(renewed.token)?.id, first.mmUserId, 'the session hands out the renewed token')
  t.equal(r.sim.whoAmI(other.token)?.id, other.mmUserId, 'a token without expiry is untouched')
})

async function redisDump (redis: Redis, prefix: string): Promise<string> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  const parts: string[] = [...keys]
  for (const key of keys) {
    const type = await redis.type(key)
    if (type === 'string') parts.push(String(await redis.get(key)))
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)))
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)))
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)))
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')))
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')))
  }
  return parts.join('\n')
}

t.test('encryption at rest: the plaintext token is nowhere in Postgres, Redis, job data or logs', async (t) => {
  const r = await rig(t, { env: { TOKEN_HEALTH_CACHE_SECONDS: '60' } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  const { token } = (await r.session(headers, o.id)).json()
  t.match(token, /^[a-z0-9]{26}$/)
  await health(r, headers)
  const ch = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/channels', headers: (await r.admin()).headers, payload: { organizationId: o.id, name: `p-${uniq()}`, displayName: 'P', type: 'O' } })
  t.equal(ch.statusCode, 201)
  t.equal((await r.app.inject({ method: 'POST', url: `/api/v1/mattermost/channels/${ch.json().id}/members`, headers, payload: { userId: user.id } })).statusCode, 200)

  const account = (await findMattermostAccount(r.db, user.id))!
  t.match(account.tokenEnc, /^v1\.k1\./, 'AES-GCM ciphertext with its key id')
  t.equal(account.tokenKeyId, 'k1')
  const tables = await r.sql`
    select (select coalesce(json_agg(a)::text, '') from mattermost_accounts a) as accounts,
           (select coalesce(json_agg(u)::text, '') from users u where u.id = ${user.id}) as users,
           (select coalesce(json_agg(c)::text, '') from mattermost_channels c where c.org_id = ${o.id}) as channels,
           (select coalesce(json_agg(m)::text, '') from mattermost_team_members m where m.org_id = ${o.id}) as members`
  for (const [table, text] of Object.entries(tables[0])) t.notOk(String(text).includes(token), `not in ${table}`)
  const dump = await redisDump(r.redis, r.config.QUEUE_PREFIX)
  t.ok(dump.length > 0, 'Redis holds job data for this prefix')
  t.notOk(dump.includes(token), 'not in Redis (keys, job data, results, events, caches)')
  t.ok(r.logs.length > 0 && r.apiLogs.length > 0, 'logs were captured')
  t.notOk(r.logs.join('').includes(token), 'not in worker logs')
  t.notOk(r.apiLogs.join('').includes(token), 'not in API logs')
  t.notOk(r.logs.join('').includes(r.adminToken), 'admin token not in worker logs')
})

t.test('key rotation: an API with a new key first still reads tokens written with the old key; new tokens use the new key', async (t) => {
  const newKey = Buffer.alloc(32, 9).toString('base64')
  const oldKeys = `k1:${Buffer.alloc(32, 7).toString('base64')}`
  const r = await rig(t, { env: { TOKEN_ENCRYPTION_KEYS: `k2:${newKey},${oldKeys}` }, workerEnv: { TOKEN_ENCRYPTION_KEYS: `k2:${newKey},${oldKeys}` } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  const first = (await r.session(headers, o.id)).json()
  t.equal((await findMattermostAccount(r.db, user.id))!.tokenKeyId, 'k2', 'new tokens are written with the newest key')
  // Rewrite the row as an old-key ciphertext, as before the rotation.
  const { createTokenCipher } = await import('@parley/db')
  const old = createTokenCipher(oldKeys)
  await r.externalChange(tx => tx`update mattermost_accounts set token_enc = ${old.encrypt(first.token)}, token_key_id = 'k1' where user_id = ${user.id}`)
  const before = r.sim.callCount()
  const again = await r.session(headers, o.id)
  t.equal(again.json().token, first.token, 'old-key ciphertext decrypts')
  t.equal(r.sim.callCount(), before, 'answered from Postgres')
})

t.test('token usage table: admin token for system operations, the user\'s own token for user-scoped actions', async (t) => {
  const r = await rig(t, { validate: true })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  const { token: userToken } = (await r.session(headers, o.id)).json()
  const admin = await r.admin()
  const open = (await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/channels', headers: admin.headers, payload: { organizationId: o.id, name: `open-${uniq()}`, displayName: 'Open', type: 'O' } })).json()
  t.equal((await r.app.inject({ method: 'POST', url: `/api/v1/mattermost/channels/${open.id}/members`, headers, payload: { userId: user.id } })).statusCode, 200)
  await r.app.inject({ method: 'GET', url: '/api/v1/mattermost/token-health', headers })
  t.equal((await r.app.inject({ method: 'DELETE', url: `/api/v1/mattermost/channels/${open.id}`, headers: admin.headers })).statusCode, 200)

  const tokenOf = (route: string) => [...new Set(r.sim.calls.filter(c => c.route === route).map(c => c.token))]
  const A = r.adminToken
  t.same(tokenOf('POST /api/v4/users'), [A], 'createMattermostUser: admin')
  t.same(tokenOf('POST /api/v4/users/{user_id}/tokens'), [A], 'generateAndStoreUserToken: admin')
  t.same(tokenOf('POST /api/v4/teams'), [A], 'ensureTeam: admin')
  t.same(tokenOf('POST /api/v4/teams/{team_id}/members'), [A], 'addUserToTeam: admin')
  t.same(tokenOf('POST /api/v4/channels'), [A], 'createChannelForProject: admin')
  t.same(tokenOf('DELETE /api/v4/channels/{channel_id}'), [A], 'archiveChannelForProject: admin')
  t.same(tokenOf('POST /api/v4/channels/{channel_id}/members'), [userToken], 'addUserToChannel: the user\'s own token')
  t.same([...new Set(r.sim.calls.filter(c => c.path === '/api/v4/users/me').map(c => c.token))], [userToken], 'token health: the user\'s own token')
  const invalid = r.sim.calls.filter(c => c.requestErrors?.length || c.responseErrors?.length)
    .map(c => `${c.route}: ${[...(c.requestErrors ?? []), ...(c.responseErrors ?? [])].join('; ')}`)
  t.ok(r.sim.calls.filter(c => c.body !== undefined).every(c => Array.isArray(c.requestErrors)), 'request bodies were validated')
  t.same(invalid, [], 'every request Parley sent (and every answer) matches mattermost/openapi')
  t.ok(r.sim.getChannelMembers(open.mattermostChannelId).includes(r.sim.getUserByUsername(user.username.toLowerCase())!.id), 'user joined the channel')
})
