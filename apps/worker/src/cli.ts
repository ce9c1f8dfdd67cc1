/**
 * `npm run cli -- <command>`: operator commands, run with the worker's environment.
 *
 *   tokens:reencrypt                      move every personal access token to the newest key
 *   mattermost:sync-users --all           create/update every active user in Mattermost, with a token
 *   mattermost:sync-users --missing       only users without a usable token
 *     [--org <organisationId>] [--concurrency <n>]
 *
 * Progress goes to stderr, the summary to stdout. Exit codes: 0 done, 1 some items failed,
 * 2 usage or configuration error, 130 interrupted (Ctrl-C: users in flight finish first; run again
 * to continue). Tokens are never printed.
 */
import { pino } from 'pino'
import { WorkerConfigSchema, ConfigError, loadConfig } from '@parley/config'
import { createDb, createTokenCipher, runMigrations } from '@parley/db'
import { createMattermostClient } from '@parley/mattermost'
import { createProvisioner } from './mattermost-provisioning.js'
import { reencryptTokens, syncUsers, type SyncSummary } from './commands.js'

const USAGE = `usage: npm run cli -- tokens:reencrypt
       npm run cli -- mattermost:sync-users (--all | --missing) [--org <organisationId>] [--concurrency <n>]`

function fail (message: string, code = 2): never {
  console.error(`parley-cli: ${message}`)
  process.exit(code)
}

const [command, ...args] = process.argv.slice(2)
if (!command || command === 'help' || command === '--help') {
  console.log(USAGE)
  process.exit(command ? 0 : 2)
}
if (command !== 'tokens:reencrypt' && command !== 'mattermost:sync-users') fail(`unknown command "${command}"\n${USAGE}`)

function option (name: string): string | undefined {
  const i = args.indexOf(name)
  if (i === -1) return undefined
  const value = args[i + 1]
  if (!value || value.startsWith('--')) fail(`${name} needs a value`)
  return value
}

let config
try {
  config = loadConfig(WorkerConfigSchema)
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err))
}
if (!config.TOKEN_ENCRYPTION_KEYS) fail('TOKEN_ENCRYPTION_KEYS is not set')
let cipher
try {
  cipher = createTokenCipher(config.TOKEN_ENCRYPTION_KEYS)
} catch (err) {
  fail((err as Error).message)
}

await runMigrations(config.DATABASE_URL)
const { db, close } = createDb(config.DATABASE_URL, { max: 10 })
const tty = process.stderr.isTTY
let lastProgress = 0
const progressLine = (text: string, force = false) => {
  const now = Date.now()
  if (!force && now - lastProgress < (tty ? 100 : 1000)) return
  lastProgress = now
  process.stderr.write(tty ? `\r${text}` : `${text}\n`)
}

let exitCode = 0
try {
  if (command === 'tokens:reencrypt') {
    const s = await reencryptTokens(db, cipher, { progress: (moved) => progressLine(`tokens:reencrypt: ${moved} moved`) })
    if (tty) process.stderr.write('\n')
    console.log(`tokens:reencrypt: ${s.moved} token(s) moved to key "${cipher.currentKeyId}", ${s.failed.length} failed`)
    for (const f of s.failed) console.log(`  failed ${f.userId}: ${f.reason}`)
    if (s.failed.length > 0) exitCode = 1
  } else {
    const all = args.includes('--all')
    const missing = args.includes('--missing')
    if (all === missing) fail(`give exactly one of --all or --missing\n${USAGE}`)
    const orgId = option('--org')
    if (orgId && !/^[0-9a-f-]{36}$/i.test(orgId)) fail('--org needs an organisation id (uuid)')
    const concurrency = Number(option('--concurrency') ?? 8)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) fail('--concurrency must be an integer from 1 to 100')
    if (!config.MATTERMOST_URL) fail('MATTERMOST_URL is not set')
    const adminToken = config.MATTERMOST_ADMIN_BOT_TOKEN ?? config.MATTERMOST_BOT_TOKEN
    if (!adminToken) fail('MATTERMOST_ADMIN_BOT_TOKEN (or MATTERMOST_BOT_TOKEN) is not set')
    const logger = pino({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, redact: { paths: ['*.token', '*.authorization'], censor: '[redacted]' } }, pino.destination(2))
    const admin = createMattermostClient({ baseUrl: config.MATTERMOST_URL, token: adminToken, timeoutMs: config.MATTERMOST_REQUEST_TIMEOUT_MS, logger })
    const provisioner = createProvisioner({ config, db, logger, admin, tokenCipher: cipher })
    let stop = false
    process.once('SIGINT', () => { stop = true; process.stderr.write('\ninterrupting: finishing users in flight…\n') })
    const line = (s: SyncSummary) => `mattermost:sync-users: ${s.processed} processed — created ${s.created}, updated ${s.updated}, tokens issued ${s.tokensIssued}, failed ${s.failed.length}`
    const s = await syncUsers(db, provisioner, { mode: all ? 'all' : 'missing', orgId, concurrency, progress: (x) => progressLine(line(x)), stopped: () => stop })
    progressLine(line(s), true)
    if (tty) process.stderr.write('\n')
    console.log(`${line(s)}${s.interrupted ? ' (interrupted: run again to continue)' : ''}`)
    for (const f of s.failed) console.log(`  failed ${f.username} (${f.userId}): ${f.reason}`)
    exitCode = s.interrupted ? 130 : s.failed.length > 0 ? 1 : 0
  }
} finally {
  await close()
}
process.exit(exitCode)
