/**
 * HTTP schemas of the directory routes (organisations, members, backend users).
 */
import { Type } from 'typebox'

export const SlugSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'The product\'s handle for the organisation; the Mattermost team name is derived from it' })
export const OrgNameSchema = Type.String({ minLength: 1, maxLength: 200 })
export const OrgRoleSchema = Type.Union([Type.Literal('member'), Type.Literal('admin')])

export const CreateOrgSchema = Type.Object({ name: OrgNameSchema, slug: SlugSchema }, { additionalProperties: false })
export const PatchOrgSchema = Type.Object({ name: Type.Optional(OrgNameSchema), slug: Type.Optional(SlugSchema) }, { additionalProperties: false, minProperties: 1 })

export const OrgSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  slug: Type.String(),
  mattermostTeam: Type.Union([Type.Object({ id: Type.String(), name: Type.String() }), Type.Null()], { description: 'The mapped Mattermost team, once provisioned' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
})

export const MemberSchema = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  username: Type.String(),
  displayName: Type.String(),
  role: OrgRoleSchema,
  joinedAt: Type.String({ format: 'date-time' })
})
export const MemberPageSchema = Type.Object({ items: Type.Array(MemberSchema), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() })

export const OrgParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) })
export const MemberParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }), userId: Type.String({ format: 'uuid' }) })
export const PutMemberSchema = Type.Object({ role: OrgRoleSchema }, { additionalProperties: false })

export const ExternalIdParamsSchema = Type.Object({
  externalId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._@-]+$', description: 'The product\'s own user id' })
})
export const PutDirectoryUserSchema = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
  displayName: Type.String({ minLength: 1, maxLength: 128 }),
  email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 128 }), Type.Null()]))
}, { additionalProperties: false })
export const DirectoryUserSchema = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Parley\'s user id' }),
  externalId: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  email: Type.Union([Type.String(), Type.Null()])
})
export const SessionSchema = Type.Object({ token: Type.String({ description: 'Session JWT: send as Bearer or set as the session cookie' }), expiresAt: Type.String({ format: 'date-time' }) })
