/**
 * The package as it is published: built with its own `build` (tsc → dist/, gitignored, so the test
 * builds it), packed with the files its `package.json` lists, and used from plain Node 20 (no tsx,
 * no TypeScript) and from a strict TypeScript consumer through its `exports`.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { createNotificationsQueue } from '@parley/queue'
import { TEST_REDIS_URL, testPrefix } from '../../../test/env.js'

const run = promisify(execFile)
const pkgDir = fileURLToPath(new URL('..', import.meta.url))
const root = fileURLToPath(new URL('../../..', import.meta.url))
const tsc = join(root, 'node_modules/typescript/bin/tsc')

t.test('built, packed and used without a build step on the consumer side', async (t) => {
  await run(process.execPath, [tsc, '-p', join(pkgDir, 'tsconfig.build.json')], { cwd: pkgDir })
  const pkg = (await import(join(pkgDir, 'package.json'), { with: { type: 'json' } })).default as { exports: { '.': { types: string, default: string } } }
  t.ok(existsSync(join(pkgDir, pkg.exports['.'].default)), 'exports → compiled JS')
  t.ok(existsSync(join(pkgDir, pkg.exports['.'].types)), 'exports → .d.ts')

  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir })
  const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map(f => f.path).sort()
  t.ok(files.includes('dist/client/src/index.js') && files.includes('dist/client/src/index.d.ts'), 'the client is packed')
  t.ok(files.includes('dist/queue/src/notification-contract.js'), 'with the shared schema compiled in')
  t.ok(files.includes('README.md'))
  t.same(files.filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no TypeScript sources')

  // A consumer project: node_modules/@parley/client is the package folder, as after `npm install`.
  const consumer = await mkdtemp(join(tmpdir(), 'parley-consumer-'))
  t.teardown(() => rm(consumer, { recursive: true, force: true }))
  await mkdir(join(consumer, 'node_modules/@parley'), { recursive: true })
  await symlink(pkgDir, join(consumer, 'node_modules/@parley/client'), 'dir')
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ type: 'module' }))

  const prefix = testPrefix()
  const redis = new Redis(TEST_REDIS_URL)
  const queue = createNotificationsQueue(redis, prefix)
  t.teardown(async () => {
    await queue.obliterate({ force: true })
    const keys = await redis.keys(`${prefix}:parley:*`)
    if (keys.length) await redis.del(...keys)
    await queue.close()
    await redis.quit()
  })

  await writeFile(join(consumer, 'send.mjs'), `
import { createParleyClient, ParleyValidationError, ParleyRequestError } from '@parley/client'
const out = {}
const device = { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001' }
const parley = createParleyClient({ transport: 'queue', redis: process.env.REDIS_URL, prefix: process.env.PREFIX })
const input = { userId: 123, mattermostUsername: 'john.doe', device, requestId: 456, startDate: '2026-01-10', endDate: '2026-02-10' }
out.first = await parley.sendBorrowApprovalNotification(input)
out.again = await parley.sendBorrowApprovalNotification(input)
try { await parley.sendReturnConfirmationNotification({ ...input, returnDate: '2026-01-20' }) } catch (e) { out.invalid = { isValidationError: e instanceof ParleyValidationError, field: e.field, message: e.message } }
await parley.close()
const http = createParleyClient({ transport: 'http', baseUrl: 'http://127.0.0.1:9', apiKey: 'prl_x', maxRetries: 0 })
try { await http.sendBorrowApprovalNotification(input) } catch (e) { out.unreachable = { isRequestError: e instanceof ParleyRequestError, reason: e.reason } }
await http.close()
console.log(JSON.stringify(out))
`)
  const sent = await run(process.execPath, ['send.mjs'], { cwd: consumer, env: { ...process.env, REDIS_URL: TEST_REDIS_URL, PREFIX: prefix, NODE_OPTIONS: '' } })
  const out = JSON.parse(sent.stdout)
  t.match(out.first, { status: 'queued', idempotencyKey: 'notification:BORROW:456:123' })
  t.same(out.again, { ...out.first, status: 'duplicate' })
  t.same(out.invalid, { isValidationError: true, field: 'startDate', message: 'Invalid notification: body/startDate is not allowed for action RETURN' })
  t.same(out.unreachable, { isRequestError: true, reason: 'network' })
  const job = await queue.getJob(`send-${out.first.notificationId}`)
  t.match(job?.data, { v: 1, notificationId: out.first.notificationId, notification: { action: 'BORROW', requestId: 456, userId: 123 } }, 'a version-1 send job is on the queue')

  // Types: a strict NodeNext consumer compiles against the shipped .d.ts, and a wrong shape does not.
  await writeFile(join(consumer, 'ok.ts'), `
import { createParleyClient, type SendResult, type BorrowApproval } from '@parley/client'
const parley = createParleyClient({ transport: 'http', baseUrl: 'https://parley.example.com', apiKey: 'prl_x', timeoutMs: 5000, maxRetries: 2 })
const input: BorrowApproval = { userId: 123, mattermostUsername: 'john.doe', device: { id: 1, name: 'n', assetTag: 'a' }, requestId: 456, startDate: '2026-01-10', endDate: '2026-02-10' }
export const r: Promise<SendResult> = parley.sendBorrowApprovalNotification(input)
`)
  await writeFile(join(consumer, 'bad.ts'), `
import { createParleyClient } from '@parley/client'
const parley = createParleyClient({ transport: 'queue', redis: 'redis://127.0.0.1:6379' })
export const r = parley.sendReturnConfirmationNotification({ userId: 123, mattermostUsername: 'j', device: { id: 1, name: 'n', assetTag: 'a' }, requestId: 1 })
`)
  const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types')]
  // One compiler run for both files: the errors must all be in bad.ts, and name returnDate.
  const errors = await run(process.execPath, [tsc, ...flags, 'ok.ts', 'bad.ts'], { cwd: consumer }).then(() => '', (e: { stdout: string }) => e.stdout)
  const lines = errors.split('\n').filter(l => /error TS/.test(l))
  t.same(lines.filter(l => !l.startsWith('bad.ts')), [], 'a correct consumer typechecks against the shipped .d.ts')
  t.match(errors, /bad\.ts\(4,\d+\): error TS2345[^]*ReturnConfirmation[^]*returnDate/, 'a missing returnDate is a type error')
})
