/**
 * Org sync (issue 4): a worker killed mid-sync (SIGKILL, in its own process) — the next worker
 * picks the job up (stalled-job recovery), resumes the same run, and Mattermost sees no double
 * work: every member is sent in an accepted batch exactly once.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { orgSyncRig, until } from './org-sync-rig.js'

const BATCH = 'POST /api/v4/teams/{team_id}/members/batch'

t.test('a sync interrupted by a crash is finished by the next worker, with no double adds', async (t) => {
  const r = await orgSyncRig(t, { worker: false, latencyMs: 150, apiEnv: { ORG_SYNC_WAIT_MS: '300' } })
  const o = await r.org()
  await Promise.all(Array.from({ length: 700 }, () => r.member(o.id)))
  const env = r.workerConfig()
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/test/fixtures/org-sync-worker-process.ts'], {
    env: { ...process.env, DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL, QUEUE_PREFIX: env.QUEUE_PREFIX, MATTERMOST_URL: env.MATTERMOST_URL!, MATTERMOST_BOT_TOKEN: env.MATTERMOST_BOT_TOKEN!, TOKEN_ENCRYPTION_KEYS: env.TOKEN_ENCRYPTION_KEYS!, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()))

  r.sim.resetCalls()
  const accepted = await r.post(o.id)
  t.equal(accepted.statusCode, 202, 'still running when the endpoint stops waiting')
  const { runId } = accepted.json()
  // Kill the worker as soon as Mattermost has answered its first batch of 256 — before or after
  // the worker recorded it, and possibly with the second batch on its way.
  const runUrl = `/api/v1/mattermost/sync-org/${o.id}/runs/${runId}`
  await until(() => r.sim.calls.some(c => c.route === BATCH && c.status === 201) || undefined, 15_000)
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('exit', resolve))
  const before = (await r.get(runUrl)).json()
  t.match(before, { status: 'running' }, 'the run is left running by the dead worker')
  t.ok(before.added < 700, `the dead worker got part of the way (${before.added} recorded)`)

  await r.startWorker()
  const run = await until(async () => { const b = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs/${runId}`)).json(); return b.status === 'running' ? undefined : b }, 20_000)
  t.match(run, { status: 'succeeded', synced: 700, failed: 0 })
  t.ok(run.attempts >= 2, `the same run was resumed (attempts ${run.attempts})`)
  t.match(run, { added: 700, unchanged: 0 }, 'the dead attempt\'s adds count as this run\'s work, recorded or not')
  const team = r.teamMembers(o.mmTeamId!)
  t.equal(team.size, 701, 'all 700 members and the bot')
  const sent = r.sim.calls.filter(c => c.route === BATCH && c.status === 201).flatMap(c => (c.body as Array<{ user_id: string }>).map(m => m.user_id))
  t.equal(sent.length, 700, 'each member sent in an accepted batch exactly once')
  t.equal(new Set(sent).size, 700)
  const runs = (await r.get(`/api/v1/mattermost/sync-org/${o.id}/runs`)).json()
  t.equal(runs.total, 1, 'one run record')
})
