import t from 'tap'
import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { runMigrations, users } from '@parley/db'
import { PASSWORD, build } from '../helper.js'
import { privateTestDatabase, uniq } from '../../../../test/env.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('admin user management', async (t) => {
  const { app, db, createUser, tokenFor, admin } = await build(t)
  const { headers } = await admin()
  const moderator = await createUser({ role: 'moderator' })
  const mh = auth(tokenFor(moderator))
  const plain = await createUser()
  const ph = auth(tokenFor(plain))

  t.test('create', async (t) => {
    const username = `bot_${uniq()}`
    const res = await app.inject({ method: 'POST', url: '/api/admin/users', headers, payload: { username, displayName: 'Bot', password: 's3cret-pass', role: 'user', manager: true } })
    t.equal(res.statusCode, 201)
    t.match(res.json(), { username, displayName: 'Bot', role: 'user', manager: true, status: 'active', hasPassword: true })
    t.notOk('passwordHash' in res.json())
    const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: 's3cret-pass' } })
    t.equal(login.statusCode, 200, 'the new user can sign in')
    t.equal((await app.inject({ method: 'POST', url: '/api/admin/users', headers, payload: { username: username.toUpperCase(), password: 's3cret-pass' } })).statusCode, 409, 'usernames are unique regardless of case')
    for (const payload of [{ username: 'has space', password: 's3cret-pass' }, { username: `x${uniq()}`, password: 'short' }, { username: `x${uniq()}`, password: 's3cret-pass', role: 'root' }, { username: `x${uniq()}`, password: 's3cret-pass', manager: 'yes' }]) {
      t.equal((await app.inject({ method: 'POST', url: '/api/admin/users', headers, payload })).statusCode, 400, JSON.stringify(payload))
    }
    t.equal((await app.inject({ method: 'POST', url: '/api/admin/users', headers: mh, payload: { username: `m${uniq()}`, password: 's3cret-pass' } })).statusCode, 403, 'moderators cannot create users')
    t.equal((await app.inject({ method: 'POST', url: '/api/admin/users', headers: ph, payload: { username: `p${uniq()}`, password: 's3cret-pass' } })).statusCode, 403)
  })

  t.test('list and stats: admins and moderators', async (t) => {
    const tag = uniq()
    const target = await createUser({ username: `find_${tag}`, manager: true })
    for (const h of [headers, mh]) {
      const res = await app.inject({ url: `/api/admin/users?q=${tag}`, headers: h })
      t.equal(res.statusCode, 200)
      t.match(res.json(), { total: 1, items: [{ id: target.id, manager: true }] })
    }
    t.equal((await app.inject({ url: '/api/admin/users', headers: ph })).statusCode, 403)
    t.equal((await app.inject({ url: '/api/admin/users?role=king', headers })).statusCode, 400)
    const stats = await app.inject({ url: '/api/admin/stats', headers: mh })
    t.equal(stats.statusCode, 200)
    t.ok(stats.json().users.total >= 3)
    t.ok(stats.json().users.admins >= 1)
    t.match(stats.json(), { conversations: { total: Number }, messages: { total: Number }, sockets: { thisReplica: 0 } })
    t.equal((await app.inject({ url: '/api/admin/stats', headers: ph })).statusCode, 403)
  })

  t.test('patch: role, manager, status; what moderators may do', async (t) => {
    const u = await createUser({ manager: true, managerTokenEnc: 'v1.k1.x.y.z' })
    const url = `/api/admin/users/${u.id}`
    const promoted = await app.inject({ method: 'PATCH', url, headers, payload: { role: 'moderator' } })
    t.equal(promoted.json().role, 'moderator')
    const demoted = await app.inject({ method: 'PATCH', url, headers, payload: { role: 'user', manager: false } })
    t.match(demoted.json(), { role: 'user', manager: false })
    t.equal((await db.select().from(users).where(eq(users.id, u.id)))[0].managerTokenEnc, null, 'a former manager keeps no token')
    t.equal((await app.inject({ method: 'PATCH', url, headers, payload: {} })).statusCode, 400, 'at least one field')
    t.equal((await app.inject({ method: 'PATCH', url, headers, payload: { status: 'banned' } })).statusCode, 400)
    t.equal((await app.inject({ method: 'PATCH', url: `/api/admin/users/${randomUUID()}`, headers, payload: { status: 'disabled' } })).statusCode, 404)

    const token = tokenFor((await db.select().from(users).where(eq(users.id, u.id)))[0])
    const disabled = await app.inject({ method: 'PATCH', url, headers: mh, payload: { status: 'disabled' } })
    t.equal(disabled.statusCode, 200, 'a moderator may disable a user')
    t.equal((await app.inject({ url: '/api/auth/me', headers: auth(token) })).statusCode, 401, 'its sessions end at once')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: u.username, password: PASSWORD } })).statusCode, 401, 'and it cannot sign in')
    t.equal((await app.inject({ method: 'PATCH', url, headers: mh, payload: { status: 'active' } })).statusCode, 200, 'and re-enable it')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: u.username, password: PASSWORD } })).statusCode, 200)
    t.equal((await app.inject({ method: 'PATCH', url, headers: mh, payload: { role: 'admin' } })).statusCode, 403, 'but not change roles')
    t.equal((await app.inject({ method: 'PATCH', url, headers: mh, payload: { manager: true } })).statusCode, 403, 'or the manager flag')
    const otherModerator = await createUser({ role: 'moderator' })
    t.equal((await app.inject({ method: 'PATCH', url: `/api/admin/users/${otherModerator.id}`, headers: mh, payload: { status: 'disabled' } })).statusCode, 403, 'or touch moderators')
    t.equal((await app.inject({ method: 'PATCH', url, headers: ph, payload: { status: 'disabled' } })).statusCode, 403)
  })

  t.test('reset password', async (t) => {
    const u = await createUser()
    const token = tokenFor(u)
    const url = `/api/admin/users/${u.id}/reset-password`
    t.equal((await app.inject({ method: 'POST', url, headers: mh })).statusCode, 403, 'admins only')
    const generated = await app.inject({ method: 'POST', url, headers })
    t.equal(generated.statusCode, 200)
    const temporary = generated.json().temporaryPassword
    t.ok(temporary.length >= 12)
    t.equal((await app.inject({ url: '/api/auth/me', headers: auth(token) })).statusCode, 401, 'signed out everywhere')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: u.username, password: temporary } })).statusCode, 200)
    const chosen = await app.inject({ method: 'POST', url, headers, payload: { newPassword: 'chosen-by-admin' } })
    t.same(chosen.json(), { id: u.id }, 'a chosen password is not echoed')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: u.username, password: 'chosen-by-admin' } })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url, headers, payload: { newPassword: 'short' } })).statusCode, 400)
  })

  t.test('delete', async (t) => {
    const u = await createUser()
    const token = tokenFor(u)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${u.id}`, headers: mh })).statusCode, 403, 'admins only')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${u.id}`, headers })).statusCode, 204)
    t.equal((await app.inject({ url: '/api/auth/me', headers: auth(token) })).statusCode, 401)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${u.id}`, headers })).statusCode, 404, 'already gone')
    t.same((await app.inject({ url: `/api/users?q=${u.username}`, headers: ph })).json().users, [], 'left out of the directory')
    t.equal((await app.inject({ url: `/api/admin/users?q=${u.username}`, headers })).json().total, 0)
  })
})

t.test('nobody can remove the last admin', async (t) => {
  // Its own database: the shared test database has admins from every other test file.
  const url = privateTestDatabase(t, 'admins')
  await runMigrations(url)
  const { app, db, createUser, tokenFor } = await build(t, { DATABASE_URL: url })
  const only = await createUser({ role: 'admin' })
  const h = auth(tokenFor(only))
  const self = `/api/admin/users/${only.id}`
  for (const payload of [{ role: 'user' }, { role: 'moderator' }, { status: 'disabled' }]) {
    const res = await app.inject({ method: 'PATCH', url: self, headers: h, payload })
    t.equal(res.statusCode, 409, JSON.stringify(payload))
    t.match(res.json().message, /last active admin/)
  }
  t.equal((await app.inject({ method: 'DELETE', url: self, headers: h })).statusCode, 409)
  t.equal((await app.inject({ method: 'PATCH', url: self, headers: h, payload: { manager: true } })).statusCode, 200, 'other changes are fine')

  const second = await createUser({ role: 'admin' })
  const h2 = auth(tokenFor(second))
  // Both try to demote each other at once: one must stay admin.
  const both = await Promise.all([
    app.inject({ method: 'PATCH', url: `/api/admin/users/${second.id}`, headers: h, payload: { role: 'user' } }),
    app.inject({ method: 'PATCH', url: self, headers: h2, payload: { role: 'user' } })
  ])
  t.equal(both.filter(r => r.statusCode === 200).length, 1, 'exactly one demotion goes through')
  // The other is refused: 409 when both checked at once (the lock), 403 when its actor was already demoted.
  t.ok(both.some(r => r.statusCode === 409 || r.statusCode === 403))
  const admins = await db.select().from(users).where(eq(users.role, 'admin'))
  t.equal(admins.length, 1, 'one admin remains')

  const third = await createUser({ role: 'admin' })
  const survivor = both[0].statusCode === 200 ? only : second
  t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${survivor.id}`, headers: auth(tokenFor(third)) })).statusCode, 204, 'an admin can go when another remains')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/admin/users/${third.id}`, headers: auth(tokenFor(third)) })).statusCode, 409, 'but not the last one, even itself')
})
