/**
 * HTTP schemas of the Mattermost routes (seeds/equa-mattermost-endpoints.md, exact shapes).
 */
import { Type } from 'typebox'

const MmId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'Mattermost id' })

export const SessionBodySchema = Type.Object({ organizationId: Type.String({ format: 'uuid' }) }, { additionalProperties: false })
export const SessionResponseSchema = Type.Object({
  token: Type.String({ description: 'The user\'s personal access token (only ever returned to its owner)' }),
  baseUrl: Type.String(),
  teamName: Type.String(),
  mmUserId: Type.String()
})
export const ConfigResponseSchema = Type.Object({ enabled: Type.Boolean(), baseUrl: Type.Union([Type.String(), Type.Null()]) })
export const TeamMappingParamsSchema = Type.Object({ teamId: MmId })
export const TeamMappingSchema = Type.Object({ organizationId: Type.String({ format: 'uuid' }) })
export const UserMappingParamsSchema = Type.Object({ mmUserId: MmId })
export const UserMappingSchema = Type.Object({ userId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]) })
export const TokenHealthResponseSchema = Type.Object({
  valid: Type.Boolean(),
  reason: Type.Optional(Type.Union([Type.Literal('no_token'), Type.Literal('check_failed'), Type.Literal('revoked')]))
})

export const CreateChannelSchema = Type.Object({
  organizationId: Type.String({ format: 'uuid' }),
  name: Type.String({ minLength: 1, maxLength: 64, description: 'Mattermost channel name: lowercase letters, digits, "-" and "_", starting with a letter or digit' }),
  displayName: Type.String({ minLength: 1, maxLength: 64 }),
  type: Type.Union([Type.Literal('O'), Type.Literal('P')])
}, { additionalProperties: false })
export const ChannelSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  organizationId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  displayName: Type.String(),
  type: Type.Union([Type.Literal('O'), Type.Literal('P')]),
  status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('archived')]),
  mattermostChannelId: Type.Union([Type.String(), Type.Null()]),
  archivedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
})
export const ChannelParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) })
export const AddChannelMemberSchema = Type.Object({ userId: Type.String({ format: 'uuid' }) }, { additionalProperties: false })
export const ChannelMemberSchema = Type.Object({
  channelId: Type.String({ format: 'uuid' }),
  userId: Type.String({ format: 'uuid' }),
  mattermostChannelId: Type.String(),
  mmUserId: Type.String()
})

export const MagicLinkQuerySchema = Type.Object({ organizationId: Type.Optional(Type.String({ format: 'uuid' })) }, { additionalProperties: false })
export const MagicLinkSchema = Type.Object({ url: Type.String(), token: Type.String() })
