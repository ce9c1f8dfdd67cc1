/**
 * Teams and team members: openapi/teams.yaml; rules PROTOCOL §1.2, §3, §8.
 */
import { SimError } from '../../app-error.js'
import { createTeam, getTeamOr404, isTeamMember, joinTeam, leaveTeam } from '../../domain/teams.js'
import { isValidId } from '../../ids.js'
import type { Team, TeamMember } from '../../model.js'
import {
  type AddRoute, type Ctx, created, forbidden, idParam, isAdmin, isTeamAdmin, me, objectBody, ok, optString, pageOf, paging,
  requireSelfOrAdmin, STATUS_OK, stringArrayBody
} from '../context.js'

/** `MaxAddMembersBatch` (§8). */
const MAX_ADD_MEMBERS_BATCH = 256

// `view_team`: members and admins; open teams are also listable by anyone.
function canViewTeam (ctx: Ctx, team: Team): boolean {
  return isAdmin(ctx) || isTeamMember(ctx.s, team.id, me(ctx).profile.id) || (team.type === 'O' && team.allow_open_invite)
}

function requireTeamMemberOrAdmin (ctx: Ctx, teamId: string): void {
  if (!isAdmin(ctx) && !isTeamMember(ctx.s, teamId, me(ctx).profile.id)) throw forbidden()
}

export function teamRoutes (route: AddRoute): void {
  route('POST', '/api/v4/teams', (ctx) => {
    const body = objectBody(ctx, 'team')
    const type = optString(body, 'type') ?? 'O'
    return created(createTeam(ctx.s, {
      name: optString(body, 'name') ?? '',
      display_name: optString(body, 'display_name') ?? '',
      type: type as 'O' | 'I',
      description: optString(body, 'description')
    }, me(ctx).profile.id))
  })

  route('GET', '/api/v4/teams', (ctx) => {
    const { page, perPage } = paging(ctx)
    const admin = isAdmin(ctx)
    me(ctx)
    function * teams () {
      for (const t of ctx.s.teams.values()) if (t.delete_at === 0 && (admin || (t.type === 'O' && t.allow_open_invite))) yield t
    }
    return ok(pageOf(teams(), page, perPage))
  })

  route('GET', '/api/v4/teams/{team_id}', (ctx) => {
    const team = getTeamOr404(ctx.s, idParam(ctx, 'team_id'))
    if (!canViewTeam(ctx, team)) throw forbidden()
    return ok(team)
  })

  route('GET', '/api/v4/teams/name/{name}', (ctx) => {
    const id = ctx.s.teamByName.get(ctx.params.name ?? '')
    if (id === undefined) throw new SimError(404, 'app.team.get_by_name.missing.app_error')
    const team = ctx.s.teams.get(id)!
    if (!canViewTeam(ctx, team)) throw forbidden()
    return ok(team)
  })

  route('GET', '/api/v4/teams/name/{name}/exists', (ctx) => {
    me(ctx)
    return ok({ exists: ctx.s.teamByName.has(ctx.params.name ?? '') })
  })

  route('GET', '/api/v4/users/{user_id}/teams', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    requireSelfOrAdmin(ctx, id)
    const out: Team[] = []
    for (const teamId of ctx.s.userTeams.get(id) ?? []) out.push(ctx.s.teams.get(teamId)!)
    return ok(out)
  })

  route('GET', '/api/v4/users/{user_id}/teams/members', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    requireSelfOrAdmin(ctx, id)
    const out: TeamMember[] = []
    for (const teamId of ctx.s.userTeams.get(id) ?? []) out.push(ctx.s.teamMembers.get(teamId)!.get(id)!)
    return ok(out)
  })

  // Self-join needs an open team; adding someone else needs `add_user_to_team` (team or system admin).
  route('POST', '/api/v4/teams/{team_id}/members', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const body = objectBody(ctx, 'team_member')
    const userId = optString(body, 'user_id')
    if (!isValidId(userId)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_id')
    if (body.team_id !== undefined && body.team_id !== teamId) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'team_id')
    const team = getTeamOr404(ctx.s, teamId)
    const self = userId === me(ctx).profile.id
    if (!isTeamAdmin(ctx, teamId) && !(self && team.type === 'O' && team.allow_open_invite)) throw forbidden()
    return created(joinTeam(ctx.s, teamId, userId, { enforceMax: true }).member)
  })

  // §8: at most 256 per call; `graceful=true` answers per user instead of stopping at the first error.
  route('POST', '/api/v4/teams/{team_id}/members/batch', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const list = ctx.body
    if (!Array.isArray(list) || list.length === 0) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'member')
    if (list.length > MAX_ADD_MEMBERS_BATCH) throw new SimError(400, 'api.context.invalid_param.app_error', undefined, 'too many members in batch')
    const userIds: string[] = []
    for (const m of list) {
      const o = (m ?? {}) as Record<string, unknown>
      if (!isValidId(o.user_id)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_id')
      if (o.team_id !== teamId) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'team_id')
      userIds.push(o.user_id)
    }
    getTeamOr404(ctx.s, teamId)
    if (!isTeamAdmin(ctx, teamId)) throw forbidden()
    if (ctx.query.graceful === 'true') {
      return created(userIds.map((userId) => {
        try {
          return { member: joinTeam(ctx.s, teamId, userId, { enforceMax: true }).member, user_id: userId, error: null }
        } catch (err) {
          if (!(err instanceof SimError)) throw err
          return { member: null, user_id: userId, error: { id: err.id, message: err.message, detailed_error: err.detailedError, request_id: '', status_code: err.status } }
        }
      }))
    }
    return created(userIds.map(userId => joinTeam(ctx.s, teamId, userId, { enforceMax: true }).member))
  })

  route('DELETE', '/api/v4/teams/{team_id}/members/{user_id}', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const userId = idParam(ctx, 'user_id', true)
    getTeamOr404(ctx.s, teamId)
    if (me(ctx).profile.id !== userId && !isTeamAdmin(ctx, teamId)) throw forbidden()
    leaveTeam(ctx.s, teamId, userId, me(ctx).profile.id)
    return ok(STATUS_OK)
  })

  route('GET', '/api/v4/teams/{team_id}/members', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    getTeamOr404(ctx.s, teamId)
    requireTeamMemberOrAdmin(ctx, teamId)
    const { page, perPage } = paging(ctx)
    return ok(pageOf(ctx.s.teamMembers.get(teamId)!.values(), page, perPage))
  })

  route('GET', '/api/v4/teams/{team_id}/members/{user_id}', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const userId = idParam(ctx, 'user_id', true)
    getTeamOr404(ctx.s, teamId)
    requireTeamMemberOrAdmin(ctx, teamId)
    const m = ctx.s.teamMembers.get(teamId)!.get(userId)
    if (m === undefined) throw new SimError(404, 'app.team.get_member.missing.app_error')
    return ok(m)
  })

  route('POST', '/api/v4/teams/{team_id}/members/ids', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const ids = stringArrayBody(ctx, 'user_ids')
    getTeamOr404(ctx.s, teamId)
    requireTeamMemberOrAdmin(ctx, teamId)
    const members = ctx.s.teamMembers.get(teamId)!
    const out: TeamMember[] = []
    for (const id of new Set(ids)) {
      const m = members.get(id)
      if (m !== undefined) out.push(m)
    }
    return ok(out)
  })

  route('GET', '/api/v4/teams/{team_id}/stats', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    getTeamOr404(ctx.s, teamId)
    requireTeamMemberOrAdmin(ctx, teamId)
    return ok({ team_id: teamId, total_member_count: ctx.s.teamMembers.get(teamId)!.size, active_member_count: ctx.s.teamActiveCount.get(teamId) ?? 0 })
  })
}
