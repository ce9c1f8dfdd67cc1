/**
 * `GET /healthz`: the process is alive. `GET /readyz`: Postgres and Redis answer (503 naming the
 * one that does not), for load balancers and orchestrators.
 */
import { Type } from 'typebox'
import { sql } from 'drizzle-orm'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, redis } = app
  app.get('/healthz', { schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }))

  const Check = Type.Union([Type.Literal('ok'), Type.Literal('unreachable')])
  const Ready = Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('not ready')]), postgres: Check, redis: Check })
  app.get('/readyz', { schema: { tags: ['health'], response: { 200: Ready, 503: Ready } } }, async (request, reply) => {
    const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref())])
    const [pg, rd] = await Promise.allSettled([within(db.execute(sql`select 1`)), within(redis.ping())])
    const postgres = pg.status === 'fulfilled' ? 'ok' as const : 'unreachable' as const
    const redisState = rd.status === 'fulfilled' ? 'ok' as const : 'unreachable' as const
    const ready = postgres === 'ok' && redisState === 'ok'
    if (!ready) request.log.warn({ postgres, redis: redisState }, 'not ready')
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', postgres, redis: redisState })
  })
}
export default routes
