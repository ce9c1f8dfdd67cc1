/**
 * POST /api/v1/mattermost/session and GET /api/v1/mattermost/config
 * (seeds/equa-mattermost-endpoints.md): status codes, provisioning, the warm path, the parallel
 * first-session race, name conflicts and Mattermost faults.
 */
import t from 'tap'
import { uniq } from '../../../../test/env.js'
import { build, reconnectRedis, until } from '../helper.js'
import { rig } from './setup.js'
import { SESSION_STATE_CHANNEL } from '../../src/plugins/session-states.js'

t.test('session: 401, 400, 404, 403 before anything is provisioned', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const outsider = await r.createUser()

  const anon = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', payload: { organizationId: o.id } })
  t.equal(anon.statusCode, 401)
  const bad = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', headers, payload: { organizationId: 'nope' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().message, /organizationId/)
  const extra = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', headers, payload: { organizationId: o.id, x: 1 } })
  t.equal(extra.statusCode, 400)
  t.match(extra.json().message, /x is not allowed/)
  const unknown = await r.session(headers, '00000000-0000-4000-8000-000000000000')
  t.equal(unknown.statusCode, 404)
  const forbidden = await r.session({ authorization: `Bearer ${r.tokenFor(outsider)}` }, o.id)
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json(), { code: 'PARLEY_FORBIDDEN' })
  t.equal(r.sim.callCount(), 0, 'no Mattermost call for refused requests')
})

t.test('session: first call provisions user, token, team (with default channels) and membership; second answers from Postgres', async (t) => {
  const r = await rig(t)
  const o = await r.org({ slug: `Acme_Corp.${uniq()}`, name: 'Acme Corp' })
  const { user, headers } = await r.member(o.id, 'member', { displayName: 'Ada Lovelace', email: `ada-${uniq()}@example.com` })

  const first = await r.session(headers, o.id)
  t.equal(first.statusCode, 200, first.body)
  const body = first.json()
  t.same(Object.keys(body).sort(), ['baseUrl', 'mmUserId', 'teamName', 'token'])
  t.equal(body.baseUrl, r.sim.url)
  t.match(body.teamName, /^acme-corp-[a-z0-9]+$/, 'team name derived from the slug by Mattermost rules')
  const mmUser = r.sim.getUser(body.mmUserId)!
  t.equal(mmUser.username, user.username.toLowerCase())
  t.equal(mmUser.first_name, 'Ada Lovelace')
  t.equal(r.sim.whoAmI(body.token)?.id, body.mmUserId, 'the token authenticates as the user')
  const team = r.sim.getTeamByName(body.teamName)!
  t.ok(team, 'team exists')
  t.equal(team.type, 'I')
  t.ok(r.sim.getTeamMembers(team.id).includes(body.mmUserId), 'user is a team member')
  t.ok(r.sim.getChannelByName(team.id, 'general') && r.sim.getChannelByName(team.id, 'random'), 'configured default channels created')

  // Warm: no Mattermost call, no job (no `added` event in the queue's event stream).
  const eventsKey = `${r.config.QUEUE_PREFIX}:mattermost:events`
  const addedEvents = async () => (await r.redis.xrange(eventsKey, '-', '+')).filter(([, fields]) => fields[0] === 'event' && fields[1] === 'added').length
  const addedBefore = await addedEvents()
  t.ok(addedBefore > 0, 'the first session did enqueue')
  const before = r.sim.callCount()
  const second = await r.session(headers, o.id)
  t.equal(second.statusCode, 200)
  t.same(second.json(), body, 'same session')
  t.equal(r.sim.callCount(), before, 'warm session makes no Mattermost call')
  t.equal(await addedEvents(), addedBefore, 'warm session enqueues nothing')

  // The warm path still checks the user: signed out everywhere (session version), then disabled,
  // here by another process (as the worker, the CLI or psql would), whose change reaches the API's
  // session-state cache through Postgres's notification.
  const cookie = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', cookies: { parley_session: r.tokenFor(user) }, payload: { organizationId: o.id } })
  t.equal(cookie.statusCode, 200, 'the session cookie works too')
  await r.externalChange(tx => tx`update users set session_version = session_version + 1 where id = ${user.id}`)
  t.equal((await r.session(headers, o.id)).statusCode, 401, 'an outdated session version is refused')
  const fresh = { authorization: `Bearer ${r.app.signSession({ id: user.id, sessionVersion: user.sessionVersion + 1 }).token}` }
  const freshRes = await r.session(fresh, o.id)
  t.equal(freshRes.statusCode, 200, freshRes.body)
  t.equal((await r.session(fresh, o.id)).statusCode, 200, 'warm again')
  await r.externalChange(tx => tx`update users set status = 'disabled' where id = ${user.id}`)
  t.equal((await r.session(fresh, o.id)).statusCode, 401, 'a disabled user gets no token')
  await r.externalChange(tx => tx`update users set status = 'active' where id = ${user.id}`)
  t.equal((await r.session(fresh, o.id)).statusCode, 200, 'enabled again')
  await r.externalChange(tx => tx`delete from org_members where org_id = ${o.id} and user_id = ${user.id}`)
  t.equal((await r.session(fresh, o.id)).statusCode, 403, 'a removed member gets no token')
  t.equal((await r.session({ authorization: 'Bearer not.a.jwt' }, o.id)).statusCode, 401)

  // Gateway mappings resolve the new ids.
  const key = await r.apiKey(['gateway:read'])
  const tm = await r.app.inject({ method: 'GET', url: `/api/v1/mattermost/team-mapping/${team.id}`, headers: key.headers })
  t.same(tm.json(), { organizationId: o.id })
  const um = await r.app.inject({ method: 'GET', url: `/api/v1/mattermost/user-mapping/${body.mmUserId}`, headers: key.headers })
  t.same(um.json(), { userId: user.id })
})

t.test('twenty parallel first calls for one user create exactly one Mattermost user, one token, one team', async (t) => {
  const r = await rig(t, { latencyMs: 5 })
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const results = await Promise.all(Array.from({ length: 20 }, () => r.session(headers, o.id)))
  t.same(results.map(x => x.statusCode), Array(20).fill(200))
  const tokens = new Set(results.map(x => x.json().token))
  t.equal(tokens.size, 1, 'every caller got the same token')
  t.equal(r.sim.callCount('POST /api/v4/users'), 1, 'one Mattermost user')
  t.equal(r.sim.callCount('POST /api/v4/users/{user_id}/tokens'), 1, 'one token')
  t.equal(r.sim.callCount('POST /api/v4/teams'), 1, 'one team')
  t.equal(r.sim.getAccessTokens(results[0].json().mmUserId).length, 1)

  // Twenty users of one fresh org at once: one team, each user once.
  const o2 = await r.org()
  const members = await Promise.all(Array.from({ length: 20 }, () => r.member(o2.id)))
  r.sim.resetCalls()
  const many = await Promise.all(members.map(m => r.session(m.headers, o2.id)))
  t.same(many.map(x => x.statusCode), Array(20).fill(200))
  t.equal(r.sim.callCount('POST /api/v4/teams'), 1, 'one team for the org')
  t.equal(r.sim.callCount('POST /api/v4/users'), 20)
  t.equal(new Set(many.map(x => x.json().teamName)).size, 1)
})

t.test('the warm session follows changes made through this API at once: disabling, password reset, leaving the organisation', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const admin = await r.admin()
  const [a, b, c] = [await r.member(o.id), await r.member(o.id), await r.member(o.id)]
  for (const m of [a, b, c]) {
    t.equal((await r.session(m.headers, o.id)).statusCode, 200)
    t.equal((await r.session(m.headers, o.id)).statusCode, 200, 'warm')
  }
  const patch = await r.app.inject({ method: 'PATCH', url: `/api/admin/users/${a.user.id}`, headers: admin.headers, payload: { status: 'disabled' } })
  t.equal(patch.statusCode, 200, patch.body)
  t.equal((await r.session(a.headers, o.id)).statusCode, 401, 'disabled by an admin: no token')
  const reset = await r.app.inject({ method: 'POST', url: `/api/admin/users/${b.user.id}/reset-password`, headers: admin.headers, payload: {} })
  t.equal(reset.statusCode, 200, reset.body)
  t.equal((await r.session(b.headers, o.id)).statusCode, 401, 'signed out by a password reset: no token')
  const removed = await r.app.inject({ method: 'DELETE', url: `/api/orgs/${o.id}/members/${c.user.id}`, headers: admin.headers })
  t.equal(removed.statusCode, 204, removed.body)
  t.equal((await r.session(c.headers, o.id)).statusCode, 403, 'removed from the organisation: no token')
})

t.test('a change made while the API\'s LISTEN connection was down is not answered from memory once it is back', async (t) => {
  const r = await rig(t, { env: { SESSION_CACHE_TTL_MS: '300000' } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  t.equal((await r.session(headers, o.id)).statusCode, 200)
  t.equal((await r.session(headers, o.id)).statusCode, 200, 'warm')
  // This app's LISTEN connection (postgres.js keeps one per pool; listening again tells its pid).
  const { state, unlisten } = await r.sql.listen(SESSION_STATE_CHANNEL, () => {})
  await unlisten()
  await r.sql`select pg_terminate_backend(${state.pid}::int)`
  await r.sql`delete from org_members where org_id = ${o.id} and user_id = ${user.id}`
  const status = await until(async () => { const s = (await r.session(headers, o.id)).statusCode; return s === 200 ? undefined : s }, 5_000)
  t.equal(status, 403, 'the removal is seen (the cache was emptied when LISTEN came back)')
})

t.test('SESSION_CACHE_TTL_MS=0: every warm session reads Postgres', async (t) => {
  const r = await rig(t, { env: { SESSION_CACHE_TTL_MS: '0' } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  t.equal((await r.session(headers, o.id)).statusCode, 200)
  t.equal((await r.session(headers, o.id)).statusCode, 200)
  await r.sql`update users set status = 'disabled' where id = ${user.id}`
  t.equal((await r.session(headers, o.id)).statusCode, 401, 'seen without waiting for a notification')
})

t.test('a team name taken in Mattermost by someone else gets a suffix; a taken username is a clear 409', async (t) => {
  const r = await rig(t)
  const slug = `taken${uniq()}`
  r.sim.createTeam({ name: slug, displayName: 'Not ours' })
  const o = await r.org({ slug })
  const { headers } = await r.member(o.id)
  const res = await r.session(headers, o.id)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().teamName, `${slug}-2`)

  const username = `clash${uniq()}`
  r.sim.createUser({ username, email: `someone-else-${uniq()}@example.com` })
  const clash = await r.member(o.id, 'member', { username })
  const conflict = await r.session(clash.headers, o.id)
  t.equal(conflict.statusCode, 409)
  t.match(conflict.json().message, new RegExp(`username "${username}" is taken`))

  // Reserved slug prefix: still a valid name.
  const o3 = await r.org({ slug: `api-${uniq()}` })
  const m3 = await r.member(o3.id)
  const res3 = await r.session(m3.headers, o3.id)
  t.equal(res3.statusCode, 200)
  t.match(res3.json().teamName, /^team-api-/)
})

t.test('a user created in Mattermost by a crashed attempt (same username and email) is adopted, not duplicated', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const username = `adopt${uniq()}`
  const existing = r.sim.createUser({ username, email: `${username}@users.parley.invalid` })
  const m = await r.member(o.id, 'member', { username })
  const res = await r.session(m.headers, o.id)
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().mmUserId, existing.id)
})

t.test('personal access tokens disabled on the server: 500 naming the Mattermost setting', async (t) => {
  const r = await rig(t, { sim: { EnableUserAccessTokens: false } })
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const res = await r.session(headers, o.id)
  t.equal(res.statusCode, 500)
  t.match(res.json(), { code: 'PARLEY_MATTERMOST_TOKENS_DISABLED', message: /EnableUserAccessTokens/ })
  // Nothing half-provisioned that a retry cannot finish: enabling tokens makes the retry succeed.
  r.sim.config.EnableUserAccessTokens = true
  const retry = await r.session(headers, o.id)
  t.equal(retry.statusCode, 200, retry.body)
  t.equal(r.sim.callCount('POST /api/v4/users'), 1, 'the Mattermost user of the first attempt was reused')
})

t.test('Mattermost down: 503 with Retry-After while the worker retries; afterwards the session works', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const { headers } = await r.member(o.id)
  r.sim.faults.down(true)
  const res = await r.session(headers, o.id)
  t.equal(res.statusCode, 503, res.body)
  t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After set')
  t.match(res.json(), { code: 'PARLEY_UNAVAILABLE', message: /Mattermost is unavailable/ })
  r.sim.faults.down(false)
  const ok = await r.session(headers, o.id) // promotes the waiting retry
  t.equal(ok.statusCode, 200, ok.body)
})

t.test('Redis down: a session that needs provisioning answers 503 with Retry-After', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const { headers } = await r.member(o.id)
  r.redis.disconnect()
  const res = await r.session(headers, o.id)
  t.equal(res.statusCode, 503, res.body)
  t.equal(res.headers['retry-after'], '5')
  t.match(res.json().message, /job queue is unavailable/)
  await reconnectRedis(r.redis)
  t.equal((await r.session(headers, o.id)).statusCode, 200, 'works again once Redis is back')
})

t.test('no worker: the session request times out with 504 (and may be retried)', async (t) => {
  const r = await rig(t, { noWorker: true, env: { SESSION_WAIT_TIMEOUT_MS: '300' } })
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const res = await r.session(headers, o.id)
  t.equal(res.statusCode, 504)
  t.match(res.json().message, /did not finish within 300 ms/)
})

t.test('Mattermost not configured: 500 naming MATTERMOST_URL; config says disabled', async (t) => {
  const h = await build(t, { MATTERMOST_URL: '' })
  const user = await h.createUser()
  const { insertOrganization, upsertOrgMember } = await import('@parley/db')
  const o = (await insertOrganization(h.db, { name: 'x', slug: `x${uniq()}` }))!
  await upsertOrgMember(h.db, o.id, user.id, 'member')
  const headers = { authorization: `Bearer ${h.tokenFor(user)}` }
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', headers, payload: { organizationId: o.id } })
  t.equal(res.statusCode, 500)
  t.match(res.json(), { statusCode: 500, code: 'PARLEY_MATTERMOST_NOT_CONFIGURED', message: /MATTERMOST_URL is not set/ })
  const cfg = await h.app.inject({ method: 'GET', url: '/api/v1/mattermost/config', headers })
  t.same(cfg.json(), { enabled: false, baseUrl: null })
})

t.test('config: 401 without a session; baseUrl is MATTERMOST_PUBLIC_URL, else the server URL', async (t) => {
  const h = await build(t, { MATTERMOST_URL: 'http://mm.internal:8065/', MATTERMOST_PUBLIC_URL: 'https://chat.example.com/' })
  const user = await h.createUser()
  t.equal((await h.app.inject({ method: 'GET', url: '/api/v1/mattermost/config' })).statusCode, 401)
  const res = await h.app.inject({ method: 'GET', url: '/api/v1/mattermost/config', headers: { authorization: `Bearer ${h.tokenFor(user)}` } })
  t.same(res.json(), { enabled: true, baseUrl: 'https://chat.example.com' })
  const h2 = await build(t, { MATTERMOST_URL: 'http://mm.internal:8065' })
  const u2 = await h2.createUser()
  const res2 = await h2.app.inject({ method: 'GET', url: '/api/v1/mattermost/config', headers: { authorization: `Bearer ${h2.tokenFor(u2)}` } })
  t.same(res2.json(), { enabled: true, baseUrl: 'http://mm.internal:8065' })
})

