/**
 * Directory (issue 3): organisations and members, backend users by external id, sessions for them,
 * and the sync-user job a create/update enqueues (seed's UserObserver).
 */
import t from 'tap'
import { findMattermostAccount } from '@parley/db'
import { uniq } from '../../../../test/env.js'
import { build } from '../helper.js'
import { rig } from '../mattermost/setup.js'
import { waitForJob } from '../../src/routes/mattermost/jobs.js'
import { mattermostJobId } from '@parley/queue'

t.test('organisations: create, read, patch; who may; 400/404/409', async (t) => {
  const h = await build(t)
  const key = await h.apiKey(['directory:write'])
  const admin = await h.admin()
  const user = await h.createUser()
  const userHeaders = { authorization: `Bearer ${h.tokenFor(user)}` }
  const slug = `acme-${uniq()}`

  t.equal((await h.app.inject({ method: 'POST', url: '/api/orgs', payload: { name: 'Acme', slug } })).statusCode, 401)
  t.equal((await h.app.inject({ method: 'POST', url: '/api/orgs', headers: userHeaders, payload: { name: 'Acme', slug } })).statusCode, 403)
  const wrongKey = await h.apiKey(['gateway:read'])
  t.equal((await h.app.inject({ method: 'POST', url: '/api/orgs', headers: wrongKey.headers, payload: { name: 'Acme', slug } })).statusCode, 403)
  const bad = await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'Acme', slug: 'has space' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().message, /slug/)
  t.equal((await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'Acme', slug, extra: true } })).statusCode, 400)

  const created = await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'Acme', slug } })
  t.equal(created.statusCode, 201)
  const org = created.json()
  t.match(org, { name: 'Acme', slug, mattermostTeam: null })
  const dup = await h.app.inject({ method: 'POST', url: '/api/orgs', headers: admin.headers, payload: { name: 'Other', slug: slug.toUpperCase() } })
  t.equal(dup.statusCode, 409, 'slugs are unique regardless of case')

  t.same((await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}`, headers: admin.headers })).json(), org)
  t.equal((await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}`, headers: userHeaders })).statusCode, 403)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/orgs/00000000-0000-4000-8000-000000000000', headers: key.headers })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/orgs/not-a-uuid', headers: key.headers })).statusCode, 400)

  const patched = await h.app.inject({ method: 'PATCH', url: `/api/orgs/${org.id}`, headers: key.headers, payload: { name: 'Acme Corp' } })
  t.equal(patched.statusCode, 200)
  t.equal(patched.json().name, 'Acme Corp')
  t.equal((await h.app.inject({ method: 'PATCH', url: `/api/orgs/${org.id}`, headers: key.headers, payload: {} })).statusCode, 400)
  const other = (await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'B', slug: `b-${uniq()}` } })).json()
  t.equal((await h.app.inject({ method: 'PATCH', url: `/api/orgs/${other.id}`, headers: key.headers, payload: { slug } })).statusCode, 409)
  t.equal((await h.app.inject({ method: 'PATCH', url: '/api/orgs/00000000-0000-4000-8000-000000000000', headers: key.headers, payload: { name: 'x' } })).statusCode, 404)
})

t.test('members: put (201 then 200), list paginated, delete; org admins manage their own org only', async (t) => {
  const h = await build(t)
  const key = await h.apiKey(['directory:write'])
  const org = (await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'Acme', slug: `m-${uniq()}` } })).json()
  const otherOrg = (await h.app.inject({ method: 'POST', url: '/api/orgs', headers: key.headers, payload: { name: 'Other', slug: `o-${uniq()}` } })).json()
  const [a, b, c] = await Promise.all([h.createUser(), h.createUser(), h.createUser()])
  const put = (headers: Record<string, string>, orgId: string, userId: string, role: string) =>
    h.app.inject({ method: 'PUT', url: `/api/orgs/${orgId}/members/${userId}`, headers, payload: { role } })

  const first = await put(key.headers, org.id, a.id, 'admin')
  t.equal(first.statusCode, 201)
  t.match(first.json(), { userId: a.id, username: a.username, role: 'admin' })
  t.equal((await put(key.headers, org.id, a.id, 'admin')).statusCode, 200, 'idempotent')
  t.equal((await put(key.headers, org.id, b.id, 'owner')).statusCode, 400)
  t.equal((await put(key.headers, org.id, '00000000-0000-4000-8000-000000000000', 'member')).statusCode, 404)
  t.equal((await put(key.headers, '00000000-0000-4000-8000-000000000000', b.id, 'member')).statusCode, 404)

  const orgAdmin = { authorization: `Bearer ${h.tokenFor(a)}` }
  t.equal((await put(orgAdmin, org.id, b.id, 'member')).statusCode, 201, 'org admin adds a member')
  t.equal((await put(orgAdmin, org.id, c.id, 'member')).statusCode, 201)
  t.equal((await put(orgAdmin, otherOrg.id, b.id, 'member')).statusCode, 403, 'not in another org')
  const plain = { authorization: `Bearer ${h.tokenFor(b)}` }
  t.equal((await put(plain, org.id, b.id, 'admin')).statusCode, 403, 'a plain member cannot promote themself')

  const page1 = await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}/members?limit=2`, headers: orgAdmin })
  t.equal(page1.statusCode, 200)
  t.equal(page1.json().total, 3)
  t.equal(page1.json().items.length, 2)
  const page2 = await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}/members?limit=2&offset=2`, headers: key.headers })
  t.equal(page2.json().items.length, 1)
  t.same(new Set([...page1.json().items, ...page2.json().items].map((m: { userId: string }) => m.userId)), new Set([a.id, b.id, c.id]))
  t.equal((await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}/members?limit=0`, headers: key.headers })).statusCode, 400)

  t.equal((await h.app.inject({ method: 'DELETE', url: `/api/orgs/${org.id}/members/${c.id}`, headers: plain })).statusCode, 403)
  t.equal((await h.app.inject({ method: 'DELETE', url: `/api/orgs/${org.id}/members/${c.id}`, headers: orgAdmin })).statusCode, 204)
  t.equal((await h.app.inject({ method: 'DELETE', url: `/api/orgs/${org.id}/members/${c.id}`, headers: orgAdmin })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: `/api/orgs/${org.id}/members`, headers: key.headers })).json().total, 2)
})

t.test('directory users: create/update by external id, 409 on a taken username, sessions for them', async (t) => {
  const h = await build(t, { MATTERMOST_URL: '' })
  const key = await h.apiKey(['directory:write'])
  const ext = `ext-${uniq()}`
  const username = `dir${uniq()}`
  const put = (payload: Record<string, unknown>, headers: Record<string, string> = key.headers, id = ext) =>
    h.app.inject({ method: 'PUT', url: `/api/directory/users/${id}`, headers, payload })

  t.equal((await put({ username, displayName: 'D' }, {})).statusCode, 401)
  t.equal((await put({ username, displayName: 'D' }, (await h.apiKey(['gateway:read'])).headers)).statusCode, 403)
  t.equal((await put({ username: 'bad name', displayName: 'D' })).statusCode, 400)
  t.equal((await put({ username, displayName: 'D', email: 'not-an-email' })).statusCode, 400)
  const created = await put({ username, displayName: 'Dora', email: 'Dora@Example.com' })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { externalId: ext, username, displayName: 'Dora', email: 'dora@example.com' })
  const updated = await put({ username, displayName: 'Dora M.', email: null })
  t.equal(updated.statusCode, 200)
  t.equal(updated.json().id, created.json().id, 'same Parley user')
  t.match(updated.json(), { displayName: 'Dora M.', email: null })
  const taken = await put({ username, displayName: 'X' }, key.headers, `ext-${uniq()}`)
  t.equal(taken.statusCode, 409)
  t.match(taken.json().message, /taken/)

  const s = await h.app.inject({ method: 'POST', url: `/api/directory/users/${ext}/sessions`, headers: key.headers })
  t.equal(s.statusCode, 201)
  const { token, expiresAt } = s.json()
  t.ok(Date.parse(expiresAt) > Date.now())
  const me = await h.app.inject({ method: 'GET', url: '/api/v1/mattermost/config', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200, 'the session JWT signs the user in')
  const viaCookie = await h.app.inject({ method: 'GET', url: '/api/v1/mattermost/config', cookies: { parley_session: token } })
  t.equal(viaCookie.statusCode, 200, 'also as the session cookie')
  t.equal((await h.app.inject({ method: 'POST', url: '/api/directory/users/nobody-here/sessions', headers: key.headers })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'POST', url: `/api/directory/users/${ext}/sessions` })).statusCode, 401)
})

t.test('creating or updating a directory user syncs it to Mattermost with a token (sync-user job)', async (t) => {
  const r = await rig(t)
  const key = await r.apiKey(['directory:write'])
  const ext = `sync-${uniq()}`
  const username = `sync${uniq()}`
  const created = await r.app.inject({ method: 'PUT', url: `/api/directory/users/${ext}`, headers: key.headers, payload: { username, displayName: 'Syd', email: `${username}@example.com` } })
  t.equal(created.statusCode, 201)
  const userId = created.json().id
  /** Waits for the sync-user job of the user's current revision (its id carries `updated_at`). */
  const synced = async () => {
    const [{ updated_at: at }] = await r.sql`select updated_at from users where id = ${userId}`
    await waitForJob(r.queues.mattermost, r.queues.mattermostEvents, mattermostJobId.syncUser(userId, new Date(at).getTime()), 10_000)
  }
  await synced()
  const account = (await findMattermostAccount(r.db, userId))!
  t.ok(account?.tokenEnc, 'token issued and stored')
  t.equal(r.sim.getUser(account.mmUserId)?.first_name, 'Syd')

  const renamed = await r.app.inject({ method: 'PUT', url: `/api/directory/users/${ext}`, headers: key.headers, payload: { username, displayName: 'Sydney', email: `${username}@example.com` } })
  t.equal(renamed.statusCode, 200)
  await synced()
  t.equal(r.sim.getUser(account.mmUserId)?.first_name, 'Sydney', 'profile update reached Mattermost')
  t.equal(r.sim.getAccessTokens(account.mmUserId).length, 1, 'the token was kept, not re-issued')
  const unchanged = r.sim.callCount()
  t.equal((await r.app.inject({ method: 'PUT', url: `/api/directory/users/${ext}`, headers: key.headers, payload: { username, displayName: 'Sydney', email: `${username}@example.com` } })).statusCode, 200)
  t.equal(r.sim.callCount(), unchanged, 'an update that changes nothing enqueues nothing')
})
