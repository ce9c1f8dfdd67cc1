/**
 * `GET /system/ping` (openapi/system.yaml) and bots (openapi/bots.yaml, PROTOCOL §6).
 */
import { SimError } from '../../app-error.js'
import { createBot, getUserOr404 } from '../../domain/users.js'
import { type AddRoute, created, forbidden, idParam, isAdmin, me, objectBody, ok, optString, pageOf, paging } from '../context.js'

export function systemRoutes (route: AddRoute): void {
  route('GET', '/api/v4/system/ping', (ctx) => {
    const body: Record<string, string> = {
      ActiveSearchBackend: 'database',
      AndroidLatestVersion: '',
      AndroidMinVersion: '',
      IosLatestVersion: '',
      IosMinVersion: '',
      status: 'OK'
    }
    if (ctx.query.get_server_status === 'true') {
      body.database_status = 'OK'
      body.filestore_status = 'OK'
    }
    return ok(body)
  }, { auth: false })
}

export function botRoutes (route: AddRoute): void {
  // `create_bot` is an admin permission by default; EnableBotAccountCreation is assumed on.
  route('POST', '/api/v4/bots', (ctx) => {
    const body = objectBody(ctx, 'bot')
    if (!isAdmin(ctx)) throw forbidden()
    const username = optString(body, 'username')
    if (username === undefined || username === '') throw new SimError(400, 'model.user.is_valid.username.app_error')
    const rec = createBot(ctx.s, { username, display_name: optString(body, 'display_name'), description: optString(body, 'description'), owner_id: me(ctx).profile.id })
    return created(rec.bot)
  })

  route('GET', '/api/v4/bots/{bot_user_id}', (ctx) => {
    me(ctx)
    const rec = getUserOr404(ctx.s, idParam(ctx, 'bot_user_id'))
    if (rec.bot === undefined || (rec.bot.delete_at !== 0 && ctx.query.include_deleted !== 'true')) throw new SimError(404, 'store.sql_bot.get.missing.app_error')
    return ok(rec.bot)
  })

  route('GET', '/api/v4/bots', (ctx) => {
    me(ctx)
    const { page, perPage } = paging(ctx)
    function * bots () {
      for (const u of ctx.s.users.values()) {
        if (u.bot !== undefined && (u.bot.delete_at === 0 || ctx.query.include_deleted === 'true')) yield u.bot
      }
    }
    return ok(pageOf(bots(), page, perPage))
  })
}
