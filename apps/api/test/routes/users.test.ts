import t from 'tap'
import { eq } from 'drizzle-orm'
import { randomUUID } from 'node:crypto'
import { insertUpload, users } from '@parley/db'
import { PASSWORD, build } from '../helper.js'
import { uniq } from '../../../../test/env.js'

const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('directory search', async (t) => {
  const { app, createUser, tokenFor } = await build(t)
  const tag = uniq()
  const me = await createUser()
  const alice = await createUser({ username: `alice_${tag}`, displayName: 'Alice Liddell', manager: true })
  const bob = await createUser({ username: `bob_${tag}`, displayName: `Bob ${tag}` })
  await createUser({ username: `gone_${tag}`, status: 'disabled' })

  const res = await app.inject({ url: `/api/users?q=${tag}`, headers: auth(tokenFor(me)) })
  t.equal(res.statusCode, 200)
  const found = res.json().users
  t.same(found.map((u: { id: string }) => u.id).sort(), [alice.id, bob.id].sort(), 'matches username or display name; disabled users are left out')
  t.match(found.find((u: { id: string }) => u.id === alice.id), { manager: true, presenceStatus: 'offline', displayName: 'Alice Liddell' })
  t.notOk('passwordHash' in found[0], 'no secrets in the directory')

  const wild = await app.inject({ url: '/api/users?q=%25%25%25zzz', headers: auth(tokenFor(me)) })
  t.same(wild.json().users, [], 'LIKE wildcards in q are literal')
  t.equal((await app.inject({ url: '/api/users?limit=0', headers: auth(tokenFor(me)) })).statusCode, 400)
  t.equal((await app.inject({ url: '/api/users?q=x' })).statusCode, 401)
})

t.test('own profile: read, update, validation', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const me = await createUser({ displayName: 'Before' })
  const h = auth(tokenFor(me))
  const get = await app.inject({ url: '/api/users/me/profile', headers: h })
  t.equal(get.statusCode, 200)
  t.match(get.json(), { id: me.id, displayName: 'Before', idleTimeoutMinutes: 5, status: 'active' })
  t.notOk('managerToken' in get.json(), 'non-managers have no manager token field')

  // Issue 6: profile media URLs must name existing uploads (uploads.test.ts covers the upload itself).
  const photoUrl = `/uploads/photos/${randomUUID()}.png`
  const avatarUrl = `/uploads/avatars/${randomUUID()}.png`
  for (const [url, scope] of [[photoUrl, 'photo'], [avatarUrl, 'avatar']] as const) {
    await insertUpload(db, { id: randomUUID(), ownerId: me.id, scope, url, path: url.slice('/uploads/'.length), contentType: 'image/png', sizeBytes: 1 })
  }
  const put = await app.inject({
    method: 'PUT', url: '/api/users/me/profile', headers: h,
    payload: { displayName: 'Bot Operator', profileTheme: 'dark', profilePhotoUrl: photoUrl, avatarUrl, idleTimeoutMinutes: 15 }
  })
  t.equal(put.statusCode, 200, put.body)
  t.match(put.json(), { displayName: 'Bot Operator', profileTheme: 'dark', profilePhotoUrl: photoUrl, avatarUrl, idleTimeoutMinutes: 15 })
  t.match((await app.inject({ url: '/api/users/me/profile', headers: h })).json(), { displayName: 'Bot Operator' }, 'stored')

  const bad: [object, RegExp][] = [
    [{ idleTimeoutMinutes: 0 }, /idleTimeoutMinutes/],
    [{ idleTimeoutMinutes: 241 }, /idleTimeoutMinutes/],
    [{ idleTimeoutMinutes: '15' }, /idleTimeoutMinutes/],
    [{ presenceStatus: 'busy' }, /presenceStatus/],
    [{ displayName: '' }, /displayName/],
    [{ avatarUrl: 'javascript:alert(1)' }, /avatarUrl/],
    [{ nickname: 'x' }, /nickname is not allowed/]
  ]
  for (const [payload, message] of bad) {
    const res = await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json().message, message)
  }
  const notManager = await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload: { managerToken: 'N008G0NN4G1V3UP50E4SYMYPR3Y!!ASS' } })
  t.equal(notManager.statusCode, 403, 'only managers may set a manager token')
})

t.test('manager token: exactly 32 characters, encrypted at rest, shown only to its manager', async (t) => {
  const { app, db, createUser, tokenFor } = await build(t)
  const manager = await createUser({ manager: true })
  const other = await createUser()
  const h = auth(tokenFor(manager))
  const token = 'N008G0NN4G1V3UP50E4SYMYPR3Y!!ASS'
  t.equal((await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload: { managerToken: 'short' } })).statusCode, 400)
  t.equal((await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload: { managerToken: token + 'X' } })).statusCode, 400)
  const put = await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload: { managerToken: token } })
  t.equal(put.statusCode, 200)
  t.equal(put.json().managerToken, token)
  const [row] = await db.select().from(users).where(eq(users.id, manager.id))
  t.ok(row.managerTokenEnc, 'stored')
  t.notOk(row.managerTokenEnc!.includes(token), 'not in clear text')
  t.equal((await app.inject({ url: '/api/users/me/profile', headers: h })).json().managerToken, token)
  const search = await app.inject({ url: `/api/users?q=${manager.username}`, headers: auth(tokenFor(other)) })
  t.notOk(JSON.stringify(search.json()).includes(token), 'never in the directory')
  const clear = await app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: h, payload: { managerToken: '' } })
  t.equal(clear.json().managerToken, null, '"" clears it')
})

t.test('password change', async (t) => {
  const { app, createUser, tokenFor } = await build(t)
  const me = await createUser()
  const old = tokenFor(me)
  const url = '/api/users/me/password'
  t.equal((await app.inject({ method: 'POST', url, headers: auth(old), payload: { currentPassword: 'wrong password', newPassword: 'another secret' } })).statusCode, 403)
  const short = await app.inject({ method: 'POST', url, headers: auth(old), payload: { currentPassword: PASSWORD, newPassword: 'short' } })
  t.equal(short.statusCode, 400)
  t.match(short.json().message, /newPassword/)
  const ok = await app.inject({ method: 'POST', url, headers: auth(old), payload: { currentPassword: PASSWORD, newPassword: 'another secret' } })
  t.equal(ok.statusCode, 200)
  t.equal((await app.inject({ url: '/api/auth/me', headers: auth(old) })).statusCode, 401, 'older sessions are signed out')
  t.equal((await app.inject({ url: '/api/auth/me', headers: auth(ok.json().token) })).statusCode, 200, 'the answered token works')
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: me.username, password: 'another secret' } })
  t.equal(login.statusCode, 200, 'the new password signs in')
})
