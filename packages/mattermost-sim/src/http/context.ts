/**
 * What every REST handler gets and returns, plus the permission helpers the api4 layer uses.
 * Permission checks are deliberately simple: system admins may do everything; others what
 * PROTOCOL.md and the OpenAPI "Permissions" notes say.
 */
import { SimError } from '../app-error.js'
import { isValidId } from '../ids.js'
import type { Channel } from '../model.js'
import { isSystemAdmin, type State, type UserRecord } from '../state.js'

export interface Ctx {
  s: State
  params: Record<string, string>
  query: Record<string, string>
  body: unknown
  /** The session user, or undefined on routes that do not require a session. */
  user: UserRecord | undefined
}

/** A handler's answer: status and a JSON-serialisable body. */
export interface Result { status: number, body: unknown }

export type Handler = (ctx: Ctx) => Result | Promise<Result>

export interface RouteOptions {
  /** Whether a valid session is required (default true): none → 401 `api.context.session_expired.app_error`. */
  auth?: boolean
}

export type AddRoute = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', template: string, handler: Handler, opts?: RouteOptions) => void

export const ok = (body: unknown): Result => ({ status: 200, body })
export const created = (body: unknown): Result => ({ status: 201, body })
export const STATUS_OK = { status: 'OK' }

/** The session user; routes registered with `auth: false` must not call this. */
export function me (ctx: Ctx): UserRecord {
  if (ctx.user === undefined) throw new SimError(401, 'api.context.session_expired.app_error')
  return ctx.user
}

export function isAdmin (ctx: Ctx): boolean {
  return isSystemAdmin(ctx.user?.profile)
}

export function forbidden (): SimError {
  return new SimError(403, 'api.context.permissions.app_error')
}

/** A URL id parameter; `me` stands for the session user where `allowMe`. Bad → 400 `api.context.invalid_url_param.app_error`. */
export function idParam (ctx: Ctx, name: string, allowMe = false): string {
  const v = ctx.params[name]
  if (allowMe && v === 'me') return me(ctx).profile.id
  if (!isValidId(v)) throw new SimError(400, 'api.context.invalid_url_param.app_error', undefined, name)
  return v
}

export function requireSelfOrAdmin (ctx: Ctx, userId: string): void {
  if (me(ctx).profile.id !== userId && !isAdmin(ctx)) throw forbidden()
}

export function requireAdmin (ctx: Ctx): void {
  if (!isAdmin(ctx)) throw forbidden()
}

/** The request body as an object; anything else → 400 `api.context.invalid_body_param.app_error` naming `name`. */
export function objectBody (ctx: Ctx, name: string): Record<string, unknown> {
  const b = ctx.body
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, name)
  return b as Record<string, unknown>
}

/** The request body as an array of strings. */
export function stringArrayBody (ctx: Ctx, name: string): string[] {
  const b = ctx.body
  if (!Array.isArray(b) || !b.every(x => typeof x === 'string')) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, name)
  return b as string[]
}

export function optString (o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k]
  return typeof v === 'string' ? v : undefined
}

/** `page`/`per_page` query: per_page defaults to 60 and is silently capped at 200 (§2, §8). */
export function paging (ctx: Ctx, defaultPerPage = 60): { page: number, perPage: number } {
  const page = toInt(ctx.query.page, 0, 'page')
  const perPage = Math.min(200, toInt(ctx.query.per_page, defaultPerPage, 'per_page'))
  return { page: Math.max(0, page), perPage: Math.max(0, perPage) }
}

function toInt (v: string | undefined, dflt: number, name: string): number {
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n)) throw new SimError(400, 'api.context.invalid_url_param.app_error', undefined, name)
  return n
}

export function pageOf<T> (items: Iterable<T>, page: number, perPage: number): T[] {
  const out: T[] = []
  const start = page * perPage
  let i = 0
  for (const item of items) {
    if (i >= start + perPage) break
    if (i >= start) out.push(item)
    i++
  }
  return out
}

export function isTeamAdmin (ctx: Ctx, teamId: string): boolean {
  if (isAdmin(ctx)) return true
  const m = ctx.s.teamMembers.get(teamId)?.get(me(ctx).profile.id)
  return m?.scheme_admin === true
}

/** `read_channel` (or an open channel on a team the user is in). */
export function canReadChannel (ctx: Ctx, channel: Channel): boolean {
  if (isAdmin(ctx)) return true
  const uid = me(ctx).profile.id
  if (ctx.s.channelMembers.get(channel.id)?.has(uid) === true) return true
  return channel.type === 'O' && ctx.s.teamMembers.get(channel.team_id)?.has(uid) === true
}

/** `create_post` on the channel: members, and system admins (§7.2). */
export function canPostInChannel (ctx: Ctx, channel: Channel): boolean {
  if (isAdmin(ctx)) return true
  return ctx.s.channelMembers.get(channel.id)?.has(me(ctx).profile.id) === true
}
