/**
 * Organisation → Mattermost team sync (issue 4) end to end: API endpoint → `org-sync` job →
 * in-process worker → Mattermost simulator (OpenAPI-validated), on real Postgres and Redis.
 */
import t from 'tap'
import { findMattermostTeam, hasTeamMembership, insertOrganization, upsertMattermostAccount, upsertOrgMember } from '@parley/db'
import { newId } from '@parley/mattermost-sim'
import { orgSyncRig, until } from './org-sync-rig.js'
import { build } from '../../api/test/helper.js'

const BATCH = 'POST /api/v4/teams/{team_id}/members/batch'
const PAGE = 'GET /api/v4/teams/{team_id}/members'
const REMOVE = 'DELETE /api/v4/teams/{team_id}/members/{user_id}'
const USERS_BY_IDS = 'POST /api/v4/users/ids'

/** User ids sent in batch adds that Mattermost accepted (201), with repeats. */
const batchAdded = (calls: Array<{ route: string, status: number, body: unknown }>) =>
  calls.filter(c => c.route === BATCH && c.status === 201).flatMap(c => (c.body as Array<{ user_id: string }>).map(m => m.user_id))

t.test('add-only: missing members are added with one batch call, the answer counts them', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const members = await Promise.all(Array.from({ length: 5 }, () => r.member(o.id)))
  r.sim.resetCalls()
  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 5, added: 5, removed: 0, unchanged: 0, failed: 0, status: 'succeeded', failures: [] })
  const team = r.teamMembers(o.mmTeamId!)
  t.ok(members.every(m => team.has(m.mmUserId)), 'every member is in the team')
  t.equal(r.sim.callCount(BATCH), 1, 'one batch call')
  t.equal(r.sim.callCount(PAGE), 1, 'one page read')
  t.equal(r.sim.callCount(), 2, 'nothing else')
  t.equal(r.sim.calls.find(c => c.route === BATCH)?.query.graceful, 'true', 'graceful batch')
  t.ok(await hasTeamMembership(r.api.db, o.id, members[0].user.id), 'the session cache knows the membership')
  t.same(r.sim.specErrors(), [])
})

t.test('remove-only, then no-op: leavers are removed; a second sync only reads', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const stay = await Promise.all(Array.from({ length: 3 }, () => r.member(o.id)))
  const left = await Promise.all(Array.from({ length: 2 }, () => r.formerMember()))
  for (const m of [...stay, ...left]) r.sim.addTeamMember(o.mmTeamId!, m.mmUserId)
  r.sim.resetCalls()
  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 3, added: 0, removed: 2, unchanged: 3, failed: 0 })
  const team = r.teamMembers(o.mmTeamId!)
  t.notOk(left.some(m => team.has(m.mmUserId)), 'leavers removed')
  t.ok(stay.every(m => team.has(m.mmUserId)), 'members kept')
  t.ok(team.has(r.bot.user.id), 'the bot stays')
  t.equal(r.sim.callCount(REMOVE), 2)
  t.equal(r.sim.callCount(BATCH), 0, 'no add call')

  r.sim.resetCalls()
  const again = await r.post(o.id)
  t.match(again.json(), { synced: 3, added: 0, removed: 0, unchanged: 3, failed: 0 })
  t.equal(r.sim.callCount(), 1, 'no-op: one page read, nothing else')
  t.same(r.sim.specErrors(), [])
})

t.test('mixed: joins and leaves in one run, with the call budget', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const stay = await Promise.all(Array.from({ length: 4 }, () => r.member(o.id)))
  const join = await Promise.all(Array.from({ length: 3 }, () => r.member(o.id)))
  const left = await Promise.all(Array.from({ length: 2 }, () => r.formerMember()))
  for (const m of [...stay, ...left]) r.sim.addTeamMember(o.mmTeamId!, m.mmUserId)
  r.sim.resetCalls()
  const res = await r.post(o.id)
  t.match(res.json(), { synced: 7, added: 3, removed: 2, unchanged: 4, failed: 0 })
  const team = r.teamMembers(o.mmTeamId!)
  t.same([...team].sort(), [r.bot.user.id, ...stay.map(m => m.mmUserId), ...join.map(m => m.mmUserId)].sort(), 'team = org members + bot')
  t.same({ page: r.sim.callCount(PAGE), batch: r.sim.callCount(BATCH), ids: r.sim.callCount(USERS_BY_IDS), remove: r.sim.callCount(REMOVE), all: r.sim.callCount() },
    { page: 1, batch: 1, ids: 1, remove: 2, all: 5 }, 'page + batch + bot/admin check + one delete per leaver')
})

t.test('unmanaged members, the bot and system admins stay; the setting widens removal to unmanaged users only', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const m = await r.member(o.id)
  const unmanaged = r.sim.createUser({ username: `hand${Date.now()}` })
  // A Parley-provisioned user, not an org member, who is a Mattermost system admin.
  const sysadmin2 = r.sim.createUser({ username: `sa${Date.now()}`, roles: 'system_admin system_user' })
  await upsertMattermostAccount(r.api.db, { userId: (await r.api.createUser()).id, mmUserId: sysadmin2.id, mmUsername: sysadmin2.username, mmEmail: sysadmin2.email })
  for (const id of [m.mmUserId, unmanaged.id, sysadmin2.id]) r.sim.addTeamMember(o.mmTeamId!, id)

  const plan = await r.get(`/api/v1/mattermost/sync-org/${o.id}/plan`)
  t.equal(plan.statusCode, 200, plan.body)
  t.same(plan.json().remove, [], 'nothing to remove')
  t.same(plan.json().kept.map((k: { mmUserId: string, reason: string }) => `${k.mmUserId}:${k.reason}`).sort(),
    [`${r.bot.user.id}:unmanaged`, `${sysadmin2.id}:system_admin`, `${unmanaged.id}:unmanaged`].sort(), 'kept, with the reason')

  const res = await r.post(o.id)
  t.match(res.json(), { synced: 1, removed: 0, unchanged: 1 })
  const team = r.teamMembers(o.mmTeamId!)
  t.ok(team.has(unmanaged.id) && team.has(sysadmin2.id) && team.has(r.bot.user.id), 'unmanaged user, system admin and bot untouched')

  // ORG_SYNC_REMOVE_UNMANAGED=true: the hand-made user goes, the bot and the system admin stay.
  await r.worker!.close()
  await r.startWorker({ env: { ORG_SYNC_REMOVE_UNMANAGED: 'true' } })
  const wide = await r.post(o.id)
  t.match(wide.json(), { synced: 1, removed: 1 })
  const after = r.teamMembers(o.mmTeamId!)
  t.notOk(after.has(unmanaged.id), 'unmanaged user removed when widened')
  t.ok(after.has(sysadmin2.id) && after.has(r.bot.user.id), 'bot and system admin never removed')
})

t.test('the dry run changes nothing; org without a team: the plan says so and the sync provisions it first', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org({ team: false })
  const members = await Promise.all(Array.from({ length: 2 }, () => r.member(o.id)))
  const bare = await r.api.createUser() // no Mattermost user yet: provisioned by the sync
  await upsertOrgMember(r.api.db, o.id, bare.id, 'member')
  r.sim.resetCalls()
  const plan = await r.get(`/api/v1/mattermost/sync-org/${o.id}/plan`)
  t.equal(plan.statusCode, 200, plan.body)
  t.match(plan.json(), { team: null, createTeam: true, desired: 3, unchanged: 0 })
  t.equal(plan.json().add.length, 3)
  t.equal(plan.json().add.find((a: { userId: string }) => a.userId === bare.id).mmUserId, null, 'bare member would be provisioned')
  t.equal(r.sim.callCount(), 0, 'the dry run made no Mattermost call that changes anything (none at all without a team)')

  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 3, added: 3, failed: 0 })
  const team = await findMattermostTeam(r.api.db, o.id)
  t.ok(team, 'team provisioned')
  const inTeam = r.teamMembers(team!.mmTeamId)
  t.ok(members.every(m => inTeam.has(m.mmUserId)), 'members in the new team')
  const runs = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json()
  t.match(runs.items[0], { trigger: 'manual', status: 'succeeded', provisioned: 1, added: 3 })

  // With the team in place, the plan reads it and reports a leaver.
  const leaver = await r.formerMember()
  r.sim.addTeamMember(team!.mmTeamId, leaver.mmUserId)
  r.sim.resetCalls()
  const plan2 = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/plan`)).json()
  t.same(plan2.remove, [{ userId: leaver.user.id, mmUserId: leaver.mmUserId }])
  t.equal(plan2.unchanged, 3)
  t.equal(r.sim.callCount(BATCH) + r.sim.callCount(REMOVE), 0, 'nothing changed')
  t.ok(r.teamMembers(team!.mmTeamId).has(leaver.mmUserId), 'leaver still there after the dry run')
})

t.test('a failing member is recorded; the others are synced', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const ok = await Promise.all(Array.from({ length: 3 }, () => r.member(o.id)))
  // A member whose Mattermost user was deleted from Mattermost: the batch reports an error for that user only.
  const ghost = await r.api.createUser()
  const ghostMm = newId()
  await upsertMattermostAccount(r.api.db, { userId: ghost.id, mmUserId: ghostMm, mmUsername: `ghost${Date.now()}`, mmEmail: `ghost${Date.now()}@example.com` })
  await upsertOrgMember(r.api.db, o.id, ghost.id, 'member')
  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.match(body, { synced: 3, added: 3, failed: 1, status: 'partial' })
  t.match(body.failures, [{ userId: ghost.id, mmUserId: ghostMm, action: 'add', code: 'mattermost_rejected' }])
  t.ok(ok.every(m => r.teamMembers(o.mmTeamId!).has(m.mmUserId)))
  const run = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs/${body.runId}`)).json()
  t.match(run, { status: 'partial', failed: 1, failures: [{ userId: ghost.id }] })
})

t.test('a full team is reported naming TeamSettings.MaxUsersPerTeam, in the answer and the run', async (t) => {
  const r = await orgSyncRig(t, { sim: { MaxUsersPerTeam: 4 } })
  const o = await r.org() // the bot is member 1
  await Promise.all(Array.from({ length: 5 }, () => r.member(o.id)))
  const res = await r.post(o.id)
  t.equal(res.statusCode, 500)
  t.match(res.json(), { code: 'PARLEY_MATTERMOST_TEAM_FULL', message: /TeamSettings\.MaxUsersPerTeam/ })
  t.match(res.json().message, /2 member\(s\) could not be added/)
  const run = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json().items[0]
  t.match(run, { status: 'partial', added: 3, failed: 2, errorCode: 'team_full', error: /TeamSettings\.MaxUsersPerTeam/ })
  t.equal(run.failures.filter((f: { code: string }) => f.code === 'team_full').length, 2)
})

t.test('429 mid-sync: the announced reset is waited out, the run completes', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  await Promise.all(Array.from({ length: 4 }, () => r.member(o.id)))
  r.sim.resetCalls()
  r.sim.faults.rateLimitNext(BATCH, { count: 1, resetSeconds: 1 })
  const res = await r.post(o.id)
  t.match(res.json(), { synced: 4, added: 4, failed: 0 })
  const batches = r.sim.calls.filter(c => c.route === BATCH)
  t.same(batches.map(c => c.status), [429, 201])
  t.ok(batches[1].at - batches[0].at >= 900, `waited ${batches[1].at - batches[0].at} ms for a 1 s reset`)
})

t.test('Mattermost outage mid-sync: the job retries and the same run resumes without re-adding', async (t) => {
  const r = await orgSyncRig(t, { latencyMs: 60 })
  const o = await r.org()
  await Promise.all(Array.from({ length: 300 }, () => r.member(o.id)))
  r.sim.resetCalls()
  const pending = r.post(o.id)
  // Once the first batch of 256 is in, the next calls fail (the client's own retries included).
  await until(() => r.sim.calls.some(c => c.route === BATCH && c.status === 201) || undefined)
  r.sim.faults.failNext(BATCH, { status: 503, count: 4 })
  const res = await pending
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 300, added: 300, failed: 0 })
  const added = batchAdded(r.sim.calls)
  t.equal(added.length, 300, 'each member sent in an accepted batch once')
  t.equal(new Set(added).size, 300)
  const run = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs/${res.json().runId}`)).json()
  t.match(run, { status: 'succeeded', added: 300 })
  t.ok(run.attempts >= 2, `resumed (attempts ${run.attempts})`)
})

t.test('timeout: 202 with a run id to poll; the run is then found finished', async (t) => {
  const r = await orgSyncRig(t, { latencyMs: 300, apiEnv: { ORG_SYNC_WAIT_MS: '200' } })
  const o = await r.org()
  await r.member(o.id)
  const res = await r.post(o.id)
  t.equal(res.statusCode, 202, res.body)
  const { runId } = res.json()
  t.equal(res.headers.location, `/api/v1/mattermost/sync-org/${o.id}/runs/${runId}`)
  const run = await until(async () => { const b = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs/${runId}`)).json(); return b.status === 'succeeded' ? b : undefined })
  t.match(run, { synced: 1, added: 1, trigger: 'manual' })
})

t.test('debounce: a burst of membership changes ends in one or two runs', async (t) => {
  const r = await orgSyncRig(t, { apiEnv: { ORG_SYNC_DEBOUNCE_MS: '400' } })
  const o = await r.org()
  const people = await Promise.all(Array.from({ length: 40 }, () => r.formerMember()))
  r.sim.resetCalls()
  for (const p of people) {
    const res = await r.api.app.inject({ method: 'PUT', url: `/api/orgs/${o.id}/members/${p.user.id}`, headers: r.admin.headers, payload: { role: 'member' } })
    t.equal(res.statusCode, 201)
  }
  // One leaves again within the burst.
  await r.api.app.inject({ method: 'DELETE', url: `/api/orgs/${o.id}/members/${people[0].user.id}`, headers: r.admin.headers })
  const want = people.slice(1).map(p => p.mmUserId)
  await until(() => want.every(id => r.teamMembers(o.mmTeamId!).has(id)) || undefined, 15_000)
  await new Promise(r => setTimeout(r, 600)) // a second debounced run, if any, would have started by now
  const runs = await until(async () => { const b = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json(); return b.items.every((x: { status: string }) => x.status !== 'running') ? b : undefined })
  t.ok(runs.total >= 1 && runs.total <= 2, `${runs.total} run(s) for 41 changes`)
  t.ok(runs.items.every((x: { trigger: string }) => x.trigger === 'membership'))
  t.ok(r.sim.callCount(BATCH) <= 2, `${r.sim.callCount(BATCH)} batch call(s)`)
  t.notOk(r.teamMembers(o.mmTeamId!).has(people[0].mmUserId), 'the one who left is not in the team')
})

t.test('authorisation of every endpoint', async (t) => {
  const r = await orgSyncRig(t, { worker: false, apiEnv: { ORG_SYNC_WAIT_MS: '100' } })
  const o = await r.org()
  const orgAdmin = await r.member(o.id, 'admin')
  const plain = await r.member(o.id, 'member')
  const other = await r.org()
  const otherAdmin = await r.member(other.id, 'admin')
  const key = await r.api.apiKey(['directory:write'])
  const weakKey = await r.api.apiKey(['notifications:send'])
  const runId = '00000000-0000-4000-8000-000000000000'
  const endpoints = [
    { method: 'POST' as const, url: `/api/v1/mattermost/sync-org/${o.id}` },
    { method: 'GET' as const, url: `/api/v1/mattermost/sync-org/${o.id}/plan` },
    { method: 'GET' as const, url: `/api/v1/mattermost/sync-org/${o.id}/runs` },
    { method: 'GET' as const, url: `/api/v1/mattermost/sync-org/${o.id}/runs/${runId}` }
  ]
  for (const e of endpoints) {
    const as = async (headers?: Record<string, string>) => (await r.api.app.inject({ ...e, headers })).statusCode
    t.equal(await as(), 401, `${e.method} ${e.url} without credentials`)
    t.equal(await as(plain.headers), 403, 'plain member')
    t.equal(await as(otherAdmin.headers), 403, 'admin of another org')
    t.equal(await as(weakKey.headers), 403, 'key without directory:write')
    for (const [who, headers] of [['org admin', orgAdmin.headers], ['Parley admin', r.admin.headers], ['directory:write key', key.headers]] as const) {
      const status = await as(headers)
      // No worker runs here: the sync answers 202, the plan 504, the runs list 200, the unknown run 404.
      const expected = e.method === 'POST' ? 202 : e.url.endsWith('/plan') ? 504 : e.url.endsWith('/runs') ? 200 : 404
      t.equal(status, expected, `${who}: ${e.method} ${e.url}`)
    }
    const unknownOrg = e.url.replace(o.id, '11111111-1111-4111-8111-111111111111')
    t.equal((await r.api.app.inject({ method: e.method, url: unknownOrg, headers: r.admin.headers })).statusCode, 404, 'unknown org 404')
    t.equal((await r.api.app.inject({ method: e.method, url: e.url.replace(o.id, 'not-a-uuid'), headers: r.admin.headers })).statusCode, 400, 'bad id 400')
  }
})

t.test('one sync per org at a time: concurrent requests share runs, nobody is added twice', async (t) => {
  const r = await orgSyncRig(t, { latencyMs: 20 })
  const o = await r.org()
  const members = await Promise.all(Array.from({ length: 300 }, () => r.member(o.id)))
  r.sim.resetCalls()
  const answers = await Promise.all(Array.from({ length: 4 }, () => r.post(o.id)))
  for (const a of answers) t.equal(a.statusCode, 200, a.body)
  t.ok(answers.every(a => a.json().synced === 300), 'every answer reports the whole org synced')
  const byRun = new Map(answers.map(a => [a.json().runId, a.json().added as number]))
  t.equal([...byRun.values()].reduce((n, x) => n + x, 0), 300, 'the members are counted as added once, by the run that added them')
  const added = batchAdded(r.sim.calls)
  t.equal(added.length, 300, "each member sent in an accepted batch exactly once")
  t.equal(new Set(added).size, 300)
  t.ok(members.every(m => r.teamMembers(o.mmTeamId!).has(m.mmUserId)))
  const runs = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json()
  t.ok(runs.total <= 2, `${runs.total} run(s) for 4 concurrent requests (one running, one queued behind it)`)
  // Runs never overlapped: each started after the previous one finished.
  const spans = runs.items.map((x: { startedAt: string, finishedAt: string }) => [Date.parse(x.startedAt), Date.parse(x.finishedAt)]).sort((a: number[], b: number[]) => a[0] - b[0])
  for (let i = 1; i < spans.length; i++) t.ok(spans[i][0] >= spans[i - 1][1], 'runs of one org do not overlap')
})

t.test('Mattermost not configured: 500 naming the setting', async (t) => {
  const api = await build(t, { MATTERMOST_URL: undefined })
  const admin = await api.admin()
  const org = (await insertOrganization(api.db, { name: 'No MM', slug: `nomm-${Date.now()}` }))!
  for (const url of [`/api/v1/mattermost/sync-org/${org.id}`, `/api/v1/mattermost/sync-org/${org.id}/plan`]) {
    const res = await api.app.inject({ method: url.endsWith('/plan') ? 'GET' : 'POST', url, headers: admin.headers })
    t.equal(res.statusCode, 500)
    t.match(res.json(), { code: 'PARLEY_MATTERMOST_NOT_CONFIGURED', message: /MATTERMOST_URL/ })
  }
})

t.test('debounce has a ceiling: a stream of changes that never pauses still syncs', async (t) => {
  const r = await orgSyncRig(t, { apiEnv: { ORG_SYNC_DEBOUNCE_MS: '500', ORG_SYNC_DEBOUNCE_MAX_MS: '1000' } })
  const o = await r.org()
  const people = await Promise.all(Array.from({ length: 25 }, () => r.formerMember()))
  const first = Date.now()
  for (const p of people) {
    await r.api.app.inject({ method: 'PUT', url: `/api/orgs/${o.id}/members/${p.user.id}`, headers: r.admin.headers, payload: { role: 'member' } })
    await new Promise(resolve => setTimeout(resolve, 100)) // a change every 100 ms: never a 500 ms pause
  }
  const last = Date.now()
  t.ok(last - first >= 2_400, 'the stream lasted longer than twice the ceiling')
  const runs = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json()
  const startedDuring = runs.items.filter((x: { startedAt: string | null }) => x.startedAt && Date.parse(x.startedAt) < last)
  t.ok(startedDuring.length >= 1, `${startedDuring.length} run(s) started while the changes kept coming`)
  await until(() => people.every(p => r.teamMembers(o.mmTeamId!).has(p.mmUserId)) || undefined, 10_000)
  t.pass('after the stream, everyone is in the team')
})

t.test('a member who cannot be provisioned is recorded with the reason; the others are provisioned and added', async (t) => {
  const r = await orgSyncRig(t)
  const o = await r.org()
  const fresh = await r.api.createUser() // no Mattermost user yet
  await upsertOrgMember(r.api.db, o.id, fresh.id, 'member')
  const clash = await r.api.createUser({ username: `clash${Date.now()}` })
  r.sim.createUser({ username: clash.username, email: `someone-else-${Date.now()}@example.com` }) // taken by another Mattermost user
  await upsertOrgMember(r.api.db, o.id, clash.id, 'member')
  const res = await r.post(o.id)
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { synced: 1, added: 1, failed: 1, status: 'partial' })
  t.match(res.json().failures, [{ userId: clash.id, action: 'provision', code: 'username_taken', message: /username/ }])
  const run = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs/${res.json().runId}`)).json()
  t.equal(run.provisioned, 1, 'the other member got a Mattermost user')
})
