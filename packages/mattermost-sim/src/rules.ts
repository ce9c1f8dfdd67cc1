/**
 * Name and size rules (PROTOCOL §3). Each check throws the 400 `SimError` Mattermost answers.
 */
import { SimError } from './app-error.js'

const USERNAME_RE = /^[a-z0-9.\-_]+$/
const RESTRICTED_USERNAMES = new Set(['all', 'channel', 'matterbot', 'system'])
const TEAM_NAME_RE = /^[a-z0-9]+([a-z\-0-9]+|(__)?)[a-z0-9]+$/
const RESERVED_TEAM_PREFIXES = ['admin', 'api', 'channel', 'claim', 'error', 'files', 'help', 'landing', 'login', 'mfa',
  'oauth', 'plug', 'plugins', 'post', 'signup', 'boards', 'playbooks']
const CHANNEL_NAME_RE = /^[a-z0-9]+([a-z\-_0-9]+|(__)?)[a-z0-9]*$/
const DM_NAME_RE = /^[a-z0-9]{26}__[a-z0-9]{26}$/
const GM_NAME_RE = /^[a-f0-9]{40}$/
// A bare address, lowercase (IsValidEmail: no display name, no upper case).
const EMAIL_RE = /^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/

/** Message limit in runes: PostMessageMaxBytesV2 / 4 (PROTOCOL §3 "Posts"). */
export const POST_MESSAGE_MAX_RUNES = 16383

/** Length in Unicode code points, as Go's `utf8.RuneCountInString`. */
export function runeLength (s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}

function invalidUser (field: string, detail = ''): SimError {
  return new SimError(400, `model.user.is_valid.${field}.app_error`, undefined, detail)
}

/** `User.IsValid` for the fields the simulator stores; `username`/`email` already lowercased. */
export function checkUser (u: { username: string, email: string, nickname?: string, first_name?: string, last_name?: string, position?: string, locale?: string }): void {
  const { username } = u
  if (username.length < 1 || username.length > 64 || !USERNAME_RE.test(username) || RESTRICTED_USERNAMES.has(username)) {
    throw invalidUser('username', `username=${username}`)
  }
  if (u.email.length > 128 || !EMAIL_RE.test(u.email) || u.email !== u.email.toLowerCase()) throw invalidUser('email')
  if (runeLength(u.nickname ?? '') > 64) throw invalidUser('nickname')
  if (runeLength(u.first_name ?? '') > 64) throw invalidUser('first_name')
  if (runeLength(u.last_name ?? '') > 64) throw invalidUser('last_name')
  if (runeLength(u.position ?? '') > 128) throw invalidUser('position')
  if ((u.locale ?? '').length > 5) throw invalidUser('locale')
}

/** PasswordSettings defaults: MinimumLength 8, no character classes; PasswordMaximumLength 72. */
export function checkPassword (password: string): void {
  if (password.length < 8) throw new SimError(400, 'model.user.is_valid.pwd_min_length.app_error')
  if (Buffer.byteLength(password) > 72) throw new SimError(400, 'model.user.is_valid.pwd_max_length.app_error')
}

/** `Team.IsValid` + reserved names (`model.team.is_valid.*`). */
export function checkTeam (t: { name: string, display_name: string, type: string }): void {
  const { name } = t
  if (name.length < 2 || name.length > 64 || !TEAM_NAME_RE.test(name)) {
    throw new SimError(400, name.length > 64 ? 'model.team.is_valid.url.app_error' : 'model.team.is_valid.characters.app_error')
  }
  const lower = name.toLowerCase()
  if (RESERVED_TEAM_PREFIXES.some(p => lower.startsWith(p))) throw new SimError(400, 'model.team.is_valid.reserved.app_error')
  const dl = runeLength(t.display_name)
  if (dl < 1 || dl > 64) throw new SimError(400, 'model.team.is_valid.name.app_error')
  if (t.type !== 'O' && t.type !== 'I') throw new SimError(400, 'model.team.is_valid.type.app_error')
}

/** `Channel.IsValid` for open/private channels (`model.channel.is_valid.*`). */
export function checkChannel (c: { name: string, display_name: string, type: string, header?: string, purpose?: string }): void {
  const { name } = c
  if (name.length < 1 || name.length > 64 || !CHANNEL_NAME_RE.test(name)) throw new SimError(400, 'model.channel.is_valid.1_or_more.app_error')
  if (DM_NAME_RE.test(name) || GM_NAME_RE.test(name)) throw new SimError(400, 'model.channel.is_valid.name.app_error')
  if (runeLength(c.display_name) > 64 || c.display_name.length === 0) throw new SimError(400, 'model.channel.is_valid.display_name.app_error')
  if (c.type !== 'O' && c.type !== 'P') throw new SimError(400, 'model.channel.is_valid.type.app_error')
  if (runeLength(c.header ?? '') > 1024) throw new SimError(400, 'model.channel.is_valid.header.app_error')
  if (runeLength(c.purpose ?? '') > 250) throw new SimError(400, 'model.channel.is_valid.purpose.app_error')
}
