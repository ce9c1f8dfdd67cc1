/**
 * Two API processes (issue 5): this test's in-process app and a real `apps/api/src/server.ts`
 * child process with the same configuration (database, Redis, queue prefix, JWT secret).
 */
import t from 'tap'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { ensureDirectConversation } from '@parley/db'
import { build } from '../helper.js'
import { connectReady, listen } from './client.js'

const root = path.resolve(import.meta.dirname, '../../../..')
const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)) }) })
const auth = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('a message sent through one API process reaches a socket on another', async (t) => {
  const { app, db, config, createUser, tokenFor } = await build(t)
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/server.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: String(port),
      DATABASE_URL: config.DATABASE_URL, REDIS_URL: config.REDIS_URL, QUEUE_PREFIX: config.QUEUE_PREFIX,
      JWT_SECRET: config.JWT_SECRET, TOKEN_ENCRYPTION_KEYS: config.TOKEN_ENCRYPTION_KEYS, DATABASE_POOL_SIZE: '3'
    }
  })
  const exited = new Promise(resolve => child.once('exit', resolve))
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited } })
  const deadline = Date.now() + 60_000
  while (!(await fetch(`http://127.0.0.1:${port}/healthz`).then(r => r.ok, () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the second API process did not start')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const inProcess = await listen(app)
  const other = `ws://127.0.0.1:${port}`

  const a = await createUser()
  const b = await createUser()
  const { conversation } = await ensureDirectConversation(db, a.id, b.id)
  const onOther = await connectReady(t, other, tokenFor(b))
  const here = await connectReady(t, inProcess, tokenFor(a))

  const sent = await app.inject({ method: 'POST', url: `/api/conversations/${conversation.id}/messages`, headers: auth(tokenFor(a)), payload: { content: 'to the other process' } })
  t.equal(sent.statusCode, 201)
  t.equal((await onOther.next('message:created')).message.id, sent.json().id, 'delivered by the other process')

  const back = await fetch(`http://127.0.0.1:${port}/api/conversations/${conversation.id}/messages`, {
    method: 'POST', headers: { ...auth(tokenFor(b)), 'content-type': 'application/json' }, body: JSON.stringify({ content: 'and back' })
  })
  t.equal(back.status, 201)
  const backId = ((await back.json()) as { id: string }).id
  t.equal((await here.next(e => e.type === 'message:created' && e.message.id === backId)).message.content, 'and back', 'and the other way')
  t.equal((await onOther.next('message:ack')).message.id, backId)
})
