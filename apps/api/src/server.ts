/**
 * The API process: config, connections, migrations, first admin, listen, graceful close.
 */
import { hashPassword } from './auth/passwords.js'
import closeWithGrace from 'close-with-grace'
import { ApiConfigSchema, ConfigError, loadConfig } from '@parley/config'
import { createTokenCipher, ensureAdminUser, runMigrations } from '@parley/db'
import { buildApp, redactPaths } from './app.js'
import { openApiDeps } from './deps.js'

let config
try {
  config = loadConfig(ApiConfigSchema)
} catch (err) {
  console.error(`parley-api: ${err instanceof ConfigError ? err.message : String(err)}`)
  process.exit(1)
}
try {
  if (config.TOKEN_ENCRYPTION_KEYS) createTokenCipher(config.TOKEN_ENCRYPTION_KEYS) // fail before touching anything
  // Personal access tokens are stored encrypted: with Mattermost on, the key is required (issue 3).
  else if (config.MATTERMOST_URL) throw new Error('TOKEN_ENCRYPTION_KEYS is required when MATTERMOST_URL is set')
} catch (err) {
  console.error(`parley-api: ${(err as Error).message}`)
  process.exit(1)
}

await runMigrations(config.DATABASE_URL)
let opened
try {
  opened = await openApiDeps(config)
} catch (err) {
  console.error(`parley-api: ${(err as Error).message}`)
  process.exit(1)
}
const { deps, close } = opened
const { db } = deps

const app = await buildApp(deps, {
  logger: {
    level: config.LOG_LEVEL,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(process.stdout.isTTY && config.NODE_ENV === 'development' ? { transport: { target: 'pino-pretty' } } : {})
  }
})

if (config.PARLEY_ADMIN_USERNAME && config.PARLEY_ADMIN_PASSWORD) {
  const password = config.PARLEY_ADMIN_PASSWORD
  const { created } = await ensureAdminUser(db, config.PARLEY_ADMIN_USERNAME, () => hashPassword(password))
  app.log.info({ username: config.PARLEY_ADMIN_USERNAME, created }, 'first admin ensured')
}

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after error')
  else app.log.info({ signal }, 'closing')
  await app.close() // stops accepting, drains in-flight requests
  await close()
})

await app.listen({ host: config.HOST, port: config.PORT })
