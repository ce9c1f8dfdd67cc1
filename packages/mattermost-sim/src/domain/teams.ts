/**
 * Teams and team membership (PROTOCOL §1.2, §3 team names, §8 batch limits).
 */
import { SimError } from '../app-error.js'
import { newId } from '../ids.js'
import type { Team, TeamMember } from '../model.js'
import { checkTeam } from '../rules.js'
import { addToIndex, broadcast, type State } from '../state.js'
import { addChannelMember, createChannel, removeChannelMember } from './channels.js'

/** Every team is created with these two open channels; joiners are added to both (`JoinDefaultChannels`). */
export const DEFAULT_CHANNELS = [
  { name: 'town-square', displayName: 'Town Square' },
  { name: 'off-topic', displayName: 'Off-Topic' }
]

/**
 * Creates a team (`POST /teams`) with `town-square` and `off-topic`. Name rules §3; taken →
 * 400 `app.team.save.existing.app_error`. When `creatorId` is given (REST), the creator joins
 * as team admin, as `CreateTeamWithUser` does.
 */
export function createTeam (s: State, input: { name: string, display_name: string, type?: 'O' | 'I', description?: string }, creatorId?: string): Team {
  const type = input.type ?? 'O'
  const t = { name: input.name ?? '', display_name: input.display_name ?? '', type }
  checkTeam(t)
  if (s.teamByName.has(t.name)) throw new SimError(400, 'app.team.save.existing.app_error')
  const now = s.now()
  const team: Team = {
    id: newId(),
    create_at: now,
    update_at: now,
    delete_at: 0,
    display_name: t.display_name,
    name: t.name,
    description: input.description ?? '',
    email: '',
    type,
    company_name: '',
    allowed_domains: '',
    invite_id: newId(),
    allow_open_invite: type === 'O',
    scheme_id: '',
    group_constrained: false
  }
  s.teams.set(team.id, team)
  s.teamByName.set(team.name, team.id)
  s.teamMembers.set(team.id, new Map())
  s.teamActiveCount.set(team.id, 0)
  for (const c of DEFAULT_CHANNELS) {
    createChannel(s, { team_id: team.id, name: c.name, display_name: c.displayName, type: 'O' })
  }
  if (creatorId !== undefined) joinTeam(s, team.id, creatorId, { enforceMax: true, admin: true })
  return team
}

export function getTeamOr404 (s: State, id: string): Team {
  const team = s.teams.get(id)
  if (team === undefined) throw new SimError(404, 'app.team.get.find.app_error')
  return team
}

export function isTeamMember (s: State, teamId: string, userId: string): boolean {
  return s.teamMembers.get(teamId)?.has(userId) === true
}

/**
 * Adds a user to a team (`JoinUserToTeam`). Already a member → the existing member, no error
 * (§1.2). A full team (active members ≥ MaxUsersPerTeam) → 400
 * `app.team.join_user_to_team.max_accounts.app_error`. Also joins the default channels and
 * sends `added_to_team` to the user.
 */
export function joinTeam (s: State, teamId: string, userId: string, opts: { enforceMax: boolean, admin?: boolean }): { member: TeamMember, existed: boolean } {
  const team = getTeamOr404(s, teamId)
  const user = s.users.get(userId)
  if (user === undefined) throw new SimError(404, 'app.user.missing_account.const')
  const members = s.teamMembers.get(team.id)!
  const existing = members.get(userId)
  if (existing !== undefined) return { member: existing, existed: true }
  const active = s.teamActiveCount.get(team.id) ?? 0
  if (opts.enforceMax && active >= s.config.MaxUsersPerTeam) {
    throw new SimError(400, 'app.team.join_user_to_team.max_accounts.app_error')
  }
  const member: TeamMember = {
    team_id: team.id,
    user_id: userId,
    roles: opts.admin === true ? 'team_user team_admin' : 'team_user',
    delete_at: 0,
    scheme_guest: false,
    scheme_user: true,
    scheme_admin: opts.admin === true,
    explicit_roles: '',
    create_at: s.now()
  }
  members.set(userId, member)
  if (user.profile.delete_at === 0) s.teamActiveCount.set(team.id, active + 1)
  addToIndex(s.userTeams, userId, team.id)
  s.publish({ event: 'added_to_team', data: { team_id: team.id, user_id: userId }, broadcast: broadcast({ user_id: userId }) })
  for (const c of DEFAULT_CHANNELS) {
    const channelId = s.channelByName.get(`${team.id}/${c.name}`)
    const channel = channelId === undefined ? undefined : s.channels.get(channelId)
    if (channel !== undefined && channel.delete_at === 0) addChannelMember(s, channel.id, userId)
  }
  return { member, existed: false }
}

/**
 * Removes a user from a team and its channels (`DELETE /teams/{id}/members/{uid}`); sends
 * `leave_team` to the team (the leaving user included).
 */
export function leaveTeam (s: State, teamId: string, userId: string, removerId: string): void {
  const team = getTeamOr404(s, teamId)
  const members = s.teamMembers.get(team.id)!
  if (!members.has(userId)) throw new SimError(404, 'app.team.get_member.missing.app_error')
  s.publish({ event: 'leave_team', data: { team_id: team.id, user_id: userId }, broadcast: broadcast({ team_id: team.id }) })
  for (const channelId of s.teamChannels.get(team.id) ?? []) {
    if (s.channelMembers.get(channelId)?.has(userId) === true) removeChannelMember(s, channelId, userId, removerId)
  }
  members.delete(userId)
  const user = s.users.get(userId)
  if (user !== undefined && user.profile.delete_at === 0) s.teamActiveCount.set(team.id, (s.teamActiveCount.get(team.id) ?? 1) - 1)
  s.userTeams.get(userId)?.delete(team.id)
}
