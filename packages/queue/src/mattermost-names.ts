/**
 * Mattermost's name rules for teams, channels and usernames, and the derivations Parley uses
 * to turn any organisation slug or Parley username into a valid name.
 * Source: /work/shared/mattermost/PROTOCOL.md §3 ("Name and size rules").
 */

/** Team `name`: 2–64, lowercase alphanumerics and `-`, starts and ends alphanumeric (one `__` allowed). */
export const TEAM_NAME_PATTERN = /^[a-z0-9]+([a-z\-0-9]+|(__)?)[a-z0-9]+$/
/** Reserved team-name prefixes (prefix match, PROTOCOL §3). */
export const RESERVED_TEAM_PREFIXES = ['admin', 'api', 'channel', 'claim', 'error', 'files', 'help', 'landing', 'login', 'mfa', 'oauth', 'plug', 'plugins', 'post', 'signup', 'boards', 'playbooks']
/** Channel `name`: 1–64, lowercase alphanumerics, `-` and `_`, starts alphanumeric. */
export const CHANNEL_NAME_PATTERN = /^[a-z0-9]+([a-z\-_0-9]+|(__)?)[a-z0-9]*$/
/** Username: 1–64 of `a-z 0-9 . - _`. */
export const USERNAME_PATTERN = /^[a-z0-9.\-_]+$/
export const RESERVED_USERNAMES = ['all', 'channel', 'matterbot', 'system']

/** Why `name` is not a valid Mattermost team name, or undefined when it is. */
export function teamNameProblem (name: string): string | undefined {
  if (name.length < 2 || name.length > 64) return 'must be 2 to 64 characters'
  if (!TEAM_NAME_PATTERN.test(name)) return 'may contain only lowercase letters, digits and "-", and must start and end with a letter or digit'
  const reserved = RESERVED_TEAM_PREFIXES.find(p => name.startsWith(p))
  if (reserved) return `may not start with the reserved word "${reserved}"`
  return undefined
}

/** Why `name` is not a valid Mattermost channel name, or undefined when it is. */
export function channelNameProblem (name: string): string | undefined {
  if (name.length < 1 || name.length > 64) return 'must be 1 to 64 characters'
  if (!CHANNEL_NAME_PATTERN.test(name)) return 'may contain only lowercase letters, digits, "-" and "_", and must start with a letter or digit'
  if (/^[a-z0-9]{26}__[a-z0-9]{26}$/.test(name) || /^[a-f0-9]{40}$/.test(name)) return 'looks like a direct or group message channel name'
  return undefined
}

/**
 * A valid team name derived from any slug: lowercased, other characters become `-`, runs of `-`
 * collapse, trimmed to 64; a reserved prefix or a too-short result gets a `team-` prefix or
 * `-team` suffix. `suffix` (2, 3, …) makes the next candidate when a name is taken.
 */
export function teamNameFromSlug (slug: string, suffix?: number): string {
  let base = slug.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
  if (base === '') base = 'team'
  if (RESERVED_TEAM_PREFIXES.some(p => base.startsWith(p))) base = `team-${base}`
  if (base.length < 2) base = `${base}-team`
  const tail = suffix === undefined ? '' : `-${suffix}`
  base = base.slice(0, 64 - tail.length).replace(/-+$/g, '')
  return base + tail
}

/** A valid Mattermost username derived from a Parley username (lowercase, invalid characters → `-`). */
export function mattermostUsernameFor (username: string): string {
  let name = username.toLowerCase().replace(/[^a-z0-9.\-_]+/g, '-').slice(0, 64)
  if (name === '') name = 'user'
  if (RESERVED_USERNAMES.includes(name)) name = `${name}-user`
  return name
}
