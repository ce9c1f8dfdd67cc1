/**
 * Organisations and their members (issue 3 "Directory"): Parley admins and API keys with
 * `directory:write` manage everything; an org's own admins manage that org and its members.
 * Membership in Mattermost teams follows lazily (session requests) or through org sync.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  findMattermostTeam, findOrgMember, findOrganization, findUserById, insertOrganization, isUniqueViolation,
  listOrgMembers, removeOrgMember, updateOrganization, upsertOrgMember, type Organization
} from '@parley/db'
import { Conflict, Forbidden, NotFound } from '../../errors.js'
import { requestOrgSync } from '../../org-sync-trigger.js'
import { ErrorSchema, PageQuerySchema, errorResponses } from '../../schemas/common.js'
import { CreateOrgSchema, MemberPageSchema, MemberParamsSchema, MemberSchema, OrgParamsSchema, OrgSchema, PatchOrgSchema, PutMemberSchema } from './schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app
  const directoryWriter = app.requireScope('directory:write')

  /** preHandler: admin, `directory:write` key, or an admin of the org in `params.id`. */
  async function orgManager (this: unknown, request: FastifyRequest, reply: FastifyReply) {
    try {
      await directoryWriter.call(app, request, reply)
    } catch (err) {
      const p = request.principal
      if ((err as { statusCode?: number }).statusCode !== 403 || p?.kind !== 'user') throw err
      const orgId = (request.params as { id: string }).id
      if ((await findOrgMember(db, orgId, p.user.id))?.role !== 'admin') {
        throw new Forbidden('Requires a Parley admin, an API key with directory:write, or an admin of this organisation')
      }
    }
  }

  async function orgView (org: Organization) {
    const team = await findMattermostTeam(db, org.id)
    return {
      id: org.id, name: org.name, slug: org.slug,
      mattermostTeam: team ? { id: team.mmTeamId, name: team.teamName } : null,
      createdAt: org.createdAt.toISOString(), updatedAt: org.updatedAt.toISOString()
    }
  }
  async function mustFindOrg (id: string) {
    const org = await findOrganization(db, id)
    if (!org) throw new NotFound(`No organisation with id ${id}`)
    return org
  }

  app.post('/', {
    preHandler: directoryWriter,
    schema: { tags: ['directory'], body: CreateOrgSchema, response: { 201: OrgSchema, 409: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const org = await insertOrganization(db, request.body)
    if (!org) throw new Conflict(`An organisation with slug "${request.body.slug}" already exists`)
    return reply.code(201).send(await orgView(org))
  })

  app.get('/:id', {
    preHandler: orgManager,
    schema: { tags: ['directory'], params: OrgParamsSchema, response: { 200: OrgSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => orgView(await mustFindOrg(request.params.id)))

  app.patch('/:id', {
    preHandler: orgManager,
    schema: { tags: ['directory'], params: OrgParamsSchema, body: PatchOrgSchema, response: { 200: OrgSchema, 404: ErrorSchema, 409: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    try {
      const org = await updateOrganization(db, request.params.id, request.body)
      if (!org) throw new NotFound(`No organisation with id ${request.params.id}`)
      return await orgView(org)
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`An organisation with slug "${request.body.slug}" already exists`)
      throw err
    }
  })

  app.get('/:id/members', {
    preHandler: orgManager,
    schema: { tags: ['directory'], params: OrgParamsSchema, querystring: PageQuerySchema, response: { 200: MemberPageSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    await mustFindOrg(request.params.id)
    const { limit, offset } = request.query
    const { items, total } = await listOrgMembers(db, request.params.id, { limit, offset })
    return { items: items.map(m => ({ ...m, joinedAt: m.joinedAt.toISOString() })), total, limit, offset }
  })

  app.put('/:id/members/:userId', {
    preHandler: orgManager,
    schema: { tags: ['directory'], params: MemberParamsSchema, body: PutMemberSchema, response: { 200: MemberSchema, 201: MemberSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const { id, userId } = request.params
    await mustFindOrg(id)
    const user = await findUserById(db, userId)
    if (!user) throw new NotFound(`No user with id ${userId}`)
    const { member, created } = await upsertOrgMember(db, id, userId, request.body.role)
    if (created) await requestOrgSync(app, id, request.log)
    return reply.code(created ? 201 : 200).send({ userId, username: user.username, displayName: user.displayName, role: member.role, joinedAt: member.createdAt.toISOString() })
  })

  app.delete('/:id/members/:userId', {
    preHandler: orgManager,
    schema: { tags: ['directory'], params: MemberParamsSchema, response: { 204: { type: 'null' }, 404: ErrorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const { id, userId } = request.params
    await mustFindOrg(id)
    if (!await removeOrgMember(db, id, userId)) throw new NotFound(`User ${userId} is not a member of organisation ${id}`)
    app.sessionStates.invalidate()
    await requestOrgSync(app, id, request.log)
    return reply.code(204).send(null)
  })
}
export default routes
