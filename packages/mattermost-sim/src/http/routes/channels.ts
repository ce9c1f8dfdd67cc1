/**
 * Channels, DMs and channel members: openapi/channels.yaml; rules PROTOCOL §1.2, §3, §4.
 */
import { SimError } from '../../app-error.js'
import {
  addChannelMember, archiveChannel, createChannel, getChannelOr404, getOrCreateDirectChannel, isChannelMember,
  removeChannelMember, restoreChannel, shareTeam
} from '../../domain/channels.js'
import { getTeamOr404, isTeamMember } from '../../domain/teams.js'
import { isValidId } from '../../ids.js'
import type { Channel, ChannelMember } from '../../model.js'
import {
  type AddRoute, type Ctx, canReadChannel, created, forbidden, idParam, isAdmin, isTeamAdmin, me, objectBody, ok, optString,
  pageOf, paging, requireSelfOrAdmin, STATUS_OK, stringArrayBody
} from '../context.js'

// `manage_public_channel_members` / `manage_private_channel_members`: channel members and team admins.
function canManageMembers (ctx: Ctx, channel: Channel): boolean {
  return isAdmin(ctx) || isChannelMember(ctx.s, channel.id, me(ctx).profile.id) || isTeamAdmin(ctx, channel.team_id)
}

function channelsOfUser (ctx: Ctx, userId: string, teamId: string | undefined): Channel[] {
  const includeDeleted = ctx.query.include_deleted === 'true'
  const out: Channel[] = []
  for (const id of ctx.s.userChannels.get(userId) ?? []) {
    const c = ctx.s.channels.get(id)!
    if (teamId !== undefined && c.team_id !== teamId && c.team_id !== '') continue
    if (c.delete_at !== 0 && !includeDeleted) continue
    out.push(c)
  }
  return out
}

export function channelRoutes (route: AddRoute): void {
  route('POST', '/api/v4/channels', (ctx) => {
    const body = objectBody(ctx, 'channel')
    const teamId = optString(body, 'team_id')
    if (!isValidId(teamId)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'team_id')
    getTeamOr404(ctx.s, teamId)
    if (!isAdmin(ctx) && !isTeamMember(ctx.s, teamId, me(ctx).profile.id)) throw forbidden()
    return created(createChannel(ctx.s, {
      team_id: teamId,
      name: optString(body, 'name') ?? '',
      display_name: optString(body, 'display_name') ?? '',
      type: optString(body, 'type') ?? 'O',
      header: optString(body, 'header'),
      purpose: optString(body, 'purpose')
    }, me(ctx).profile.id))
  })

  // §4: the caller must be one of the two unless `manage_system`; RestrictDirectMessage=team needs a
  // shared team unless a bot or an admin is involved.
  route('POST', '/api/v4/channels/direct', (ctx) => {
    const ids = stringArrayBody(ctx, 'user_ids')
    if (ids.length !== 2 || !ids.every(isValidId)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_ids')
    const caller = me(ctx).profile.id
    const admin = isAdmin(ctx)
    if (!admin && !ids.includes(caller)) throw forbidden()
    const [a, b] = ids
    if (ctx.s.config.RestrictDirectMessage === 'team' && !admin) {
      const ua = ctx.s.users.get(a)
      const ub = ctx.s.users.get(b)
      const botInvolved = ua?.profile.is_bot === true || ub?.profile.is_bot === true
      if (!botInvolved && !shareTeam(ctx.s, a, b)) throw new SimError(403, 'api.channel.create_channel.direct_channel.team_restricted_error')
    }
    const creator = ids.includes(caller) ? caller : a
    const other = creator === a ? b : a
    return created(getOrCreateDirectChannel(ctx.s, creator, other).channel)
  })

  route('GET', '/api/v4/channels/{channel_id}', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    if (!canReadChannel(ctx, channel)) throw forbidden()
    return ok(channel)
  })

  route('DELETE', '/api/v4/channels/{channel_id}', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    if (!canManageMembers(ctx, channel)) throw forbidden()
    archiveChannel(ctx.s, channel)
    return ok(STATUS_OK)
  })

  route('POST', '/api/v4/channels/{channel_id}/restore', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    if (!isTeamAdmin(ctx, channel.team_id)) throw forbidden()
    restoreChannel(ctx.s, channel)
    return ok(channel)
  })

  route('GET', '/api/v4/teams/{team_id}/channels/name/{channel_name}', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    const id = ctx.s.channelByName.get(`${teamId}/${ctx.params.channel_name ?? ''}`)
    const channel = id === undefined ? undefined : ctx.s.channels.get(id)
    if (channel === undefined || (channel.delete_at !== 0 && ctx.query.include_deleted !== 'true')) {
      throw new SimError(404, 'app.channel.get_by_name.missing.app_error')
    }
    if (!canReadChannel(ctx, channel)) throw forbidden()
    return ok(channel)
  })

  route('GET', '/api/v4/teams/{team_id}/channels', (ctx) => {
    const teamId = idParam(ctx, 'team_id')
    getTeamOr404(ctx.s, teamId)
    if (!isAdmin(ctx) && !isTeamMember(ctx.s, teamId, me(ctx).profile.id)) throw forbidden()
    const { page, perPage } = paging(ctx)
    function * open () {
      for (const id of ctx.s.teamChannels.get(teamId) ?? []) {
        const c = ctx.s.channels.get(id)!
        if (c.type === 'O' && c.delete_at === 0) yield c
      }
    }
    return ok(pageOf(open(), page, perPage))
  })

  // `{user_id}` or `{user_ids}`: one id answers one ChannelMember, a list answers an array (as the server does).
  route('POST', '/api/v4/channels/{channel_id}/members', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    const body = objectBody(ctx, 'channel_member')
    const single = optString(body, 'user_id')
    const many = body.user_ids
    let ids: string[]
    if (single !== undefined && single !== '') ids = [single]
    else if (Array.isArray(many) && many.length > 0 && many.length <= 1000) ids = many.map(String)
    else throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_id')
    if (!ids.every(isValidId)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_id')
    if (channel.type !== 'O' && channel.type !== 'P') throw new SimError(400, 'api.channel.add_user_to_channel.type.app_error')
    if (channel.delete_at !== 0) throw new SimError(400, 'api.channel.add_user.to.channel.failed.deleted.app_error')
    const caller = me(ctx).profile.id
    const selfJoinOpen = channel.type === 'O' && ids.length === 1 && ids[0] === caller
    if (!selfJoinOpen && !canManageMembers(ctx, channel)) throw forbidden()
    const members = ids.map(id => addChannelMember(ctx.s, channel.id, id).member)
    return created(single !== undefined && single !== '' ? members[0] : members)
  })

  route('GET', '/api/v4/channels/{channel_id}/members', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    if (!canReadChannel(ctx, channel)) throw forbidden()
    const { page, perPage } = paging(ctx)
    return ok(pageOf(ctx.s.channelMembers.get(channel.id)!.values(), page, perPage))
  })

  route('GET', '/api/v4/channels/{channel_id}/members/{user_id}', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    const userId = idParam(ctx, 'user_id', true)
    if (!canReadChannel(ctx, channel)) throw forbidden()
    const m = ctx.s.channelMembers.get(channel.id)!.get(userId)
    if (m === undefined) throw new SimError(404, 'app.channel.get_member.missing.app_error')
    return ok(m)
  })

  route('DELETE', '/api/v4/channels/{channel_id}/members/{user_id}', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    const userId = idParam(ctx, 'user_id', true)
    if (userId !== me(ctx).profile.id && !canManageMembers(ctx, channel)) throw forbidden()
    removeChannelMember(ctx.s, channel.id, userId, me(ctx).profile.id)
    return ok(STATUS_OK)
  })

  route('POST', '/api/v4/channels/{channel_id}/members/ids', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    const ids = stringArrayBody(ctx, 'user_ids')
    if (!canReadChannel(ctx, channel)) throw forbidden()
    const members = ctx.s.channelMembers.get(channel.id)!
    const out: ChannelMember[] = []
    for (const id of new Set(ids)) {
      const m = members.get(id)
      if (m !== undefined) out.push(m)
    }
    return ok(out)
  })

  // Like the server, the team's channels the user is in plus the user's DMs/GMs.
  route('GET', '/api/v4/users/{user_id}/teams/{team_id}/channels', (ctx) => {
    const userId = idParam(ctx, 'user_id', true)
    const teamId = idParam(ctx, 'team_id')
    requireSelfOrAdmin(ctx, userId)
    getTeamOr404(ctx.s, teamId)
    return ok(channelsOfUser(ctx, userId, teamId))
  })

  route('GET', '/api/v4/users/{user_id}/channels', (ctx) => {
    const userId = idParam(ctx, 'user_id', true)
    requireSelfOrAdmin(ctx, userId)
    return ok(channelsOfUser(ctx, userId, undefined))
  })

  route('GET', '/api/v4/users/{user_id}/teams/{team_id}/channels/members', (ctx) => {
    const userId = idParam(ctx, 'user_id', true)
    const teamId = idParam(ctx, 'team_id')
    requireSelfOrAdmin(ctx, userId)
    const out: ChannelMember[] = []
    for (const c of channelsOfUser(ctx, userId, teamId)) out.push(ctx.s.channelMembers.get(c.id)!.get(userId)!)
    return ok(out)
  })
}
