/**
 * `npm run cli -- mattermost:sync-users --all|--missing` and `tokens:reencrypt`, run as real
 * processes against a database of their own (the commands act on every row, so they must not see
 * other test files' users) and a Mattermost simulator.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createDb, createTokenCipher, findMattermostAccount, insertOrganization, insertUser, runMigrations, upsertOrgMember } from '@parley/db'
import { startSimulator } from '@parley/mattermost-sim'
import { createMattermostClient } from '@parley/mattermost'
import { WorkerConfigSchema, loadConfig } from '@parley/config'
import { pino } from 'pino'
import { createProvisioner } from '../src/mattermost-provisioning.js'
import { reencryptTokens, syncUsers } from '../src/commands.js'
import { TEST_REDIS_URL, privateTestDatabase, uniq } from '../../../test/env.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const K1 = `k1:${Buffer.alloc(32, 7).toString('base64')}`
const K2 = `k2:${Buffer.alloc(32, 11).toString('base64')}`

interface Run { code: number | null, stdout: string, stderr: string }

function cli (args: string[], env: Record<string, string>, onStderr?: (text: string, kill: () => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/cli.ts', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d; onStderr?.(stderr, () => child.kill('SIGINT')) })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('sync-users and tokens:reencrypt', async (t) => {
  const url = privateTestDatabase(t, 'cli')
  await runMigrations(url)
  const { db, sql, close } = createDb(url, { max: 4 })
  const sim = await startSimulator({ config: { EnableUserAccessTokens: true }, latencyMs: 2 })
  const { token: adminToken } = sim.createBot({ username: 'cli-admin', roles: 'system_admin system_user' })
  t.teardown(async () => {
    await close()
    await sim.close()
  })
  const env = { DATABASE_URL: url, REDIS_URL: TEST_REDIS_URL, MATTERMOST_URL: sim.url, MATTERMOST_ADMIN_BOT_TOKEN: adminToken, TOKEN_ENCRYPTION_KEYS: K1, LOG_LEVEL: 'warn' }

  const users = await Promise.all(['ann', 'bob', 'cy', 'dee', 'eve', 'fay'].map(n => insertUser(db, { username: `${n}${uniq()}`, displayName: n.toUpperCase() })))
  const clash = users[5]
  sim.createUser({ username: clash.username, email: `someone-else-${uniq()}@example.com` })
  await insertUser(db, { username: `off${uniq()}`, displayName: 'Off', status: 'disabled' })

  // Usage errors.
  t.equal((await cli(['mattermost:sync-users'], env)).code, 2, 'needs --all or --missing')

  // Interrupted run: stops after the users in flight, exit 130; running again continues.
  sim.faults.latencyMs = 40
  let killed = false
  const interrupted = await cli(['mattermost:sync-users', '--missing', '--concurrency', '1'], env, (text, kill) => {
    if (!killed && /1 processed/.test(text)) { killed = true; kill() }
  })
  t.equal(interrupted.code, 130, interrupted.stderr)
  t.match(interrupted.stdout, /interrupted: run again to continue/)
  const done = Number(/(\d+) processed/.exec(interrupted.stdout)![1])
  t.ok(done >= 1 && done < 6, `stopped early (${done} of 6)`)
  sim.faults.latencyMs = 2

  const missing = await cli(['mattermost:sync-users', '--missing'], env)
  t.equal(missing.code, 1, 'exit 1: one user failed')
  t.match(missing.stderr, /mattermost:sync-users: \d+ processed/, 'progress line on stderr')
  t.match(missing.stdout, new RegExp(`failed ${clash.username} \\(${clash.id}\\): \\[username_taken\\]`), 'failure with its reason')
  for (const u of users.slice(0, 5)) {
    const a = await findMattermostAccount(db, u.id)
    t.ok(a?.tokenEnc, `${u.username} has a token`)
    t.equal(sim.getAccessTokens(a!.mmUserId).length, 1, `${u.username}: exactly one token in Mattermost`)
  }
  const creates = sim.calls.filter(c => c.route === 'POST /api/v4/users' && (c.body as { username: string }).username !== clash.username)
  t.equal(creates.length, 5, 'each user created once across both runs')

  // The same commands in-process (spawning is slow): idempotent re-run, --all picks up a change.
  const config = loadConfig(WorkerConfigSchema, env)
  const provisioner = createProvisioner({ config, db, logger: pino({ level: 'silent' }), admin: createMattermostClient({ baseUrl: sim.url, token: adminToken }), tokenCipher: createTokenCipher(K1) })
  const again = await syncUsers(db, provisioner, { mode: 'missing' })
  t.match(again, { processed: 1, created: 0, updated: 0, tokensIssued: 0, failed: [{ userId: clash.id, reason: /^\[username_taken\]/ }] }, 'idempotent: only the failing user is left')

  await sql`update users set display_name = 'Ann Renamed', updated_at = now() + interval '1 second' where id = ${users[0].id}`
  const all = await syncUsers(db, provisioner, { mode: 'all' })
  t.match(all, { processed: 6, created: 0, updated: 1, tokensIssued: 0 })
  t.equal(sim.getUser((await findMattermostAccount(db, users[0].id))!.mmUserId)?.first_name, 'Ann Renamed')

  // Key rotation: new key first, old key kept for reading; re-encrypt moves every row.
  const before = await Promise.all(users.slice(0, 5).map(u => findMattermostAccount(db, u.id)))
  const plain = before.map(a => createTokenCipher(K1).decrypt(a!.tokenEnc!))
  const moved = await cli(['tokens:reencrypt'], { ...env, TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  t.equal(moved.code, 0, moved.stderr)
  t.match(moved.stdout, /5 token\(s\) moved to key "k2", 0 failed/)
  const k2only = createTokenCipher(K2)
  for (const [i, u] of users.slice(0, 5).entries()) {
    const a = (await findMattermostAccount(db, u.id))!
    t.equal(a.tokenKeyId, 'k2')
    t.equal(k2only.decrypt(a.tokenEnc!), plain[i], 'same token, new key: readable without the old key')
  }
  t.match(await reencryptTokens(db, createTokenCipher(`${K2},${K1}`)), { moved: 0, failed: [] }, 'idempotent')
  const badKey = await cli(['tokens:reencrypt'], { ...env, TOKEN_ENCRYPTION_KEYS: 'k9:short' })
  t.equal(badKey.code, 2, 'a malformed key stops the command')
  t.match(badKey.stderr, /k9/)
  t.notOk(badKey.stderr.includes('short'), 'key material is not printed')
  for (const p of plain) t.notOk((moved.stdout + moved.stderr + missing.stdout + missing.stderr).includes(p), 'tokens are never printed')

  // --org limits to one organisation's members.
  const org = (await insertOrganization(db, { name: 'O', slug: `o${uniq()}` }))!
  const newcomer = await insertUser(db, { username: `new${uniq()}`, displayName: 'New' })
  const outsider = await insertUser(db, { username: `out${uniq()}`, displayName: 'Out' })
  await upsertOrgMember(db, org.id, newcomer.id, 'member')
  const scoped = await syncUsers(db, provisioner, { mode: 'missing', orgId: org.id })
  t.match(scoped, { processed: 1, created: 1, updated: 0, tokensIssued: 1, failed: [] })
  t.notOk(await findMattermostAccount(db, outsider.id), 'non-member untouched')
})
