/**
 * Authentication and authorisation.
 *
 * Credentials, all as `Authorization: Bearer <x>` (users may use the session cookie instead):
 * - a session JWT (from `POST /api/auth/login` or a directory session), carrying the user id and
 *   the user's `sessionVersion`; every request re-reads the user, so disabling or deleting a user
 *   or bumping its version signs it out everywhere at once;
 * - an API key `prl_…` for backends, with scopes;
 * - the gateway token (`EQUA_GATEWAY_TOKEN`), which acts as a key with scope `gateway:read`.
 * Secrets are compared in constant time (hash, then `timingSafeEqual`).
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import cookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { findActiveApiKeyByHash, findUserById, type User } from '@parley/db'
import { Forbidden, Unauthorized } from '../errors.js'

export const SCOPES = ['notifications:send', 'directory:write', 'gateway:read'] as const
export type Scope = typeof SCOPES[number]
export const SESSION_COOKIE = 'parley_session'
const API_KEY_PREFIX = 'prl_'
const API_KEY_CACHE_MS = 5_000

export type Principal =
  | { kind: 'user', user: User }
  | { kind: 'apiKey', id: string, name: string, scopes: string[] }
  | { kind: 'gateway' }

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
  interface FastifyInstance {
    /** preHandler: a signed-in, active user. */
    requireUser: preHandlerAsyncHookHandler
    /** preHandler: a signed-in user with one of `roles`. */
    requireRole: (...roles: User['role'][]) => preHandlerAsyncHookHandler
    /** preHandler: an API key holding `scope`, or an admin user (and the gateway token for `gateway:read`). */
    requireScope: (scope: Scope) => preHandlerAsyncHookHandler
    /** Signs a session JWT for `user`. @returns the token and its expiry. */
    signSession: (user: Pick<User, 'id' | 'sessionVersion'>) => { token: string, expiresAt: Date }
    /** Sets the httpOnly session cookie on `reply`. */
    setSessionCookie: (reply: FastifyReply, token: string, expiresAt: Date) => void
    /** Forgets cached API key look-ups (after a revocation). */
    forgetApiKeys: () => void
  }
  interface FastifyContextConfig { allowCookie?: boolean }
}

declare module '@fastify/jwt' {
  interface FastifyJWT { payload: { sub: string, sv: number } }
}

/** A new API key and the hash stored for it. The key itself is shown once. */
export function generateApiKey (): { key: string, keyHash: string, keyPrefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url')
  return { key, keyHash: sha256(key), keyPrefix: key.slice(0, 10) }
}

// crypto.hash (Node ≥ 20.12): the one-shot form, a third of createHash's cost on every API-key request.
const sha256 = (s: string) => hash('sha256', s, 'hex')
const sameSecret = (a: string, b: string) => timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'))

export default fp(async (app) => {
  const { config, db } = app
  await app.register(cookie)
  // fast-jwt's LRU cache of verified tokens (keyed by a hash of the token, bounded by each token's
  // `exp`): a signature is checked once, not on every request. Revocation does not depend on it:
  // it comes from the user's status and session version, which are read on every request (the warm
  // Mattermost session reads them through the session-state cache, see session-states.ts).
  await app.register(jwt, { secret: config.JWT_SECRET, sign: { expiresIn: config.JWT_TTL_SECONDS }, verify: { cache: 10_000 } })
  const keyCache = new Map<string, { at: number, key: Awaited<ReturnType<typeof findActiveApiKeyByHash>> }>()

  function bearerOf (request: FastifyRequest): string | undefined {
    const header = request.headers.authorization
    if (header) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!match) throw new Unauthorized('Authorization header must be "Bearer <token>"')
      return match[1]
    }
    return undefined
  }

  async function userFromJwt (token: string): Promise<User> {
    let payload: { sub: string, sv: number }
    try {
      payload = app.jwt.verify<{ sub: string, sv: number }>(token)
    } catch {
      throw new Unauthorized('Session token is invalid or expired')
    }
    const user = typeof payload.sub === 'string' && /^[0-9a-f-]{36}$/i.test(payload.sub) ? await findUserById(db, payload.sub) : undefined
    if (!user || user.status !== 'active' || user.sessionVersion !== payload.sv) throw new Unauthorized('Session is no longer valid')
    return user
  }

  async function apiKey (key: string) {
    const hash = sha256(key)
    const hit = keyCache.get(hash)
    if (hit && Date.now() - hit.at < API_KEY_CACHE_MS) return hit.key
    const found = await findActiveApiKeyByHash(db, hash)
    if (keyCache.size > 10_000) keyCache.clear()
    keyCache.set(hash, { at: Date.now(), key: found })
    return found
  }

  /** Resolves the request's principal, or undefined when it presents no credential. */
  async function authenticate (request: FastifyRequest): Promise<Principal | undefined> {
    if (request.principal) return request.principal
    const bearer = bearerOf(request)
    let principal: Principal | undefined
    if (bearer === undefined) {
      const fromCookie = request.cookies[SESSION_COOKIE]
      if (fromCookie) principal = { kind: 'user', user: await userFromJwt(fromCookie) }
    } else if (bearer.startsWith(API_KEY_PREFIX)) {
      const key = await apiKey(bearer)
      if (!key) throw new Unauthorized('API key is invalid or revoked')
      principal = { kind: 'apiKey', ...key }
    } else if (bearer.split('.').length === 3) {
      principal = { kind: 'user', user: await userFromJwt(bearer) }
    } else if (config.EQUA_GATEWAY_TOKEN && sameSecret(bearer, config.EQUA_GATEWAY_TOKEN)) {
      principal = { kind: 'gateway' }
    } else {
      throw new Unauthorized('Bearer token is not recognised')
    }
    request.principal = principal
    return principal
  }

  app.decorateRequest('principal', undefined)
  app.decorate('forgetApiKeys', () => keyCache.clear())

  app.decorate('requireUser', async function (request: FastifyRequest) {
    const p = await authenticate(request)
    if (!p) throw new Unauthorized('Sign in first: send a session token or cookie')
    if (p.kind !== 'user') throw new Forbidden('This endpoint is for signed-in users, not API keys')
  })

  app.decorate('requireRole', (...roles: User['role'][]) => async function (request: FastifyRequest) {
    const p = await authenticate(request)
    if (!p) throw new Unauthorized('Sign in first: send a session token or cookie')
    if (p.kind !== 'user' || !roles.includes(p.user.role)) throw new Forbidden(`Requires role ${roles.join(' or ')}`)
  })

  app.decorate('requireScope', (scope: Scope) => async function (request: FastifyRequest) {
    const p = await authenticate(request)
    if (!p) throw new Unauthorized('Send an API key or session token as "Authorization: Bearer <token>"')
    if (p.kind === 'user' && p.user.role === 'admin') return
    if (p.kind === 'apiKey' && p.scopes.includes(scope)) return
    if (p.kind === 'gateway' && scope === 'gateway:read') return
    throw new Forbidden(`Requires scope ${scope}`)
  })

  app.decorate('signSession', (user: Pick<User, 'id' | 'sessionVersion'>) => {
    const token = app.jwt.sign({ sub: user.id, sv: user.sessionVersion })
    return { token, expiresAt: new Date(Date.now() + config.JWT_TTL_SECONDS * 1000) }
  })

  app.decorate('setSessionCookie', (reply: FastifyReply, token: string, expiresAt: Date) => {
    reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure: config.COOKIE_SECURE, path: '/', expires: expiresAt })
  })
}, { name: 'auth', dependencies: ['deps'] })

/** The signed-in user of a request that passed `requireUser`/`requireRole`. */
export function currentUser (request: FastifyRequest): User {
  const p = request.principal
  if (p?.kind !== 'user') throw new Unauthorized('Sign in first')
  return p.user
}
