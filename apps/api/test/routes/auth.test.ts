import t from 'tap'
import argon2 from 'argon2'
import { PASSWORD, build } from '../helper.js'

t.test('login and me', async (t) => {
  const h = await build(t)
  const user = await h.createUser({ manager: true })

  const bad = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: 'wrong password' } })
  t.equal(bad.statusCode, 401)
  t.notMatch(bad.body, /wrong password/, 'the password is not echoed')
  t.equal((await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody-here', password: PASSWORD } })).statusCode, 401)
  t.equal((await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username } })).statusCode, 400)

  const res = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username.toUpperCase(), password: PASSWORD } })
  t.equal(res.statusCode, 200, 'usernames are case-insensitive')
  const { token, user: shown } = res.json()
  t.same(shown, { id: user.id, username: user.username, displayName: 'Test User', role: 'user', manager: true, presenceStatus: 'offline', idleTimeoutMinutes: 5 })
  const cookie = res.cookies.find(c => c.name === 'parley_session')
  t.ok(cookie?.httpOnly, 'httpOnly cookie')
  t.equal(cookie?.sameSite, 'Lax')

  const viaBearer = await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(viaBearer.statusCode, 200)
  t.equal(viaBearer.json().id, user.id)
  const viaCookie = await h.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { parley_session: cookie!.value } })
  t.equal(viaCookie.statusCode, 200)

  t.equal((await h.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode, 401)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}x` } })).statusCode, 401, 'tampered JWT')
  t.equal((await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: 'Basic abc' } })).statusCode, 401)

  await h.sql`update users set session_version = session_version + 1 where id = ${user.id}`
  t.equal((await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401, 'signed out everywhere')
})

t.test('passwords are argon2id with the OWASP parameters; older hashes are upgraded at login', async (t) => {
  const h = await build(t)
  const fresh = await h.createUser()
  t.match(fresh.passwordHash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/, 'm = 19 MiB, t = 2, p = 1')

  const legacyHash = await argon2.hash(PASSWORD, { type: argon2.argon2id }) // argon2's defaults: m = 64 MiB, t = 3, p = 4
  const legacy = await h.createUser({ passwordHash: legacyHash })
  const bad = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: legacy.username, password: 'not it' } })
  t.equal(bad.statusCode, 401)
  t.equal((await h.sql`select password_hash from users where id = ${legacy.id}`)[0].password_hash, legacyHash, 'a failed login changes nothing')
  const res = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: legacy.username, password: PASSWORD } })
  t.equal(res.statusCode, 200, 'a hash made with other parameters still verifies')
  const [row] = await h.sql`select password_hash, session_version from users where id = ${legacy.id}`
  t.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/, 'and is re-hashed with the current parameters')
  t.equal(row.session_version, legacy.sessionVersion, 'without signing the user out')
  const again = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: legacy.username, password: PASSWORD } })
  t.equal(again.statusCode, 200, 'the upgraded hash verifies')
  const me = await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${res.json().token}` } })
  t.equal(me.statusCode, 200, 'the session from before the upgrade is still valid')
})

t.test('disabled users cannot sign in', async (t) => {
  const h = await build(t)
  const user = await h.createUser({ status: 'disabled' })
  t.equal((await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: PASSWORD } })).statusCode, 401)
})

t.test('login is rate-limited per address and username', async (t) => {
  const h = await build(t, { LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
  const user = await h.createUser()
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: 'nope-nope' } })).statusCode)
  t.same(codes, [401, 401, 401, 429])
  const limited = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set')
})

t.test('API keys', async (t) => {
  const h = await build(t)
  const admin = await h.admin()
  const created = await h.app.inject({ method: 'POST', url: '/api/admin/api-keys', headers: admin.headers, payload: { name: 'billing', scopes: ['notifications:send'] } })
  t.equal(created.statusCode, 201)
  const { id, key } = created.json()
  t.match(key, /^prl_/)
  const stored = await h.sql`select key_hash from api_keys where id = ${id}`
  t.not(stored[0].key_hash, key, 'only a hash is stored')

  const list = (await h.app.inject({ method: 'GET', url: '/api/admin/api-keys', headers: admin.headers })).json()
  const row = list.items.find((k: { id: string }) => k.id === id)
  t.match(row, { name: 'billing', scopes: ['notifications:send'] })
  t.notOk(JSON.stringify(list).includes(key), 'the list never shows the key')

  const status = () => h.app.inject({ method: 'GET', url: '/api/notifications/status', headers: { authorization: `Bearer ${key}` } })
  t.equal((await status()).statusCode, 200, 'the key works')
  t.equal((await h.app.inject({ method: 'DELETE', url: `/api/admin/api-keys/${id}`, headers: admin.headers })).statusCode, 204)
  t.equal((await status()).statusCode, 401, 'a revoked key stops working at once')
  t.equal((await h.app.inject({ method: 'DELETE', url: `/api/admin/api-keys/${id}`, headers: admin.headers })).statusCode, 404)

  for (const payload of [{ name: 'x', scopes: ['root'] }, { name: '', scopes: ['gateway:read'] }, { name: 'x', scopes: [] }, { name: 'x', scopes: ['gateway:read'], extra: true }]) {
    t.equal((await h.app.inject({ method: 'POST', url: '/api/admin/api-keys', headers: admin.headers, payload })).statusCode, 400, JSON.stringify(payload))
  }
  const user = await h.createUser()
  t.equal((await h.app.inject({ method: 'GET', url: '/api/admin/api-keys', headers: { authorization: `Bearer ${h.tokenFor(user)}` } })).statusCode, 403)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/admin/api-keys', headers: { authorization: `Bearer ${key}` } })).statusCode, 401)
})
