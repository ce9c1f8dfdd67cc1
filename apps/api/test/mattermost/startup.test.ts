/**
 * Start-up refuses a missing or malformed TOKEN_ENCRYPTION_KEYS when Mattermost is configured
 * (issue 3 "Personal access tokens"), naming the variable and never printing key material.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../../', import.meta.url))

const start = (script: string, env: Record<string, string>) => new Promise<{ code: number | null, stderr: string }>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { PATH: process.env.PATH ?? '', JWT_SECRET: 'x'.repeat(40), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  child.on('close', (code) => resolve({ code, stderr }))
})

t.test('API and worker stop at start-up without a usable token key', async (t) => {
  const [apiMissing, workerMalformed] = await Promise.all([
    start('apps/api/src/server.ts', { MATTERMOST_URL: 'http://127.0.0.1:8065' }),
    start('apps/worker/src/main.ts', { MATTERMOST_URL: 'http://127.0.0.1:8065', TOKEN_ENCRYPTION_KEYS: 'k1:c2VjcmV0LXRvby1zaG9ydA==' })
  ])
  t.equal(apiMissing.code, 1)
  t.match(apiMissing.stderr, /parley-api: TOKEN_ENCRYPTION_KEYS is required when MATTERMOST_URL is set/)
  t.equal(workerMalformed.code, 1)
  t.match(workerMalformed.stderr, /parley-worker: TOKEN_ENCRYPTION_KEYS key "k1" must be 32 bytes/)
  t.notOk(workerMalformed.stderr.includes('c2VjcmV0LXRvby1zaG9ydA'), 'key material not printed')
})
