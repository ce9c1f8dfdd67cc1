/**
 * API keys for backends (admins only): create (the key is shown once), list, revoke.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { insertApiKey, listApiKeys, revokeApiKey } from '@parley/db'
import { NotFound } from '../../errors.js'
import { SCOPES, currentUser, generateApiKey } from '../../plugins/auth.js'
import { ErrorSchema, UuidParamSchema, errorResponses } from '../../schemas/common.js'

const ScopeSchema = Type.Union(SCOPES.map(s => Type.Literal(s)))
const ApiKeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  keyPrefix: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  app.addHook('preHandler', app.requireRole('admin'))

  app.post('/', {
    schema: {
      tags: ['admin'],
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 100 }),
        scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true })
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String(), name: Type.String(), scopes: Type.Array(Type.String()), key: Type.String({ description: 'Shown once; store it now' }) }), ...errorResponses }
    }
  }, async (request, reply) => {
    const { key, keyHash, keyPrefix } = generateApiKey()
    const row = await insertApiKey(db, { name: request.body.name, scopes: request.body.scopes, keyHash, keyPrefix, createdBy: currentUser(request).id })
    return reply.code(201).send({ id: row.id, name: row.name, scopes: row.scopes, key })
  })

  app.get('/', { schema: { tags: ['admin'], response: { 200: Type.Object({ items: Type.Array(ApiKeySchema) }), ...errorResponses } } }, async () => {
    const rows = await listApiKeys(db)
    return { items: rows.map(r => ({ id: r.id, name: r.name, scopes: r.scopes, keyPrefix: r.keyPrefix, createdAt: r.createdAt.toISOString(), lastUsedAt: r.lastUsedAt?.toISOString() ?? null })) }
  })

  app.delete('/:id', { schema: { tags: ['admin'], params: UuidParamSchema, response: { 204: Type.Null(), 404: ErrorSchema, ...errorResponses } } }, async (request, reply) => {
    if (!await revokeApiKey(db, request.params.id)) throw new NotFound(`No API key with id ${request.params.id}`)
    app.forgetApiKeys()
    return reply.code(204).send(null)
  })
}
export default routes
