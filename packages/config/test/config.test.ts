import { spawnSync } from 'node:child_process'
import t from 'tap'
import { ApiConfigSchema, ConfigError, WorkerConfigSchema, loadConfig } from '../src/index.js'

const secret = 'x'.repeat(40)

t.test('defaults point at local Postgres and Redis', async (t) => {
  const c = loadConfig(ApiConfigSchema, { JWT_SECRET: secret })
  t.equal(c.DATABASE_URL, 'postgres://postgres@127.0.0.1:5432/parley')
  t.equal(c.REDIS_URL, 'redis://127.0.0.1:6379')
  t.equal(c.PORT, 3000)
  t.equal(c.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS, 3600)
  t.equal(c.MATTERMOST_URL, undefined)
})

t.test('numbers, booleans and aliases are read from strings', async (t) => {
  const c = loadConfig(ApiConfigSchema, { JWT_SECRET: secret, PORT: '8080', COOKIE_SECURE: 'true', GATEWAY_TOKEN: 'g'.repeat(20), MATTERMOST_SERVER_URL: 'https://chat.example.com' })
  t.equal(c.PORT, 8080)
  t.equal(c.COOKIE_SECURE, true)
  t.equal(c.EQUA_GATEWAY_TOKEN, 'g'.repeat(20), 'GATEWAY_TOKEN is an alias')
  t.equal(c.MATTERMOST_URL, 'https://chat.example.com', 'MATTERMOST_SERVER_URL is an alias')
  const w = loadConfig(WorkerConfigSchema, { NOTIFY_DM_POLICY: 'always', MATTERMOST_WS_RECONNECT_INTERVAL: '250' })
  t.equal(w.NOTIFY_DM_POLICY, 'always')
  t.equal(w.MATTERMOST_WS_RECONNECT_INTERVAL, 250)
})

t.test('a missing or bad value is one line naming the variable, never its value', async (t) => {
  t.throws(() => loadConfig(ApiConfigSchema, {}), new ConfigError('JWT_SECRET is required but not set'))
  const short = 'short-secret-value'
  const err = t.throws(() => loadConfig(ApiConfigSchema, { JWT_SECRET: short })) as Error
  t.match(err.message, /^JWT_SECRET is invalid/)
  t.notMatch(err.message, short, 'the secret is not printed')
  t.throws(() => loadConfig(ApiConfigSchema, { JWT_SECRET: secret, PORT: 'eighty' }), { message: /^PORT is invalid/ })
  t.throws(() => loadConfig(WorkerConfigSchema, { NOTIFY_DM_POLICY: 'sometimes' }), { message: /^NOTIFY_DM_POLICY is invalid/ })
  t.throws(() => loadConfig(ApiConfigSchema, { JWT_SECRET: secret, DATABASE_URL: 'not a url' }), { message: /^DATABASE_URL is invalid/ })
})

t.test('the API process stops at start with that line', async (t) => {
  const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', 'apps/api/src/server.ts'], {
    env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 60_000
  })
  const missing = run({})
  t.equal(missing.status, 1)
  t.equal(missing.stderr.trim(), 'parley-api: JWT_SECRET is required but not set')
  const badKeys = run({ JWT_SECRET: secret, TOKEN_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })
  t.equal(badKeys.status, 1)
  t.match(badKeys.stderr.trim(), /^parley-api: TOKEN_ENCRYPTION_KEYS key "k1" must be 32 bytes/)
  t.notMatch(badKeys.stderr, 'c2hvcnQ=', 'key material is not printed')
})
