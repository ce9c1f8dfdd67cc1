/**
 * Typed Mattermost API v4 REST client for the worker: plain functions over one private `call`
 * that sets the bearer, times out, maps errors to `MattermostError`, retries what is transient and
 * waits out 429s (DESIGN "Mattermost boundary", STYLE §7). Endpoints are added only as jobs need them.
 * @see /work/shared/mattermost/PROTOCOL.md, /work/shared/mattermost/openapi/*.yaml
 */
import type { Logger } from 'pino'
import type { Channel, ChannelMembership } from '@mattermost/types/channels'
import type { Post, PostList } from '@mattermost/types/posts'
import type { Team, TeamMembership, TeamType } from '@mattermost/types/teams'
import type { UserAccessToken, UserProfile } from '@mattermost/types/users'
import { errorFromResponse, isMattermostError, isRetriedInCall, MattermostError, networkError } from './errors.js'
import type { RateLimiter } from './rate-limiter.js'

export interface MattermostClientOptions {
  /** Server root, e.g. `https://chat.example.com` (a sub-path install like `https://host/mm` works too). */
  baseUrl: string
  /** Default bearer: the admin or bot token. Never logged, never put in an error. */
  token: string
  fetch?: typeof globalThis.fetch
  /** Per attempt, covering headers and body. */
  timeoutMs?: number
  /**
   * Retries after the first attempt, for transient failures and 429s together. A timeout or reset
   * is retried only for idempotent calls (GET/PUT/DELETE, read-only or add-if-missing POSTs, posts
   * with `pending_post_id`); for the others it is returned, as the first attempt may have worked.
   */
  maxRetries?: number
  /** First backoff step; attempt n waits a random 0..min(retryBaseMs·2ⁿ, 10 s) ("full jitter"). */
  retryBaseMs?: number
  /** A 429 whose Retry-After exceeds this is returned at once (with `retryAfterMs`) instead of slept on. */
  maxRetryAfterMs?: number
  /** Awaited before every request, retries included. */
  limiter?: RateLimiter
  logger?: Pick<Logger, 'warn' | 'debug'>
}

/** Per-call override: a user's own personal access token for user-scoped calls (seed token-usage table). */
export interface AsUser { token?: string }
export interface Page { page?: number, perPage?: number }

export type NewUser = Pick<UserProfile, 'username' | 'email'> &
  Partial<Pick<UserProfile, 'first_name' | 'last_name' | 'nickname'>> & { password?: string }
export type UserPatch = Partial<Pick<UserProfile,
  'username' | 'email' | 'first_name' | 'last_name' | 'nickname' | 'position' | 'locale' | 'props'>>
export interface NewTeam { name: string, display_name: string, type: TeamType, description?: string }
export interface NewChannel {
  team_id: string, name: string, display_name: string, type: 'O' | 'P', purpose?: string, header?: string
}
export interface NewPost {
  channel_id: string, message: string, props?: Record<string, unknown>,
  /** De-duplication key honoured by Mattermost for 30 s (PROTOCOL §7.3). */
  pending_post_id?: string, root_id?: string, file_ids?: string[]
}
/** The only response that carries the token value (PROTOCOL §5). */
export type IssuedAccessToken = Pick<UserAccessToken, 'id' | 'user_id' | 'description'> &
  Partial<Pick<UserAccessToken, 'is_active'>> & { token: string }
/** One row of a graceful batch add: `member` on success, `error` (AppError body) otherwise. */
export interface TeamMemberResult {
  user_id: string
  member?: TeamMembership | null
  error?: { id: string, message: string, status_code?: number } | null
}
export interface PingResult { status: string, [key: string]: unknown }

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'
type Query = Record<string, string | number | boolean | undefined>
interface CallInit {
  body?: unknown, query?: Query, token?: string
  /** Safe to send twice. Default: every method but POST; POSTs that read, add-if-missing or de-duplicate say so. */
  idempotent?: boolean
}

/** Mattermost caps team batch adds at 256 users per call (`MaxAddMembersBatch`, PROTOCOL §8). */
export const TEAM_BATCH_MAX = 256
const MAX_BACKOFF_MS = 10_000

/** Path template tag: every interpolated value is URI-encoded, so ids and names cannot alter the path. */
const p = (parts: TemplateStringsArray, ...values: string[]) =>
  parts.reduce((acc, part, i) => acc + part + (i < values.length ? encodeURIComponent(values[i]) : ''), '')

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Connection-level failures where the request cannot have reached Mattermost. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])
const notSent = (cause: unknown) => {
  const code = (cause as { cause?: { code?: unknown } } | undefined)?.cause?.code
  return typeof code === 'string' && NOT_SENT_CODES.has(code)
}

const chunk = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

async function readBody (res: Response, endpoint: string): Promise<unknown> {
  const text = await res.text()
  if (text === '') return undefined
  // Match the media type's prefix: a `; charset=utf-8` suffix is still JSON (CLIENT.md).
  if (!(res.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) return text
  try {
    return JSON.parse(text)
  } catch (cause) {
    if (!res.ok) return text
    throw new MattermostError({ status: res.status, id: 'invalid_response', endpoint, message: 'response body is not valid JSON', cause })
  }
}

/**
 * Creates the client. Every function returns the parsed Mattermost response typed with
 * `@mattermost/types`, or rejects with a `MattermostError` (status 0 / id `'network'` for transport
 * failures and timeouts). Each accepts `{ token }` as its last argument to act as another user.
 */
export function createMattermostClient ({
  baseUrl, token: defaultToken, fetch = globalThis.fetch, timeoutMs = 10_000, maxRetries = 3,
  retryBaseMs = 200, maxRetryAfterMs = 60_000, limiter, logger
}: MattermostClientOptions) {
  const apiRoot = `${baseUrl.replace(/\/+$/, '')}/api/v4`

  /** The one place that talks HTTP. `path` is relative to `/api/v4` and already encoded. */
  async function call<T> (method: Method, path: string,
    { body, query, token = defaultToken, idempotent = method !== 'POST' }: CallInit = {}): Promise<T> {
    const endpoint = `${method} ${path}`
    const url = new URL(apiRoot + path)
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value))
    }
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const payload = body === undefined ? undefined : JSON.stringify(body)

    for (let attempt = 0; ; attempt++) {
      await limiter?.acquire()
      let err: MattermostError
      let ambiguous = false // the request may have been processed although no answer came
      try {
        const res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs) })
        const data = await readBody(res, endpoint)
        if (res.ok) return data as T
        err = errorFromResponse(endpoint, res, data, [token, defaultToken])
      } catch (cause) {
        if (isMattermostError(cause)) throw cause
        err = networkError(endpoint, cause, timeoutMs)
        ambiguous = !notSent(cause)
      }
      // A timed-out `POST /users` may have created the user: sending it again would answer
      // "username exists" (permanent). Leave such a retry to the job, which looks up first.
      if (attempt >= maxRetries || !isRetriedInCall(err) || (ambiguous && !idempotent)) throw err
      let delayMs = Math.random() * Math.min(MAX_BACKOFF_MS, retryBaseMs * 2 ** attempt)
      if (err.status === 429 && err.retryAfterMs !== undefined) {
        if (err.retryAfterMs > maxRetryAfterMs) throw err // let the job reschedule instead of holding a slot
        delayMs = err.retryAfterMs
      }
      logger?.warn({ endpoint, status: err.status, errorId: err.id, attempt: attempt + 1, delayMs: Math.round(delayMs) },
        'mattermost request failed; retrying')
      await sleep(delayMs)
    }
  }

  const noContent = () => undefined

  return {
    // --- users ---
    /** `GET /users/me`: the user the token belongs to; a 401 means the token is invalid or revoked. */
    getMe: (o?: AsUser) => call<UserProfile>('GET', '/users/me', o),
    /** `GET /users/{user_id}`. 404 when unknown. */
    getUser: (id: string, o?: AsUser) => call<UserProfile>('GET', p`/users/${id}`, o),
    /** `GET /users/username/{username}`. 404 `app.user.get_by_username.app_error` when unknown. */
    getUserByUsername: (username: string, o?: AsUser) =>
      call<UserProfile>('GET', p`/users/username/${username}`, o),
    /** `POST /users/ids`: the users found (unknown ids are left out). No request for an empty list. */
    getUsersByIds: async (ids: string[], o?: AsUser) =>
      ids.length === 0 ? [] : call<UserProfile[]>('POST', '/users/ids', { ...o, body: ids, idempotent: true }),
    /** `POST /users/usernames`: the users found. No request for an empty list. */
    getUsersByUsernames: async (usernames: string[], o?: AsUser) =>
      usernames.length === 0 ? [] : call<UserProfile[]>('POST', '/users/usernames', { ...o, body: usernames, idempotent: true }),
    /** `POST /users` (201). 400 `app.user.save.username_exists.app_error` / `…email_exists…` when taken. */
    createUser: (user: NewUser, o?: AsUser) => call<UserProfile>('POST', '/users', { ...o, body: user }),
    /** `PUT /users/{user_id}/patch`: only the given fields change. */
    patchUser: (id: string, patch: UserPatch, o?: AsUser) =>
      call<UserProfile>('PUT', p`/users/${id}/patch`, { ...o, body: patch }),
    /** `PUT /users/{user_id}/active`: deactivating also invalidates the user's tokens (PROTOCOL §5). */
    updateUserActive: (id: string, active: boolean, o?: AsUser) =>
      call<unknown>('PUT', p`/users/${id}/active`, { ...o, body: { active } }).then(noContent),

    // --- personal access tokens (PROTOCOL §5) ---
    /** `POST /users/{user_id}/tokens` (201): the only response carrying the token. 501 when PATs are disabled. */
    createUserAccessToken: (userId: string, description: string, o?: AsUser) =>
      call<IssuedAccessToken>('POST', p`/users/${userId}/tokens`, { ...o, body: { description } }),
    /** `GET /users/{user_id}/tokens`: sanitized tokens (no token value). */
    getUserAccessTokens: (userId: string, { page = 0, perPage = 60 }: Page = {}, o?: AsUser) =>
      call<UserAccessToken[]>('GET', p`/users/${userId}/tokens`, { ...o, query: { page, per_page: perPage } }),
    /** `POST /users/tokens/revoke`: deletes the token and its sessions; later use gets 401. */
    revokeUserAccessToken: (tokenId: string, o?: AsUser) =>
      call<unknown>('POST', '/users/tokens/revoke', { ...o, body: { token_id: tokenId } }).then(noContent),

    // --- teams ---
    /** `POST /teams` (201). 400 `app.team.save.existing.app_error` (or `store.sql_team.save_team.existing.app_error`) when the name is taken. */
    createTeam: (team: NewTeam, o?: AsUser) => call<Team>('POST', '/teams', { ...o, body: team }),
    /** `GET /teams/{team_id}`. */
    getTeam: (id: string, o?: AsUser) => call<Team>('GET', p`/teams/${id}`, o),
    /** `GET /teams/name/{name}`. */
    getTeamByName: (name: string, o?: AsUser) => call<Team>('GET', p`/teams/name/${name}`, o),
    /** `POST /teams/{team_id}/members` (201); an existing member is returned as is. 400 `…max_accounts…` when full. */
    addTeamMember: (teamId: string, userId: string, o?: AsUser) =>
      call<TeamMembership>('POST', p`/teams/${teamId}/members`,
        { ...o, body: { team_id: teamId, user_id: userId }, idempotent: true }),
    /**
     * `POST /teams/{team_id}/members/batch?graceful=true`, in chunks of 256: one result per user.
     * Always graceful, because chunks are not atomic anyway: per-user outcomes are the honest answer.
     */
    addTeamMembersBatch: async (teamId: string, userIds: string[], o: AsUser & { graceful?: true } = {}) => {
      const results: TeamMemberResult[] = []
      for (const ids of chunk(userIds, TEAM_BATCH_MAX)) {
        const body = ids.map((userId) => ({ team_id: teamId, user_id: userId }))
        results.push(...await call<TeamMemberResult[]>('POST', p`/teams/${teamId}/members/batch`,
          { token: o.token, body, query: { graceful: true }, idempotent: true }))
      }
      return results
    },
    /** `DELETE /teams/{team_id}/members/{user_id}`. */
    removeTeamMember: (teamId: string, userId: string, o?: AsUser) =>
      call<unknown>('DELETE', p`/teams/${teamId}/members/${userId}`, o).then(noContent),
    /** `GET /teams/{team_id}/members`, one page (`perPage` ≤ 200, server default 60). */
    getTeamMembers: (teamId: string, { page = 0, perPage = 60 }: Page = {}, o?: AsUser) =>
      call<TeamMembership[]>('GET', p`/teams/${teamId}/members`, { ...o, query: { page, per_page: perPage } }),
    /** `POST /teams/{team_id}/members/ids`: memberships of the given users. No request for an empty list. */
    getTeamMembersByIds: async (teamId: string, userIds: string[], o?: AsUser) => userIds.length === 0
      ? []
      : call<TeamMembership[]>('POST', p`/teams/${teamId}/members/ids`, { ...o, body: userIds, idempotent: true }),

    // --- channels ---
    /** `GET /channels/{channel_id}`. */
    getChannel: (id: string, o?: AsUser) => call<Channel>('GET', p`/channels/${id}`, o),
    /** `GET /teams/{team_id}/channels/name/{channel_name}`. */
    getChannelByName: (teamId: string, name: string, o?: AsUser) =>
      call<Channel>('GET', p`/teams/${teamId}/channels/name/${name}`, o),
    /** `POST /channels` (201). 400 `store.sql_channel.save_channel.exists.app_error` when the name is taken. */
    createChannel: (channel: NewChannel, o?: AsUser) => call<Channel>('POST', '/channels', { ...o, body: channel }),
    /** `DELETE /channels/{channel_id}`: archives the channel. */
    deleteChannel: (id: string, o?: AsUser) => call<unknown>('DELETE', p`/channels/${id}`, o).then(noContent),
    /** `POST /channels/{channel_id}/members` (201); an existing member is returned as is. */
    addChannelMember: (channelId: string, userId: string, o?: AsUser) =>
      call<ChannelMembership>('POST', p`/channels/${channelId}/members`, { ...o, body: { user_id: userId }, idempotent: true }),
    /** `GET /channels/{channel_id}/members/{user_id}`; `undefined` instead of a 404. */
    getChannelMember: async (channelId: string, userId: string, o?: AsUser) => {
      try {
        return await call<ChannelMembership>('GET', p`/channels/${channelId}/members/${userId}`, o)
      } catch (err) {
        if (isMattermostError(err) && err.status === 404) return undefined
        throw err
      }
    },
    /** `DELETE /channels/{channel_id}/members/{user_id}`. */
    removeChannelMember: (channelId: string, userId: string, o?: AsUser) =>
      call<unknown>('DELETE', p`/channels/${channelId}/members/${userId}`, o).then(noContent),
    /** `POST /channels/direct` with `[a, b]`: the DM, created or existing (PROTOCOL §4). */
    createDirectChannel: (userA: string, userB: string, o?: AsUser) =>
      call<Channel>('POST', '/channels/direct', { ...o, body: [userA, userB], idempotent: true }),
    /** `GET /users/{user_id}/teams/{team_id}/channels`: the user's channels in one team. */
    getChannelsForUser: (userId: string, teamId: string, o?: AsUser) =>
      call<Channel[]>('GET', p`/users/${userId}/teams/${teamId}/channels`, o),
    /** `GET /users/{user_id}/channels`: the user's channels in all teams, DMs included. */
    getAllChannelsForUser: (userId: string, o?: AsUser) => call<Channel[]>('GET', p`/users/${userId}/channels`, o),

    // --- posts (PROTOCOL §7) ---
    /**
     * `POST /posts` (201). A repeat `pending_post_id` within 30 s returns the first post; while it is
     * in flight, 500 `api.post.deduplicate_create_post.pending`. Only with a `pending_post_id` is a
     * timed-out attempt retried here.
     */
    createPost: (post: NewPost, o?: AsUser) =>
      call<Post>('POST', '/posts', { ...o, body: post, idempotent: Boolean(post.pending_post_id) }),
    /** `GET /posts/{post_id}`. */
    getPost: (id: string, o?: AsUser) => call<Post>('GET', p`/posts/${id}`, o),
    /** `GET /channels/{channel_id}/posts?since=`: posts modified after `sinceMs` (epoch ms), up to 1000. */
    getPostsSince: (channelId: string, sinceMs: number, o?: AsUser) =>
      call<PostList>('GET', p`/channels/${channelId}/posts`, { ...o, query: { since: sinceMs } }),
    /** `GET /channels/{channel_id}/posts`: one page, newest first; with `since`, paging is ignored (the server forbids mixing them). */
    getChannelPosts: (channelId: string, { page = 0, perPage = 60, since }: Page & { since?: number } = {}, o?: AsUser) =>
      call<PostList>('GET', p`/channels/${channelId}/posts`,
        { ...o, query: since === undefined ? { page, per_page: perPage } : { since } }),

    // --- system ---
    /** `GET /system/ping`: `{ status: 'OK', … }` when healthy. */
    ping: (o?: AsUser) => call<PingResult>('GET', '/system/ping', o)
  }
}

export type MattermostClient = ReturnType<typeof createMattermostClient>
