/**
 * Membership changes → a debounced sync of the org's Mattermost team (issue 4 "Triggers"). Every
 * route that adds or removes an org member calls `requestOrgSync`; the `org-sync` queue's
 * deduplication (replace a delayed job, keep one next job behind a running one) turns a burst of
 * changes into one or two runs, `ORG_SYNC_DEBOUNCE_MS` after the last change — but no later than
 * `ORG_SYNC_DEBOUNCE_MAX_MS` after the burst's first change, so a stream of changes that never
 * pauses does not postpone the sync for ever (the burst's start is a Redis key with that TTL).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { enqueueOrgSync } from '@parley/queue'

/**
 * Enqueues a debounced sync of `orgId` when Mattermost is configured. Never throws: the change is
 * saved already, and the scheduled full sync (`ORG_SYNC_INTERVAL`) catches up if Redis was down.
 */
export async function requestOrgSync (app: Pick<FastifyInstance, 'config' | 'queues' | 'redis'>, orgId: string, log: FastifyBaseLogger): Promise<void> {
  const queue = app.queues.orgSync
  const { MATTERMOST_URL, ORG_SYNC_DEBOUNCE_MS: debounce, ORG_SYNC_DEBOUNCE_MAX_MS: maxWait, QUEUE_PREFIX } = app.config
  if (!MATTERMOST_URL || !queue) return
  try {
    let delayMs = debounce
    if (maxWait > 0 && debounce > 0) {
      const key = `${QUEUE_PREFIX}:parley:org-sync-burst:${orgId}`
      const now = Date.now()
      const started = await app.redis.set(key, String(now), 'PX', maxWait, 'NX') === 'OK' ? now : Number(await app.redis.get(key) ?? now)
      delayMs = Math.max(0, Math.min(debounce, started + maxWait - now))
    }
    await enqueueOrgSync(queue, orgId, 'membership', { delayMs })
  } catch (err) {
    log.warn({ err, orgId }, 'could not enqueue the organisation sync; the scheduled sync will catch up')
  }
}
