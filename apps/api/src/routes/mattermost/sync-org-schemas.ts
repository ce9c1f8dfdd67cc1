/**
 * HTTP schemas of `/api/v1/mattermost/sync-org` (seeds/equa-mattermost-endpoints.md "POST
 * /api/v1/mattermost/sync-org/:orgId": `{synced}`, plus issue 4's additive detail).
 */
import { Type } from 'typebox'

const Uuid = Type.String({ format: 'uuid' })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const MmId = Type.String({ description: 'Mattermost user id' })

export const OrgParamsSchema = Type.Object({ orgId: Uuid })
export const RunParamsSchema = Type.Object({ orgId: Uuid, runId: Uuid })

export const FailureSchema = Type.Object({
  userId: Nullable(Uuid),
  mmUserId: Nullable(MmId),
  action: Type.Union([Type.Literal('provision'), Type.Literal('add'), Type.Literal('remove')]),
  code: Type.String({ description: 'team_full, mattermost_rejected, username_taken, …' }),
  mattermostErrorId: Nullable(Type.String()),
  message: Type.String()
})

const RunStatus = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('partial'), Type.Literal('failed'), Type.Literal('interrupted')])

export const SyncResultSchema = Type.Object({
  synced: Type.Integer({ description: 'Org members who are members of the team when the sync finished (the seed\'s field)' }),
  added: Type.Integer(),
  removed: Type.Integer(),
  unchanged: Type.Integer(),
  failed: Type.Integer({ description: 'Members the sync could not add, remove or provision (see failures)' }),
  runId: Uuid,
  status: RunStatus,
  failures: Type.Array(FailureSchema)
})

export const RunAcceptedSchema = Type.Object({ runId: Uuid, status: RunStatus, message: Type.String() })

export const RunSchema = Type.Object({
  runId: Uuid,
  organizationId: Uuid,
  trigger: Type.Union([Type.Literal('manual'), Type.Literal('membership'), Type.Literal('schedule')]),
  status: RunStatus,
  attempts: Type.Integer(),
  createdAt: Type.String(),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  synced: Type.Integer(),
  added: Type.Integer(),
  removed: Type.Integer(),
  unchanged: Type.Integer(),
  provisioned: Type.Integer({ description: 'Mattermost users created for members who had none' }),
  failed: Type.Integer(),
  failures: Type.Array(FailureSchema),
  errorCode: Nullable(Type.String()),
  error: Nullable(Type.String({ description: 'Run-level problem; a full team names TeamSettings.MaxUsersPerTeam' })),
  mattermostCalls: Type.Integer()
})

export const RunPageSchema = Type.Object({ items: Type.Array(RunSchema), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() })

export const PlanSchema = Type.Object({
  orgId: Uuid,
  team: Nullable(Type.Object({ id: Type.String(), name: Type.String() })),
  createTeam: Type.Boolean({ description: 'The org has no team yet: the sync creates it first' }),
  desired: Type.Integer({ description: 'Active org members' }),
  add: Type.Array(Type.Object({ userId: Uuid, mmUserId: Nullable(MmId) }), { description: 'Would be added (mmUserId null: the Mattermost user is created first)' }),
  remove: Type.Array(Type.Object({ userId: Nullable(Uuid), mmUserId: MmId }), { description: 'Would be removed' }),
  kept: Type.Array(Type.Object({ userId: Nullable(Uuid), mmUserId: MmId, reason: Type.Union([Type.Literal('unmanaged'), Type.Literal('bot'), Type.Literal('system_admin')]) }), { description: 'Team members not in the org that the sync leaves alone' }),
  unchanged: Type.Integer(),
  mattermostCalls: Type.Integer()
})
