import { Writable } from 'node:stream'
import t from 'tap'
import { PASSWORD, build } from '../helper.js'
import { redactPaths } from '../../src/app.js'

t.test('logs carry request ids and never a password, token, API key or cookie', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const h = await build(t, {}, { logger: { level: 'trace', redact: { paths: redactPaths, censor: '[redacted]' }, stream } })
  const user = await h.createUser()
  const login = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: PASSWORD } })
  const { token } = login.json()
  await h.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })
  await h.app.inject({ method: 'GET', url: '/api/auth/me', cookies: { parley_session: token } })
  await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: user.username, password: `${PASSWORD}-wrong` } })
  const key = await h.apiKey(['notifications:send'])
  await h.app.inject({ method: 'GET', url: '/api/notifications/status', headers: key.headers })
  await h.app.inject({ method: 'GET', url: '/api/notifications/status', headers: { authorization: 'Bearer prl_not-a-real-key-but-secret-looking' } })
  const admin = await h.admin()
  const created = (await h.app.inject({ method: 'POST', url: '/api/admin/api-keys', headers: admin.headers, payload: { name: 'x', scopes: ['gateway:read'] } })).json()

  const all = lines.join('')
  const completed = lines.map(l => JSON.parse(l)).filter(l => l.msg === 'request completed')
  t.equal(completed.length, 7, 'one line per request')
  t.match(completed[0], { reqId: /^req-/, method: 'POST', url: '/api/auth/login', statusCode: 200, ms: Number }, 'with request id, route, status and time')
  for (const secret of [PASSWORD, token, key.key, created.key, 'prl_not-a-real-key-but-secret-looking', admin.headers.authorization.slice(7)]) {
    t.notOk(all.includes(secret), `secret ${secret.slice(0, 6)}… is not in the logs`)
  }
})
