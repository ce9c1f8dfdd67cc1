/**
 * `npm run demo`: the notification pipeline end to end, for a newcomer.
 *
 * Starts the Mattermost simulator (seeded with a bot, a team, a notification channel and two
 * users), the API and the worker as separate processes, then walks through the flow: a BORROW
 * notification arrives as a channel @mention; alice opens a DM with the bot; the welcome message
 * arrives; a RETURN notification arrives as a detailed DM; the same RETURN again is a duplicate and
 * posts nothing. Then it keeps running (Ctrl-C stops everything); `npm run demo -- --once` exits
 * after the walk-through with status 0 only if every step behaved as expected.
 *
 * Needs Postgres and Redis (defaults 127.0.0.1:5432 and :6379, or DATABASE_URL / REDIS_URL);
 * uses its own database `parley_demo`, recreated on every run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, createWriteStream, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import postgres from 'postgres'

const once = process.argv.includes('--once')
const root = path.resolve(import.meta.dirname, '..')
const logDir = mkdtempSync(path.join(tmpdir(), 'parley-demo-'))
const baseDb = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley'
const dbUrl = Object.assign(new URL(baseDb), { pathname: '/parley_demo' }).toString()
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const children: ChildProcess[] = []
const bold = (s: string) => process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s
const green = (s: string) => process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s
const red = (s: string) => process.stdout.isTTY ? `\x1b[31m${s}\x1b[0m` : s
let failures = 0

function say (text: string) { console.log(text) }
function check (ok: boolean, text: string) {
  if (!ok) failures++
  say(`  ${ok ? green('✔') : red('✘')} ${text}`)
}
function indent (text: string) { return text.split('\n').map(l => `      │ ${l}`).join('\n') }

/** Starts `script` with tsx; output goes to a log file. Resolves with the child. */
function run (name: string, script: string, args: string[], env: Record<string, string>): ChildProcess {
  // The API and the worker run as built for production (dist/*.mjs); the simulator from source.
  const scripts = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts as Record<string, string>
  const nodeArgs = script.startsWith('npm:') ? scripts[script.slice(4)].split(' ').slice(1) : ['--import', 'tsx', script]
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = createWriteStream(path.join(logDir, `${name}.log`))
  child.stderr!.pipe(log)
  if (name !== 'simulator') child.stdout!.pipe(log)
  children.push(child)
  child.on('exit', (code, signal) => { if (!stopping) { say(red(`${name} exited (${code ?? signal}); see ${path.join(logDir, `${name}.log`)}`)); shutdown(1) } })
  return child
}

let stopping = false
async function shutdown (code: number) {
  if (stopping) return
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(children.map(c => c.exitCode !== null ? undefined : new Promise(r => c.once('exit', r))))
  process.exit(code)
}
process.on('SIGINT', () => { say('\nstopping…'); void shutdown(0) })
process.on('SIGTERM', () => void shutdown(0))

async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await fn().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 100))
  }
}

async function json (url: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } })
  const body = await res.text()
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} → ${res.status} ${body}`)
  return body ? JSON.parse(body) : undefined
}

async function freePort (): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)) }) })
}

async function main () {
  say(bold('Parley demo — notifications through Mattermost, exactly once'))
  say(`  logs: ${logDir}\n`)

  // A fresh database for the demo.
  const admin = postgres(Object.assign(new URL(baseDb), { pathname: '/postgres' }).toString(), { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe('drop database if exists parley_demo with (force)')
  } catch (err) {
    throw new Error(`cannot reach Postgres at ${baseDb.replace(/\/\/[^@]*@/, '//')} (${(err as Error).message}); start it or set DATABASE_URL`)
  } finally {
    await admin.end()
  }

  say(bold('Building, then starting the Mattermost simulator, the API and the worker'))
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  if (built.status !== 0) throw new Error('the build failed')
  const sim = run('simulator', 'packages/mattermost-sim/src/main.ts', ['--port', '0', '--seed-demo'], {})
  const seed = await new Promise<any>((resolve, reject) => {
    const rl = createInterface({ input: sim.stdout! })
    rl.once('line', (line) => { try { resolve(JSON.parse(line)) } catch (err) { reject(err) } })
    sim.once('exit', () => reject(new Error('the simulator exited')))
  })
  const apiPort = Number(process.env.PORT ?? 0) || await freePort()
  const api = `http://127.0.0.1:${apiPort}`
  const adminPassword = randomBytes(12).toString('base64url')
  const common = {
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `{parley-demo-${randomBytes(3).toString('hex')}}`,
    MATTERMOST_URL: seed.url,
    MATTERMOST_NOTIFICATION_CHANNEL_ID: seed.channelId,
    APP_BASE_URL: 'http://localhost:8080',
    TOKEN_ENCRYPTION_KEYS: `demo:${randomBytes(32).toString('base64')}`,
    LOG_LEVEL: 'info'
  }
  run('api', 'npm:start:api', [], {
    ...common, PORT: String(apiPort), HOST: '127.0.0.1', JWT_SECRET: randomBytes(32).toString('hex'),
    PARLEY_ADMIN_USERNAME: 'admin', PARLEY_ADMIN_PASSWORD: adminPassword
  })
  run('worker', 'npm:start:worker', [], { ...common, MATTERMOST_BOT_TOKEN: seed.botToken, MATTERMOST_WS_RECONNECT_INTERVAL: '200' })
  await waitFor('the API to be ready', async () => (await fetch(`${api}/readyz`)).ok || undefined, 60_000)
  say(`  simulator ${seed.url}   API ${api}   (bot @parley-bot, channel ~notifications, users alice and bob)\n`)

  const { token } = await json(`${api}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: adminPassword }) })
  const asAdmin = { authorization: `Bearer ${token}` }
  const { key } = await json(`${api}/api/admin/api-keys`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ name: 'demo backend', scopes: ['notifications:send'] }) })
  const asBackend = { authorization: `Bearer ${key}` }
  const status = await waitFor('the worker to hold the Mattermost socket', async () => {
    const s = await json(`${api}/api/notifications/status`, { headers: asBackend })
    return s.websocket.state === 'open' ? s : undefined
  })
  say(`  the worker listens to Mattermost (socket ${status.websocket.state}); the backend holds an API key with notifications:send\n`)

  const device = { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001', category: 'laptop', brand: 'Apple', model: 'MacBook Pro 16" M3' }
  const alice = seed.users.alice
  const send = (body: object) => fetch(`${api}/api/notifications/send`, { method: 'POST', headers: { ...asBackend, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const delivered = (id: string) => waitFor('delivery', async () => {
    const n = await json(`${api}/api/notifications/${id}`, { headers: asBackend })
    return n.status === 'queued' ? undefined : n
  })
  const postsIn = async (channelId: string) => (await json(`${seed.url}/__sim/posts?channel_id=${channelId}`)) as Array<{ id: string, user_id: string, message: string }>

  say(bold('1. A BORROW is approved: alice has never written to the bot, so it is a channel @mention'))
  const borrow = { action: 'BORROW', userId: 123, mattermostUsername: 'alice', device, requestId: 456, startDate: '2026-01-10', endDate: '2026-02-10' }
  const r1 = await send(borrow)
  const a1 = await r1.json() as any
  say(`  POST /api/notifications/send → ${r1.status} ${JSON.stringify(a1)}`)
  const n1 = await delivered(a1.notificationId)
  const channelPosts = await postsIn(seed.channelId)
  const mention = channelPosts.find(p => p.id === n1.mattermostPostId)
  check(n1.status === 'delivered' && n1.delivery === 'channel' && !!mention, `delivered as a channel post in ~notifications (${n1.delivery})`)
  if (mention) say(indent(mention.message))
  const member = await fetch(`${seed.url}/api/v4/channels/${seed.channelId}/members/${alice.id}`, { headers: { authorization: `Bearer ${seed.botToken}` } })
  check(member.status === 200, 'alice was added to the notification channel, so the mention reaches her')

  say(bold('\n2. alice opens a DM with the bot and writes "hi"'))
  const dm = await json(`${seed.url}/__sim/direct`, { method: 'POST', body: JSON.stringify({ userIds: [alice.id, seed.botUserId] }) })
  await json(`${seed.url}/__sim/post`, { method: 'POST', body: JSON.stringify({ userId: alice.id, channelId: dm.id, message: 'hi' }) })

  say(bold('\n3. The worker sees the DM on the Mattermost WebSocket, marks alice DM-ready and welcomes her (once)'))
  const welcome = await waitFor('the welcome message', async () => (await postsIn(dm.id)).find(p => p.user_id === seed.botUserId))
  check(true, 'welcome message posted in the DM')
  say(indent(welcome.message))

  say(bold('\n4. A RETURN is confirmed: now it arrives as a detailed DM'))
  const ret = { action: 'RETURN', userId: 123, mattermostUsername: 'alice', device, requestId: 789, returnDate: '2026-01-20' }
  const r4 = await send(ret)
  const a4 = await r4.json() as any
  say(`  POST /api/notifications/send → ${r4.status} ${JSON.stringify(a4)}`)
  const n4 = await delivered(a4.notificationId)
  const dmPost = (await postsIn(dm.id)).find(p => p.id === n4.mattermostPostId)
  check(n4.status === 'delivered' && n4.delivery === 'dm' && !!dmPost, `delivered as a direct message (${n4.delivery})`)
  if (dmPost) say(indent(dmPost.message))

  say(bold('\n5. The same RETURN is sent again (a retrying backend): a duplicate, nothing is posted'))
  const before = (await postsIn(dm.id)).length
  const r5 = await send(ret)
  const a5 = await r5.json() as any
  say(`  POST /api/notifications/send → ${r5.status} ${JSON.stringify(a5)}`)
  await new Promise(r => setTimeout(r, 1_000))
  const after = (await postsIn(dm.id)).length
  check(r5.status === 200 && a5.status === 'duplicate' && a5.notificationId === a4.notificationId, 'reported as duplicate of the first RETURN')
  check(after === before, `no second post (${after} posts in the DM before and after)`)

  say('')
  if (failures > 0) say(red(bold(`${failures} step(s) did not behave as expected; logs in ${logDir}`)))
  else say(green(bold('Every step behaved as expected.')))
  if (once) return shutdown(failures > 0 ? 1 : 0)
  say(`\n  API docs      ${api}/docs`)
  say(`  API status    curl -H 'authorization: Bearer ${key}' ${api}/api/notifications/status`)
  say(`  admin login   admin / ${adminPassword}`)
  say(`  simulator     ${seed.url}   logs ${logDir}`)
  say('\nRunning; Ctrl-C stops the simulator, the API and the worker.')
}

main().catch((err) => {
  say(red(`demo failed: ${err instanceof Error ? err.message : String(err)}`))
  say(`logs: ${logDir}`)
  void shutdown(1)
})
