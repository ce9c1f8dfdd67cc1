/**
 * Users, bots and personal access tokens (PROTOCOL §3 usernames, §5 PATs, §6 bots).
 * App-layer rules only; the REST routes check permissions first, as api4 does.
 */
import { SimError } from '../app-error.js'
import { newId } from '../ids.js'
import type { UserProfile, UserAccessTokenSanitized } from '../model.js'
import { checkPassword, checkUser } from '../rules.js'
import { addToIndex, broadcast, type State, type TokenRecord, type UserRecord } from '../state.js'

export interface NewUser {
  username: string
  email?: string
  password?: string
  roles?: string
  first_name?: string
  last_name?: string
  nickname?: string
  position?: string
  locale?: string
  props?: Record<string, string>
  auth_service?: string
  auth_data?: string
}

const DEFAULT_NOTIFY_PROPS = {
  channel: 'true',
  comments: 'never',
  desktop: 'mention',
  desktop_sound: 'true',
  email: 'true',
  first_name: 'false',
  mention_keys: '',
  push: 'mention',
  push_status: 'online'
}

/**
 * Creates a user like `POST /users`: username and email are lowercased (PreSave), then checked
 * (§3); taken → 400 `app.user.save.username_exists.app_error` / `…email_exists…`.
 * `checkPasswordRule` is off for seeds, which carry no password.
 */
export function createUser (s: State, input: NewUser, opts: { checkPasswordRule: boolean, isBot?: boolean } = { checkPasswordRule: false }): UserRecord {
  const username = (input.username ?? '').trim().toLowerCase()
  const email = (input.email ?? `${username}@example.com`).trim().toLowerCase()
  const profileInput = { ...input, username, email }
  checkUser(profileInput)
  const authService = input.auth_service ?? ''
  if (opts.checkPasswordRule && authService === '') checkPassword(input.password ?? '')
  if (s.userByName.has(username)) throw new SimError(400, 'app.user.save.username_exists.app_error')
  if (s.userByEmail.has(email)) throw new SimError(400, 'app.user.save.email_exists.app_error')
  const now = s.now()
  const profile: UserProfile = {
    id: newId(),
    create_at: now,
    update_at: now,
    delete_at: 0,
    username,
    auth_service: authService,
    email,
    email_verified: opts.isBot === true,
    nickname: input.nickname ?? '',
    first_name: input.first_name ?? '',
    last_name: input.last_name ?? '',
    position: input.position ?? '',
    roles: input.roles ?? 'system_user',
    props: input.props ?? {},
    notify_props: { ...DEFAULT_NOTIFY_PROPS, mention_keys: `${username},@${username}` },
    last_password_update: now,
    last_picture_update: 0,
    locale: input.locale ?? 'en',
    timezone: { useAutomaticTimezone: true, automaticTimezone: '', manualTimezone: '' },
    mfa_active: false,
    is_bot: opts.isBot === true,
    disable_welcome_email: false
  }
  if (input.auth_data !== undefined && input.auth_data !== '') profile.auth_data = input.auth_data
  const rec: UserRecord = { profile, password: input.password ?? '' }
  s.users.set(profile.id, rec)
  s.userByName.set(username, profile.id)
  s.userByEmail.set(email, profile.id)
  return rec
}

/** Creates a bot account (`POST /bots`, §6): a user with `is_bot` and a `Bot` record. */
export function createBot (s: State, input: { username: string, display_name?: string, description?: string, owner_id: string, roles?: string }): UserRecord {
  const rec = createUser(s, { username: input.username, email: `${input.username.toLowerCase()}@localhost`, roles: input.roles, first_name: input.display_name }, { checkPasswordRule: false, isBot: true })
  const p = rec.profile
  p.bot_description = input.description ?? ''
  rec.bot = {
    user_id: p.id,
    username: p.username,
    display_name: input.display_name ?? '',
    description: input.description ?? '',
    owner_id: input.owner_id,
    create_at: p.create_at,
    update_at: p.update_at,
    delete_at: 0
  }
  return rec
}

export function getUserOr404 (s: State, id: string): UserRecord {
  const rec = s.users.get(id)
  if (rec === undefined) throw new SimError(404, 'app.user.missing_account.const')
  return rec
}

const PATCHABLE = ['username', 'email', 'first_name', 'last_name', 'nickname', 'position', 'locale', 'props', 'notify_props', 'timezone'] as const

/** `PUT /users/{id}/patch`: applies the given fields, re-checks them and re-indexes username/email. */
export function patchUser (s: State, id: string, patch: Record<string, unknown>): UserProfile {
  const rec = getUserOr404(s, id)
  const next: Record<string, unknown> = { ...rec.profile }
  for (const k of PATCHABLE) {
    if (patch[k] !== undefined && patch[k] !== null) next[k] = patch[k]
  }
  const username = String(next.username).toLowerCase()
  const email = String(next.email).toLowerCase()
  next.username = username
  next.email = email
  checkUser(next as unknown as UserProfile)
  const takenName = s.userByName.get(username)
  if (takenName !== undefined && takenName !== id) throw new SimError(400, 'app.user.save.username_exists.app_error')
  const takenEmail = s.userByEmail.get(email)
  if (takenEmail !== undefined && takenEmail !== id) throw new SimError(400, 'app.user.save.email_exists.app_error')
  s.userByName.delete(rec.profile.username)
  s.userByEmail.delete(rec.profile.email)
  rec.profile = { ...(next as unknown as UserProfile), update_at: s.now() }
  s.userByName.set(username, id)
  s.userByEmail.set(email, id)
  if (rec.bot !== undefined) rec.bot.username = username
  s.publish({ event: 'user_updated', data: { user: rec.profile }, broadcast: broadcast({}) })
  return rec.profile
}

/**
 * Activates or deactivates a user (`PUT /users/{id}/active`). A deactivated user keeps memberships
 * but no longer counts towards MaxUsersPerTeam, and its tokens stop authenticating (§5).
 */
export function setUserActive (s: State, id: string, active: boolean): void {
  const rec = getUserOr404(s, id)
  const wasActive = rec.profile.delete_at === 0
  if (wasActive === active) return
  const now = s.now()
  rec.profile.delete_at = active ? 0 : now
  rec.profile.update_at = now
  if (rec.bot !== undefined) rec.bot.delete_at = rec.profile.delete_at
  for (const teamId of s.userTeams.get(id) ?? []) {
    s.teamActiveCount.set(teamId, (s.teamActiveCount.get(teamId) ?? 0) + (active ? 1 : -1))
  }
  s.publish({ event: 'user_updated', data: { user: rec.profile }, broadcast: broadcast({}) })
}

/** Issues a token: a fresh 26-char id as secret and another as token id (§5). */
export function createToken (s: State, userId: string, description: string, seeded: boolean): TokenRecord {
  const rec: TokenRecord = { id: newId(), token: newId(), userId, description, isActive: true, seeded }
  s.tokens.set(rec.token, rec)
  s.tokensById.set(rec.id, rec)
  addToIndex(s.tokensByUser, userId, rec)
  return rec
}

export function sanitizeToken (t: TokenRecord): UserAccessTokenSanitized {
  return { id: t.id, user_id: t.userId, description: t.description, is_active: t.isActive }
}

export function getTokenOr404 (s: State, tokenId: string): TokenRecord {
  const t = s.tokensById.get(tokenId)
  if (t === undefined) throw new SimError(404, 'app.user_access_token.get_by_user.app_error')
  return t
}

/** Deletes a token; the next request using it gets 401 (§5). */
export function revokeToken (s: State, t: TokenRecord): void {
  s.tokens.delete(t.token)
  s.tokensById.delete(t.id)
  s.tokensByUser.get(t.userId)?.delete(t)
}

/**
 * The user a bearer token authenticates, or undefined when it is unknown, revoked, disabled, its
 * user is deactivated, or it is an API-made PAT while EnableUserAccessTokens is false
 * (`GetSession`/`createSessionForUserAccessToken`, §5).
 */
export function authenticate (s: State, token: string): UserRecord | undefined {
  const t = s.tokens.get(token)
  if (t === undefined || !t.isActive) return undefined
  if (!t.seeded && !s.config.EnableUserAccessTokens) return undefined
  const user = s.users.get(t.userId)
  if (user === undefined || user.profile.delete_at !== 0) return undefined
  return user
}

