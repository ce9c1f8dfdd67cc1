/**
 * Users and personal access tokens: openapi/users.yaml; rules PROTOCOL §1.2, §3, §5.
 */
import { SimError } from '../../app-error.js'
import { createToken, createUser, getTokenOr404, getUserOr404, patchUser, revokeToken, sanitizeToken, setUserActive, type NewUser } from '../../domain/users.js'
import { isValidId } from '../../ids.js'
import type { UserAccessToken } from '../../model.js'
import { isSystemAdmin } from '../../state.js'
import {
  type AddRoute, type Ctx, created, forbidden, idParam, isAdmin, me, objectBody, ok, optString, pageOf, paging,
  requireSelfOrAdmin, STATUS_OK, stringArrayBody
} from '../context.js'

export function userRoutes (route: AddRoute): void {
  // No session needed on an open server; ours is closed (EnableOpenServer=false), so only admins create.
  route('POST', '/api/v4/users', (ctx) => {
    const body = objectBody(ctx, 'user')
    if (!isAdmin(ctx)) throw new SimError(403, 'api.user.create_user.no_open_server')
    const input: NewUser = {
      username: optString(body, 'username') ?? '',
      email: optString(body, 'email') ?? '',
      password: optString(body, 'password'),
      first_name: optString(body, 'first_name'),
      last_name: optString(body, 'last_name'),
      nickname: optString(body, 'nickname'),
      position: optString(body, 'position'),
      locale: optString(body, 'locale'),
      auth_service: optString(body, 'auth_service'),
      auth_data: optString(body, 'auth_data'),
      props: typeof body.props === 'object' && body.props !== null ? body.props as Record<string, string> : undefined
    }
    return created(createUser(ctx.s, input, { checkPasswordRule: true }).profile)
  }, { auth: false })

  route('GET', '/api/v4/users', (ctx) => {
    me(ctx)
    const { page, perPage } = paging(ctx)
    const teamId = ctx.query.in_team
    const channelId = ctx.query.in_channel
    let ids: Iterable<string>
    if (teamId !== undefined && teamId !== '') ids = ctx.s.teamMembers.get(teamId)?.keys() ?? []
    else if (channelId !== undefined && channelId !== '') ids = ctx.s.channelMembers.get(channelId)?.keys() ?? []
    else ids = ctx.s.users.keys()
    const active = ctx.query.active === 'true' ? true : ctx.query.inactive === 'true' ? false : undefined
    function * profiles () {
      for (const id of ids) {
        const u = ctx.s.users.get(id)
        if (u === undefined) continue
        if (active !== undefined && (u.profile.delete_at === 0) !== active) continue
        yield u.profile
      }
    }
    return ok(pageOf(profiles(), page, perPage))
  })

  route('GET', '/api/v4/users/{user_id}', (ctx) => ok(getUserOr404(ctx.s, idParam(ctx, 'user_id', true)).profile))

  route('GET', '/api/v4/users/username/{username}', (ctx) => {
    const id = ctx.s.userByName.get((ctx.params.username ?? '').toLowerCase())
    if (id === undefined) throw new SimError(404, 'app.user.get_by_username.app_error')
    return ok(ctx.s.users.get(id)!.profile)
  })

  route('GET', '/api/v4/users/email/{email}', (ctx) => {
    const id = ctx.s.userByEmail.get((ctx.params.email ?? '').toLowerCase())
    if (id === undefined) throw new SimError(404, 'app.user.missing_account.const')
    return ok(ctx.s.users.get(id)!.profile)
  })

  route('POST', '/api/v4/users/ids', (ctx) => {
    const ids = stringArrayBody(ctx, 'user_ids')
    if (ids.length === 0) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'user_ids')
    const since = Number(ctx.query.since ?? 0)
    const out = []
    for (const id of new Set(ids)) {
      const u = ctx.s.users.get(id)
      if (u !== undefined && (!(since > 0) || u.profile.update_at > since)) out.push(u.profile)
    }
    return ok(out)
  })

  route('POST', '/api/v4/users/usernames', (ctx) => {
    const names = stringArrayBody(ctx, 'usernames')
    if (names.length === 0) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'usernames')
    const out = []
    for (const name of new Set(names.map(n => n.toLowerCase()))) {
      const id = ctx.s.userByName.get(name)
      if (id !== undefined) out.push(ctx.s.users.get(id)!.profile)
    }
    return ok(out)
  })

  route('PUT', '/api/v4/users/{user_id}/patch', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    const body = objectBody(ctx, 'user')
    requireSelfOrAdmin(ctx, id)
    return ok(patchUser(ctx.s, id, body))
  })

  // A user may deactivate themselves; `manage_system` may do either.
  route('PUT', '/api/v4/users/{user_id}/active', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    const body = objectBody(ctx, 'active')
    if (typeof body.active !== 'boolean') throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'active')
    const self = me(ctx).profile.id === id
    if (!isAdmin(ctx) && !(self && !body.active)) throw forbidden()
    setUserActive(ctx.s, id, body.active)
    return ok(STATUS_OK)
  })

  route('PUT', '/api/v4/users/{user_id}/roles', (ctx) => {
    const id = idParam(ctx, 'user_id')
    const body = objectBody(ctx, 'roles')
    if (!isAdmin(ctx)) throw forbidden()
    const roles = optString(body, 'roles')
    if (roles === undefined || roles.split(' ').some(r => r !== 'system_user' && r !== 'system_admin' && r !== 'system_user_access_token' && r !== '')) {
      throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'roles')
    }
    const rec = getUserOr404(ctx.s, id)
    rec.profile.roles = roles
    rec.profile.update_at = ctx.s.now()
    return ok(STATUS_OK)
  })

  // §5 order of checks: body, description, create_user_access_token, other user, then the 501 switch.
  route('POST', '/api/v4/users/{user_id}/tokens', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    const body = objectBody(ctx, 'user_access_token')
    const description = optString(body, 'description') ?? ''
    if (description === '') throw new SimError(400, 'api.context.invalid_param.app_error', undefined, 'description')
    if (!mayCreateTokens(ctx)) throw forbidden()
    if (me(ctx).profile.id !== id && !isAdmin(ctx) && !ownsBot(ctx, id)) throw forbidden()
    if (!ctx.s.config.EnableUserAccessTokens) throw new SimError(501, 'app.user_access_token.disabled')
    const user = getUserOr404(ctx.s, id)
    if (user.profile.delete_at !== 0) throw new SimError(400, 'app.user_access_token.create.deactivated')
    const t = createToken(ctx.s, id, description, false)
    const answer: UserAccessToken = { id: t.id, token: t.token, user_id: t.userId, description: t.description, is_active: true }
    return created(answer)
  })

  route('GET', '/api/v4/users/{user_id}/tokens', (ctx) => {
    const id = idParam(ctx, 'user_id', true)
    mayManageTokensOf(ctx, id)
    const { page, perPage } = paging(ctx)
    return ok(pageOf(ctx.s.tokensByUser.get(id) ?? [], page, perPage).map(sanitizeToken))
  })

  route('GET', '/api/v4/users/tokens', (ctx) => {
    if (!isAdmin(ctx)) throw forbidden()
    const { page, perPage } = paging(ctx)
    return ok(pageOf(ctx.s.tokensById.values(), page, perPage).map(sanitizeToken))
  })

  route('GET', '/api/v4/users/tokens/{token_id}', (ctx) => {
    const t = getTokenOr404(ctx.s, idParam(ctx, 'token_id'))
    mayManageTokensOf(ctx, t.userId)
    return ok(sanitizeToken(t))
  })

  route('POST', '/api/v4/users/tokens/revoke', (ctx) => {
    const t = getTokenOr404(ctx.s, tokenIdFromBody(ctx))
    mayManageTokensOf(ctx, t.userId)
    revokeToken(ctx.s, t)
    return ok(STATUS_OK)
  })

  route('POST', '/api/v4/users/tokens/disable', (ctx) => {
    const t = getTokenOr404(ctx.s, tokenIdFromBody(ctx))
    mayManageTokensOf(ctx, t.userId)
    t.isActive = false
    return ok(STATUS_OK)
  })

  route('POST', '/api/v4/users/tokens/enable', (ctx) => {
    const t = getTokenOr404(ctx.s, tokenIdFromBody(ctx))
    if (!mayCreateTokens(ctx)) throw forbidden()
    mayManageTokensOf(ctx, t.userId)
    t.isActive = true
    return ok(STATUS_OK)
  })
}

function tokenIdFromBody (ctx: Ctx): string {
  const id = optString(objectBody(ctx, 'token_id'), 'token_id')
  if (!isValidId(id)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'token_id')
  return id
}

// `create_user_access_token` comes with system_admin or the system_user_access_token role (§5).
function mayCreateTokens (ctx: Ctx): boolean {
  const roles = ` ${me(ctx).profile.roles} `
  return isSystemAdmin(me(ctx).profile) || roles.includes(' system_user_access_token ')
}

function ownsBot (ctx: Ctx, userId: string): boolean {
  return ctx.s.users.get(userId)?.bot?.owner_id === me(ctx).profile.id
}

function mayManageTokensOf (ctx: Ctx, userId: string): void {
  if (me(ctx).profile.id !== userId && !isAdmin(ctx) && !ownsBot(ctx, userId)) throw forbidden()
}
