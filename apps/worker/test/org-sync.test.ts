/**
 * Organisation → Mattermost team sync (issue 4) end to end: API endpoint → `org-sync` job →
 * in-process worker → Mattermost simulator (OpenAPI-validated), on real Postgres and Redis.
 */
import t from 'tap'
import { removeOrgMember } from '@parley/db'
import { orgSyncRig, until } from './org-sync-rig.js'

const BATCH = 'POST /api/v4/teams/{team_id}/members/batch'
const PAGE = 'GET /api/v4/teams/{team_id}/members'
const REMOVE = 'DELETE /api/v4/teams/{team_id}/members/{user_id}'

t.test('add-only: missing members are added with one batch call, the answer counts them', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const members = await Promise.all(Array.from({ length: 5 }, () => r.member(o.id)))
  r.sim.resetCalls()
  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 5, added: 5, removed: 0, unchanged: 0, failed: 0, status: 'succeeded' })
  const team = r.teamMembers(o.mmTeamId!)
  for (const m of members) t.ok(team.has(m.mmUserId), 'member is in the team')
  t.equal(r.sim.callCount(BATCH), 1, 'one batch call')
  t.equal(r.sim.callCount(PAGE), 1, 'one page read')
  t.equal(r.sim.callCount(), 2, 'nothing else')
  t.same(r.sim.specErrors(), [])
})
