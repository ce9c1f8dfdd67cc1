/**
 * Membership changes → a debounced sync of the org's Mattermost team (issue 4 "Triggers"). Every
 * route that adds or removes an org member calls `requestOrgSync`; the `org-sync` queue's
 * deduplication (replace a delayed job, keep one next job behind a running one) turns a burst of
 * changes into one or two runs, `ORG_SYNC_DEBOUNCE_MS` after the last change.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { enqueueOrgSync } from '@parley/queue'

/**
 * Enqueues a debounced sync of `orgId` when Mattermost is configured. Never throws: the change is
 * saved already, and the scheduled full sync (`ORG_SYNC_INTERVAL`) catches up if Redis was down.
 */
export async function requestOrgSync (app: Pick<FastifyInstance, 'config' | 'queues'>, orgId: string, log: FastifyBaseLogger): Promise<void> {
  const queue = app.queues.orgSync
  if (!app.config.MATTERMOST_URL || !queue) return
  try {
    await enqueueOrgSync(queue, orgId, 'membership', { delayMs: app.config.ORG_SYNC_DEBOUNCE_MS })
  } catch (err) {
    log.warn({ err, orgId }, 'could not enqueue the organisation sync; the scheduled sync will catch up')
  }
}
