import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { seededSimulator, until, workerConfig } from './harness.js'
import { build } from '../../api/test/helper.js'
import { borrowBody } from '../../api/test/fixtures-notifications.js'

t.test('SIGTERM: the worker process finishes its active job, then exits 0', async (t) => {
  const mm = await seededSimulator(t)
  const api = await build(t, { MATTERMOST_URL: mm.sim.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId })
  const key = await api.apiKey(['notifications:send'])
  const u = mm.user({ inChannel: true })
  const c = workerConfig(mm, api.config.QUEUE_PREFIX)
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
    env: { PATH: process.env.PATH!, DATABASE_URL: c.DATABASE_URL, REDIS_URL: c.REDIS_URL, QUEUE_PREFIX: c.QUEUE_PREFIX, MATTERMOST_URL: mm.sim.url, MATTERMOST_BOT_TOKEN: mm.bot.token, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId, TOKEN_ENCRYPTION_KEYS: c.TOKEN_ENCRYPTION_KEYS!, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: string[] = []
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => { lines.push(l); if (l.includes('worker started')) resolve() })
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code} before it started`)))
  })
  await started

  mm.sim.faults.holdPosts(true)
  const id = (await api.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: borrowBody({ mattermostUsername: u.username }) })).json().notificationId
  await until(() => mm.sim.faults.heldPosts() > 0 || undefined, 15_000)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  await until(() => lines.some(l => l.includes('closing')) || undefined)
  mm.sim.faults.holdPosts(false) // the post the worker was waiting on completes during shutdown
  t.equal(await exited, 0, 'exit status 0')
  const [row] = await api.sql`select status, mattermost_post_id from notifications where id = ${id}`
  t.equal(row.status, 'delivered', 'the active job finished before the process exited')
  t.equal(mm.sim.getPosts(mm.channelId).filter(x => x.props?.parley_notification_id === id).length, 1)
})
