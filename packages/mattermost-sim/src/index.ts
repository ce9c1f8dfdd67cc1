/**
 * `@parley/mattermost-sim`: a Mattermost API v4 + WebSocket simulator with in-memory state, for
 * Parley's tests, benchmarks and demo (never production). Behaviour follows
 * `/work/shared/mattermost/PROTOCOL.md`; shapes follow `/work/shared/mattermost/openapi/`.
 *
 * ```ts
 * const sim = await startSimulator({ config: { EnableUserAccessTokens: true } })
 * const { user: bot, token } = sim.createBot({ username: 'parley-bot', roles: 'system_admin system_user' })
 * // … point the client at sim.url with token …
 * await sim.close()
 * ```
 */
import { addChannelMember, createChannel, findDirectChannel, getChannelOr404, getOrCreateDirectChannel } from './domain/channels.js'
import { checkNewPost, insertPost } from './domain/posts.js'
import { createTeam, joinTeam } from './domain/teams.js'
import { authenticate, createBot, createToken, createUser, getUserOr404, revokeToken, sanitizeToken, setUserActive } from './domain/users.js'
import { FaultState, GcraLimiter, type RateLimitOptions } from './faults.js'
import { controlRoutes } from './http/control.js'
import { buildHttp, type CallLog, type CallRecord } from './http/server.js'
import type { Channel, Post, Team, UserAccessTokenSanitized, UserProfile } from './model.js'
import { createState, DEFAULT_CONFIG, type SimConfig, type State } from './state.js'
import { WsHub } from './websocket.js'

export { DEFAULT_CONFIG, type SimConfig } from './state.js'
export type { CallRecord } from './http/server.js'
export type {
  Bot, Channel, ChannelMember, ChannelType, Post, PostList, Team, TeamMember, UserAccessToken, UserAccessTokenSanitized, UserProfile
} from './model.js'
export { SimError, type AppErrorBody } from './app-error.js'
export { newId, isValidId } from './ids.js'
export { loadOpenApi, openApiDir, resolveRef, findOperation, validateRequestBody, validateResponse, OPENAPI_FILES, type OpenApiDocument } from './openapi.js'

/** Mattermost version the simulator claims (`@mattermost/types` 11.9.0 era). */
export const SERVER_VERSION = '11.9.0'
/** `X-Version-Id` and `hello.server_version`: `<version>.<build>.<config hash>.<enterprise>` (§9.2). */
export const VERSION_ID = `${SERVER_VERSION}.0.mattermost-sim.false`

export interface StartOptions {
  /** 0 (default) picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  config?: Partial<SimConfig>
  /** Initial `faults.latencyMs`: added before every REST answer, in ms. */
  latencyMs?: number
  /** Validate every REST request and response body against the OpenAPI spec into `CallRecord.requestErrors/responseErrors`. Default false. */
  validate?: boolean
  /** `pending_post_id` memory, ms; 30 000 like the server (§7.3). Lower it in tests. */
  pendingPostTtlMs?: number
  /** Optional GCRA limiter like `RateLimitSettings` (§2); off by default, as on a stock server. */
  rateLimit?: RateLimitOptions
  websocket?: {
    /** Close unauthenticated sockets after this long; default 5000 ms (§9.1). */
    authTimeoutMs?: number
    /** Protocol ping frame period; default 60 000 ms (§9.3). */
    pingIntervalMs?: number
    /** How long a dropped connection id stays resumable; default 5 min (§9.4). */
    resumeRetentionMs?: number
  }
}

export interface Faults {
  /** Added to every REST response, in ms. */
  latencyMs: number
  /**
   * The next `count` (default 1) calls matching `route` (`'POST /api/v4/posts'`, the OpenAPI template,
   * or `'*'`) answer `status` with an AppError body whose id is `id` (default `api.sim.injected_fault.app_error`).
   */
  failNext (route: string, opts: { status: number, count?: number, id?: string }): void
  /**
   * The next `count` (default 1) matching calls answer 429, body `limit exceeded\n` (text/plain), with
   * X-Ratelimit-Limit/Remaining/Reset and Retry-After = `resetSeconds` (default 1) seconds from now (§2).
   */
  rateLimitNext (route: string, opts?: { count?: number, resetSeconds?: number }): void
  /** While on, every REST call answers 503 (AppError) and WebSocket upgrades are refused with 503. */
  down (on: boolean): void
  /** Terminates every open WebSocket now; their connection ids stay resumable (§9.4). */
  dropWebSockets (): void
  /** While on, POST /posts waits after registering its `pending_post_id` (a worker killed mid-post); off releases them. */
  holdPosts (on: boolean): void
  /** How many POST /posts calls are waiting because of `holdPosts` right now. */
  heldPosts (): number
}

export interface Simulator {
  /** `http://HOST:PORT`, no trailing slash. WebSocket at `ws://HOST:PORT/api/v4/websocket`. */
  url: string
  /** Live server settings; change fields (or assign a whole object) at runtime. */
  config: SimConfig
  /** Stops HTTP and WebSocket, releasing held posts. */
  close (): Promise<void>

  /** Seeds a user (checks name rules, not permissions). `roles` default `system_user`; email default `<username>@example.com`. */
  createUser (u: { username: string, email?: string, roles?: string, firstName?: string, lastName?: string, nickname?: string, password?: string }): UserProfile
  /**
   * Seeds a bot user (`is_bot`, Bot record owned by `ownerId`, default itself) and a token for it.
   * `roles` default `system_user`, as for a bot created through the API; pass
   * `'system_admin system_user'` for an admin bot.
   */
  createBot (b: { username: string, displayName?: string, ownerId?: string, roles?: string }): { user: UserProfile, token: string }
  /** Seeds a valid token for any user; works even while EnableUserAccessTokens is false. */
  createAccessToken (userId: string, description?: string): string
  /** Seeds a team with `town-square` and `off-topic`; no members. */
  createTeam (t: { name: string, displayName: string, type?: 'O' | 'I' }): Team
  /** Seeds a team membership (not limited by MaxUsersPerTeam); joins the default channels; fires `added_to_team`. */
  addTeamMember (teamId: string, userId: string): void
  createChannel (c: { teamId: string, name: string, displayName: string, type?: 'O' | 'P' }): Channel
  /** The user must be on the channel's team (404 SimError `app.team.get_member.missing.app_error`). Fires `user_added`. */
  addChannelMember (channelId: string, userId: string): void
  /** Creates a post as the user (no permission check; archived channel etc. still refused), fires `posted`. */
  postAsUser (userId: string, channelId: string, message: string, props?: Record<string, unknown>): Post
  /** GetOrCreate DM (§4); fires `direct_added` when created. */
  openDirectChannel (userIdA: string, userIdB: string): Channel
  deactivateUser (userId: string): void
  /** Deletes a token by its secret; later requests with it get 401. */
  revokeAccessToken (token: string): void

  getUser (id: string): UserProfile | undefined
  getUserByUsername (username: string): UserProfile | undefined
  getTeam (id: string): Team | undefined
  getTeamByName (name: string): Team | undefined
  getChannel (id: string): Channel | undefined
  getChannelByName (teamId: string, name: string): Channel | undefined
  /** Oldest first. */
  getPosts (channelId: string): Post[]
  getChannelMembers (channelId: string): string[]
  getTeamMembers (teamId: string): string[]
  findDirectChannel (a: string, b: string): Channel | undefined
  /** Tokens of a user, sanitized. */
  getAccessTokens (userId: string): UserAccessTokenSanitized[]
  /** The user a token authenticates right now, if any. */
  whoAmI (token: string): UserProfile | undefined
  /** Open WebSocket connections (authenticated or not). */
  openWebSockets (): number

  /** Every REST call received, in order (live array; `/__sim/` calls excluded). */
  calls: CallRecord[]
  /** Calls for a route like `'POST /api/v4/posts'` or `'GET /api/v4/users/username/{username}'`; no argument = all REST calls. O(1). */
  callCount (route?: string): number
  resetCalls (): void
  /**
   * With `validate: true`: every spec problem recorded so far, one line each
   * (`POST /api/v4/posts → 201: request body/channel_id must be string`); empty when all calls were valid.
   */
  specErrors (): string[]
  faults: Faults
}

const copy = <T>(v: T): T => structuredClone(v)

/**
 * Starts a simulator on `opts.port` (0 = random) and resolves once it listens. Seeding methods are
 * synchronous and throw `SimError` (with the HTTP status and Mattermost error id the API would give)
 * on misuse, e.g. a taken username.
 */
export async function startSimulator (opts: StartOptions = {}): Promise<Simulator> {
  const s: State = createState({ ...DEFAULT_CONFIG, ...opts.config }, opts.pendingPostTtlMs ?? 30_000)
  const faultState = new FaultState()
  faultState.latencyMs = opts.latencyMs ?? 0
  const log: CallLog = { calls: [], counts: new Map() }
  const hub = new WsHub(s, {
    authTimeoutMs: opts.websocket?.authTimeoutMs ?? 5000,
    pingIntervalMs: opts.websocket?.pingIntervalMs ?? 60_000,
    resumeRetentionMs: opts.websocket?.resumeRetentionMs ?? 5 * 60_000,
    serverVersion: VERSION_ID
  }, (token) => authenticate(s, token), () => faultState.isDown)
  s.publish = (ev) => hub.publish(ev)

  const app = buildHttp({
    s,
    faults: faultState,
    limiter: opts.rateLimit === undefined ? null : new GcraLimiter(opts.rateLimit),
    log,
    validate: opts.validate === true,
    versionId: VERSION_ID
  })
  app.server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head))

  function holdPosts (on: boolean): void {
    if (on && s.postGate === null) {
      let release!: () => void
      const promise = new Promise<void>(resolve => { release = resolve })
      s.postGate = { promise, release }
    } else if (!on && s.postGate !== null) {
      const gate = s.postGate
      s.postGate = null
      gate.release()
    }
  }

  const faults: Faults = {
    get latencyMs () { return faultState.latencyMs },
    set latencyMs (ms: number) { faultState.latencyMs = ms },
    failNext (route, o) {
      faultState.failRules.push({ route, status: o.status, remaining: o.count ?? 1, id: o.id })
    },
    rateLimitNext (route, o = {}) {
      faultState.rateLimitRules.push({ route, remaining: o.count ?? 1, resetSeconds: o.resetSeconds ?? 1 })
    },
    down (on) { faultState.isDown = on },
    dropWebSockets () { hub.dropAll() },
    holdPosts,
    heldPosts: () => s.heldPosts
  }

  const user = (id: string) => getUserOr404(s, id)

  const sim: Simulator = {
    url: '',
    get config () { return s.config },
    set config (c: SimConfig) { s.config = { ...DEFAULT_CONFIG, ...c } },
    async close () {
      holdPosts(false)
      hub.close()
      await app.close()
    },

    createUser (u) {
      return copy(createUser(s, { username: u.username, email: u.email, roles: u.roles, first_name: u.firstName, last_name: u.lastName, nickname: u.nickname, password: u.password }).profile)
    },
    createBot (b) {
      const rec = createBot(s, { username: b.username, display_name: b.displayName, owner_id: b.ownerId ?? '', roles: b.roles })
      if (b.ownerId === undefined) rec.bot!.owner_id = rec.profile.id
      return { user: copy(rec.profile), token: createToken(s, rec.profile.id, 'simulator seed', true).token }
    },
    createAccessToken (userId, description = 'simulator seed') {
      user(userId)
      return createToken(s, userId, description, true).token
    },
    createTeam (t) {
      return copy(createTeam(s, { name: t.name, display_name: t.displayName, type: t.type }))
    },
    addTeamMember (teamId, userId) {
      joinTeam(s, teamId, userId, { enforceMax: false })
    },
    createChannel (c) {
      return copy(createChannel(s, { team_id: c.teamId, name: c.name, display_name: c.displayName, type: c.type }))
    },
    addChannelMember (channelId, userId) {
      addChannelMember(s, channelId, userId)
    },
    postAsUser (userId, channelId, message, props) {
      const author = user(userId)
      const channel = getChannelOr404(s, channelId)
      const input = { channel_id: channelId, message, props }
      checkNewPost(s, author, channel, input)
      return copy(insertPost(s, author, channel, input))
    },
    openDirectChannel (a, b) {
      return copy(getOrCreateDirectChannel(s, a, b).channel)
    },
    deactivateUser (userId) {
      setUserActive(s, userId, false)
    },
    revokeAccessToken (token) {
      const t = s.tokens.get(token)
      if (t !== undefined) revokeToken(s, t)
    },

    getUser (id) {
      const rec = s.users.get(id)
      return rec === undefined ? undefined : copy(rec.profile)
    },
    getUserByUsername (username) {
      const id = s.userByName.get(username.toLowerCase())
      return id === undefined ? undefined : copy(s.users.get(id)!.profile)
    },
    getTeam (id) {
      const t = s.teams.get(id)
      return t === undefined ? undefined : copy(t)
    },
    getTeamByName (name) {
      const id = s.teamByName.get(name)
      return id === undefined ? undefined : copy(s.teams.get(id)!)
    },
    getChannel (id) {
      const c = s.channels.get(id)
      return c === undefined ? undefined : copy(c)
    },
    getChannelByName (teamId, name) {
      const id = s.channelByName.get(`${teamId}/${name}`)
      return id === undefined ? undefined : copy(s.channels.get(id)!)
    },
    getPosts (channelId) {
      return copy(s.channelPosts.get(channelId) ?? [])
    },
    getChannelMembers (channelId) {
      return [...(s.channelMembers.get(channelId)?.keys() ?? [])]
    },
    getTeamMembers (teamId) {
      return [...(s.teamMembers.get(teamId)?.keys() ?? [])]
    },
    findDirectChannel (a, b) {
      const c = findDirectChannel(s, a, b)
      return c === undefined ? undefined : copy(c)
    },
    getAccessTokens (userId) {
      return [...(s.tokensByUser.get(userId) ?? [])].map(sanitizeToken)
    },
    whoAmI (token) {
      const rec = authenticate(s, token)
      return rec === undefined ? undefined : copy(rec.profile)
    },
    openWebSockets () {
      return hub.openSockets
    },

    calls: log.calls,
    callCount (route) {
      return route === undefined ? log.calls.length : log.counts.get(route) ?? 0
    },
    resetCalls () {
      log.calls.length = 0
      log.counts.clear()
    },
    specErrors () {
      return log.calls.flatMap(c => [
        ...(c.requestErrors ?? []).map(e => `${c.route} → ${c.status}: request ${e}`),
        ...(c.responseErrors ?? []).map(e => `${c.route} → ${c.status}: response ${e}`)
      ])
    },
    faults
  }

  controlRoutes(app, sim)
  const host = opts.host ?? '127.0.0.1'
  await app.listen({ port: opts.port ?? 0, host })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : opts.port
  sim.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  return sim
}
