/**
 * `/__sim/*`: HTTP control endpoints so out-of-process users (demo, benchmarks) can seed, post,
 * inspect and inject faults. Not part of Mattermost's API: not recorded in `calls`, not subject to
 * faults or latency, no auth. Errors answer the AppError body of the `SimError` thrown.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SimError } from '../app-error.js'
import type { Simulator } from '../index.js'

type Body = Record<string, unknown>

function body (req: FastifyRequest): Body {
  const b = req.body
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'body must be a JSON object')
  return b as Body
}

function str (b: Body, k: string): string {
  const v = b[k]
  if (typeof v !== 'string' || v === '') throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, k)
  return v
}

export function controlRoutes (app: FastifyInstance, sim: Simulator): void {
  app.get('/__sim/health', async () => ({ ok: true }))

  /** {userId, channelId, message, props?} → the post; fires `posted`. */
  app.post('/__sim/post', async (req, reply) => {
    const b = body(req)
    return reply.code(201).send(sim.postAsUser(str(b, 'userId'), str(b, 'channelId'), str(b, 'message'), b.props as Record<string, unknown> | undefined))
  })

  /** {userIds: [a, b]} → the DM channel (get or create). */
  app.post('/__sim/direct', async (req, reply) => {
    const ids = body(req).userIds
    if (!Array.isArray(ids) || ids.length !== 2) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'userIds')
    return reply.code(201).send(sim.openDirectChannel(String(ids[0]), String(ids[1])))
  })

  /** ?channel_id= → posts oldest first. */
  app.get('/__sim/posts', async (req) => {
    const channelId = (req.query as Record<string, string>).channel_id ?? ''
    return sim.getPosts(channelId)
  })

  /** ?channel_id= → user ids of the channel's members. */
  app.get('/__sim/channel-members', async (req) => sim.getChannelMembers((req.query as Record<string, string>).channel_id ?? ''))

  /** ?team_id= → user ids of the team's members. */
  app.get('/__sim/team-members', async (req) => sim.getTeamMembers((req.query as Record<string, string>).team_id ?? ''))

  /** Counts per route: {total, routes: {'POST /api/v4/posts': n, …}}. */
  app.get('/__sim/calls', async () => {
    const routes: Record<string, number> = {}
    for (const c of sim.calls) routes[c.route] = (routes[c.route] ?? 0) + 1
    return { total: sim.calls.length, routes }
  })

  app.post('/__sim/calls/reset', async () => {
    sim.resetCalls()
    return { ok: true }
  })

  /**
   * {latencyMs?, down?, failNext?: {route, status, count?, id?}, rateLimitNext?: {route, count?, resetSeconds?},
   * dropWebSockets?: true, holdPosts?: boolean}
   */
  app.post('/__sim/faults', async (req) => {
    const b = body(req)
    if (typeof b.latencyMs === 'number') sim.faults.latencyMs = b.latencyMs
    if (typeof b.down === 'boolean') sim.faults.down(b.down)
    if (b.failNext !== undefined) {
      const f = b.failNext as Body
      sim.faults.failNext(str(f, 'route'), { status: Number(f.status), count: f.count as number | undefined, id: f.id as string | undefined })
    }
    if (b.rateLimitNext !== undefined) {
      const r = b.rateLimitNext as Body
      sim.faults.rateLimitNext(str(r, 'route'), { count: r.count as number | undefined, resetSeconds: r.resetSeconds as number | undefined })
    }
    if (b.dropWebSockets === true) sim.faults.dropWebSockets()
    if (typeof b.holdPosts === 'boolean') sim.faults.holdPosts(b.holdPosts)
    return { ok: true, latencyMs: sim.faults.latencyMs }
  })

  /**
   * Bulk users for benchmarks: {users: [{username, email?, roles?}], teamId?, tokens?: boolean}
   * → {users: [{id, username, token?}]}. With `teamId` each joins the team (no MaxUsersPerTeam check).
   */
  app.post('/__sim/seed/users', async (req, reply) => {
    const b = body(req)
    const list = b.users
    if (!Array.isArray(list)) throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'users')
    const teamId = typeof b.teamId === 'string' ? b.teamId : undefined
    const out = list.map((u: Body) => {
      const p = sim.createUser({ username: str(u, 'username'), email: u.email as string | undefined, roles: u.roles as string | undefined })
      if (teamId !== undefined) sim.addTeamMember(teamId, p.id)
      return { id: p.id, username: p.username, ...(b.tokens === true ? { token: sim.createAccessToken(p.id) } : {}) }
    })
    return reply.code(201).send({ users: out })
  })

  /** {name, displayName, type?} → team. */
  app.post('/__sim/seed/team', async (req, reply) => {
    const b = body(req)
    return reply.code(201).send(sim.createTeam({ name: str(b, 'name'), displayName: str(b, 'displayName'), type: b.type as 'O' | 'I' | undefined }))
  })

  /** {teamId, name, displayName, type?, memberIds?} → channel. */
  app.post('/__sim/seed/channel', async (req, reply) => {
    const b = body(req)
    const c = sim.createChannel({ teamId: str(b, 'teamId'), name: str(b, 'name'), displayName: str(b, 'displayName'), type: b.type as 'O' | 'P' | undefined })
    for (const id of (b.memberIds as string[] | undefined) ?? []) sim.addChannelMember(c.id, id)
    return reply.code(201).send(c)
  })

  /** {userId, description?} → {token}. */
  app.post('/__sim/seed/token', async (req, reply) => {
    const b = body(req)
    return reply.code(201).send({ token: sim.createAccessToken(str(b, 'userId'), b.description as string | undefined) })
  })

  /** Partial SimConfig → the whole config. */
  app.post('/__sim/config', async (req) => {
    const b = body(req)
    const c = sim.config
    if (typeof b.MaxUsersPerTeam === 'number') c.MaxUsersPerTeam = b.MaxUsersPerTeam
    if (typeof b.EnableUserAccessTokens === 'boolean') c.EnableUserAccessTokens = b.EnableUserAccessTokens
    if (b.RestrictDirectMessage === 'any' || b.RestrictDirectMessage === 'team') c.RestrictDirectMessage = b.RestrictDirectMessage
    return c
  })
}
