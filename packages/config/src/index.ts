/**
 * Parley's configuration: one TypeBox schema per process, validated once at start-up.
 *
 * Only entrypoints read `process.env`; everything else receives the typed object that
 * `loadConfig` returns. The API schema does not contain the Mattermost tokens at all, so the
 * API process cannot hold them by accident (DESIGN.md, "Processes").
 */
import { Type, type Static, type TObject } from 'typebox'
import { Value } from 'typebox/value'

const Url = (description: string, dflt?: string) =>
  Type.String({ pattern: '^[a-z][a-z0-9+.-]*://', description, ...(dflt === undefined ? {} : { default: dflt }) })

/** Variables every process reads. */
const common = {
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' }),
  DATABASE_URL: Url('Postgres connection URL; the database is created if missing', 'postgres://postgres@127.0.0.1:5432/parley'),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  REDIS_URL: Url('Redis connection URL (BullMQ queues, pub/sub, locks)', 'redis://127.0.0.1:6379'),
  QUEUE_PREFIX: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_{}-]+$', default: '{parley}', description: 'BullMQ key prefix; keep the hash tag for Redis Cluster' }),
  NOTIFY_IDEMPOTENCY_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 3600, description: 'Same notification key within this window is a duplicate (seeds/devicehub-notification-system.md: 1 hour)' }),
  TOKEN_ENCRYPTION_KEYS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated keyId:base64(32 bytes), newest first; encrypts tokens at rest' })),
  MATTERMOST_URL: Type.Optional(Url('Mattermost server URL (alias MATTERMOST_SERVER_URL)')),
  MATTERMOST_PUBLIC_URL: Type.Optional(Url('Mattermost URL as browsers reach it; defaults to MATTERMOST_URL')),
  MATTERMOST_NOTIFICATION_CHANNEL_ID: Type.Optional(Type.String({ minLength: 1, description: 'Channel where @mentions are posted' })),
  APP_BASE_URL: Url('Product URL used for detail links in notifications', 'http://localhost:8080'),
  TOKEN_REFRESH_BEFORE_SECONDS: Type.Integer({ minimum: 0, default: 24 * 3600, description: 'Re-issue a personal access token that carries an expiry this long before it expires' })
}

/** Environment of `apps/api`. */
export const ApiConfigSchema = Type.Object({
  ...common,
  HOST: Type.String({ default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  JWT_SECRET: Type.String({ minLength: 32, description: 'HMAC secret for session JWTs (at least 32 characters)' }),
  JWT_TTL_SECONDS: Type.Integer({ minimum: 60, default: 12 * 3600 }),
  COOKIE_SECURE: Type.Boolean({ default: false, description: 'Mark the session cookie Secure (enable behind HTTPS)' }),
  PARLEY_ADMIN_USERNAME: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  PARLEY_ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
  LOGIN_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 10 }),
  EQUA_GATEWAY_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Bearer for the bot gateway look-ups (alias GATEWAY_TOKEN)' })),
  UPLOAD_DIR: Type.String({ default: './uploads' }),
  TRUST_PROXY: Type.Boolean({ default: false }),
  MATTERMOST_COOKIE_DOMAIN: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Domain for MMAUTHTOKEN/MMUSERID cookies set by GET /api/mattermost/redirect; unset = no cookies' })),
  TOKEN_HEALTH_CACHE_SECONDS: Type.Integer({ minimum: 0, maximum: 3600, default: 30, description: 'How long a token-health answer is cached per user' }),
  SESSION_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 300_000, default: 10_000, description: 'Longest time a ready Mattermost session state is answered from memory; Postgres notifications empty the cache on every change, this bounds it if one is missed. 0 = always read Postgres' }),
  SESSION_WAIT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 15_000, description: 'How long a synchronous Mattermost endpoint waits for its provisioning job before 504' }),
  ORG_SYNC_WAIT_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 30_000, description: 'How long POST /api/v1/mattermost/sync-org/:orgId waits for the sync before answering 202 with the run id' }),
  ORG_SYNC_DEBOUNCE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 5_000, description: 'A membership change syncs its org this long after the last change of a burst' }),
  ORG_SYNC_DEBOUNCE_MAX_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 60_000, description: 'A burst of membership changes that never pauses still syncs this long after its first change' })
})

/** Environment of `apps/worker`: the only process that holds Mattermost tokens. */
export const WorkerConfigSchema = Type.Object({
  ...common,
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  MATTERMOST_BOT_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  MATTERMOST_ADMIN_BOT_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'System-admin token for provisioning; defaults to the bot token' })),
  MATTERMOST_BOT_USER_ID: Type.Optional(Type.String({ minLength: 1, description: 'Detected with GET /users/me when unset' })),
  MATTERMOST_WS_RECONNECT_INTERVAL: Type.Integer({ minimum: 10, default: 5000, description: 'Base reconnect delay, ms' }),
  MATTERMOST_WS_MAX_RECONNECT_ATTEMPTS: Type.Integer({ minimum: 1, default: 10, description: 'Consecutive failures before the status reports the socket down' }),
  MATTERMOST_RATE_LIMIT_PER_SEC: Type.Integer({ minimum: 0, default: 0, description: 'Worker-wide Mattermost request limit; 0 = off' }),
  MATTERMOST_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  NOTIFY_DM_POLICY: Type.Union([Type.Literal('after-first-message'), Type.Literal('always')], { default: 'after-first-message' }),
  MATTERMOST_TEAM_DEFAULT_CHANNELS: Type.String({ default: '', maxLength: 2000, description: 'Comma-separated channel names created in every new team (besides Mattermost\'s own town-square and off-topic)' }),
  MATTERMOST_USER_EMAIL_DOMAIN: Type.String({ default: 'users.parley.invalid', pattern: '^[a-z0-9.-]+$', description: 'Domain of the placeholder email given to Mattermost users whose Parley user has no email' }),
  MATTERMOST_TOKEN_DESCRIPTION: Type.String({ default: 'parley', minLength: 1, maxLength: 100, description: 'Description of the personal access tokens Parley issues (marks them as ours)' }),
  ORG_SYNC_INTERVAL: Type.Integer({ minimum: 100, default: 3_600_000, description: 'Full sync of every organisation to its Mattermost team every this many ms (job scheduler)' }),
  ORG_SYNC_REMOVE_UNMANAGED: Type.Boolean({ default: false, description: 'Org sync also removes team members Parley did not provision (never the bot or system admins)' })
})

export type ApiConfig = Static<typeof ApiConfigSchema>
export type WorkerConfig = Static<typeof WorkerConfigSchema>

/** Thrown by `loadConfig`; `message` is one line naming the variable, never its value. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

const aliases: Record<string, string[]> = {
  MATTERMOST_URL: ['MATTERMOST_SERVER_URL'],
  EQUA_GATEWAY_TOKEN: ['GATEWAY_TOKEN']
}

/**
 * Validates `env` against `schema`, applying defaults, aliases (`MATTERMOST_SERVER_URL`,
 * `GATEWAY_TOKEN`) and string → number/boolean conversion for declared non-string fields.
 * Empty strings count as unset. Unknown variables are ignored.
 * @throws ConfigError naming the first bad variable (the value is never printed).
 */
export function loadConfig<S extends TObject> (schema: S, env: Record<string, string | undefined> = process.env): Static<S> {
  const data: Record<string, unknown> = {}
  for (const [key, prop] of Object.entries(schema.properties) as [string, any][]) {
    let raw = env[key]
    for (const alias of aliases[key] ?? []) if (raw === undefined || raw === '') raw = env[alias]
    if (raw === undefined || raw === '') continue
    data[key] = prop.type === 'integer' || prop.type === 'number'
      ? (/^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw)
      : prop.type === 'boolean' ? (raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw) : raw
  }
  const withDefaults = Value.Default(schema, data) as Record<string, unknown>
  for (const error of Value.Errors(schema, withDefaults)) {
    const name = error.instancePath.replace(/^\//, '') ||
      ((error.params as { requiredProperties?: string[] }).requiredProperties ?? [])[0] || 'environment'
    const missing = error.keyword === 'required'
    throw new ConfigError(missing ? `${name} is required but not set` : `${name} is invalid: ${error.message}`)
  }
  return withDefaults as Static<S>
}

/** The public Mattermost URL browsers use, or undefined when Mattermost is not configured. */
export const mattermostPublicUrl = (c: { MATTERMOST_URL?: string, MATTERMOST_PUBLIC_URL?: string }) =>
  (c.MATTERMOST_PUBLIC_URL ?? c.MATTERMOST_URL)?.replace(/\/+$/, '')
