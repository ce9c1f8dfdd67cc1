/**
 * Processor of the `notifications` queue (seeds/devicehub-notification-system.md, "Business Flow").
 *
 * `deliver`: DM-ready users get the detailed DM in their stored direct channel; everyone else is
 * made a member of the notification channel's team and channel (when not already) and gets
 * `@username <short text>` there. Exactly once in effect: every post carries
 * `pending_post_id = parley-<notification id>` (Mattermost drops a repeat within 30 s) and the prop
 * `parley_notification_id`; an attempt after the first looks for that post before posting again,
 * because Mattermost forgets a `pending_post_id` after 30 s (PROTOCOL §7.3).
 * `welcome`: the one-time welcome DM after a user first wrote to the bot.
 * `initialize`: checks the bot user and the notification channel and publishes them in the status.
 * `sweep`: re-enqueues ledger rows left `queued` without a job (an `add` lost after the insert).
 * `cleanup-keys`: deletes idempotency rows whose window has passed (the seed: every 10 minutes).
 */
import { UnrecoverableError, type Job } from 'bullmq'
import { Value } from 'typebox/value'
import type { Post } from '@mattermost/types/posts'
import {
  deleteExpiredKeys, findRecipient, forgetRecipient, findRecipientByUsername, markWelcomeSent, recordDeliveryError,
  setChannelMembership, setDmChannel, staleQueued, loadManyForDelivery, markManyDelivered, upsertRecipient, type Delivered, type MattermostRecipient, type Notification
} from '@parley/db'
import { isMattermostError, isPermanent, type MattermostClient } from '@parley/mattermost'
import { DeliverJobSchema, WelcomeJobSchema, deliverJobId, writeStatus, type NotificationJobData, type NotificationJobName } from '@parley/queue'
import type { WorkerDeps } from '../deps.js'
import { createBatcher } from '@parley/db'
import { queueProducerJobs } from './notification-send.js'
import { WELCOME_MESSAGE, channelMessage, directMessage, type NotificationContent } from '../templates.js'

export const NOTIFICATION_PROP = 'parley_notification_id'
export const WELCOME_PROP = 'parley_welcome_for'
/** Re-enqueue rows still queued this long after their last change. */
const SWEEP_AFTER_SECONDS = 120

export type DeliverResult = { delivery: 'dm' | 'channel', postId: string, reused: boolean } | { skipped: string }

interface Context { botUserId: string, botUsername: string, channelId: string, teamId: string }

/** Builds the processor. It throws `UnrecoverableError` for what a retry cannot fix. */
export function notificationsProcessor (deps: WorkerDeps) {
  const { db, config, logger, redis, prefix } = deps
  // Concurrent jobs share their read and their outcome write (one statement, one commit per batch).
  const loadForDelivery = createBatcher(async (ids: string[]) => {
    const found = await loadManyForDelivery(db, [...new Set(ids)])
    return ids.map(id => found.get(id))
  })
  const markDelivered = createBatcher(async (items: (Delivered & { id: string })[]) => {
    await markManyDelivered(db, items)
    return items.map(() => undefined)
  })
  let context: Promise<Context> | undefined
  // `send` jobs from queue producers (packages/client) and the payload version check: notification-send.ts.
  const producerJobs = queueProducerJobs(deps)

  function client (): MattermostClient {
    if (!deps.mattermost || !config.MATTERMOST_NOTIFICATION_CHANNEL_ID) {
      throw new UnrecoverableError('Mattermost is not configured: set MATTERMOST_URL, MATTERMOST_BOT_TOKEN and MATTERMOST_NOTIFICATION_CHANNEL_ID')
    }
    return deps.mattermost
  }

  /** Bot user and the channel's team, resolved once (two calls) and cached for the process. */
  function initialize (): Promise<Context> {
    context ??= (async () => {
      const mm = client()
      const [bot, channel] = await Promise.all([
        config.MATTERMOST_BOT_USER_ID ? mm.getUser(config.MATTERMOST_BOT_USER_ID) : mm.getMe(),
        mm.getChannel(config.MATTERMOST_NOTIFICATION_CHANNEL_ID!)
      ])
      const ctx = { botUserId: bot.id, botUsername: bot.username, channelId: channel.id, teamId: channel.team_id }
      await writeStatus(redis, prefix, { initialized: true, botUserId: bot.id, botUsername: bot.username, notificationChannelId: channel.id, notificationTeamId: channel.team_id, lastError: '' })
      return ctx
    })().catch(async (err) => {
      context = undefined
      await writeStatus(redis, prefix, { initialized: false, lastError: err instanceof Error ? err.message : String(err) }).catch(() => {})
      throw err
    })
    return context
  }

  async function recipientFor (mm: MattermostClient, username: string): Promise<MattermostRecipient> {
    const known = await findRecipientByUsername(db, username)
    if (known) return known
    const user = await mm.getUserByUsername(username)
    return upsertRecipient(db, { mmUserId: user.id, username: user.username })
  }

  /** Makes sure the user can see the @mention: team member, then channel member (cached once known). */
  async function ensureChannelMember (mm: MattermostClient, ctx: Context, r: MattermostRecipient): Promise<void> {
    if (r.memberOfChannelId === ctx.channelId) return
    if (!await mm.getChannelMember(ctx.channelId, r.mmUserId)) {
      await mm.addTeamMember(ctx.teamId, r.mmUserId)
      await mm.addChannelMember(ctx.channelId, r.mmUserId)
    }
    await setChannelMembership(db, r.mmUserId, ctx.channelId)
  }

  /** A post an earlier attempt made for `prop = value` in `channelId` since `sinceMs`, if any. */
  async function earlierPost (mm: MattermostClient, channelId: string, sinceMs: number, prop: string, value: string): Promise<Post | undefined> {
    const list = await mm.getPostsSince(channelId, sinceMs - 60_000)
    return Object.values(list.posts ?? {}).find(p => p.props?.[prop] === value && !p.delete_at)
  }

  async function deliver (job: Job<NotificationJobData>): Promise<DeliverResult> {
    if (!Value.Check(DeliverJobSchema, job.data)) throw new UnrecoverableError('malformed deliver job: expected { v: 1, notificationId: <uuid> }')
    const { notificationId } = job.data
    const loaded = await loadForDelivery(notificationId)
    if (!loaded) throw new UnrecoverableError(`no ledger row for notification ${notificationId}`)
    const { notification: n, recipient: known } = loaded
    const attempt = Math.max(job.attemptsStarted, 1)
    if (n.status !== 'queued') return { skipped: `notification is ${n.status}` }
    try {
      const mm = client()
      const ctx = await initialize()
      const r = known ?? await recipientFor(mm, n.mattermostUsername)
      const content = { ...(n.payload as Omit<NotificationContent, 'action' | 'requestId'>), action: n.action, requestId: n.requestId }
      const dm = config.NOTIFY_DM_POLICY === 'always' || r.dmReady
      let channelId: string
      if (dm) {
        channelId = r.dmChannelId ?? (await mm.createDirectChannel(ctx.botUserId, r.mmUserId)).id
        if (!r.dmChannelId) await setDmChannel(db, r.mmUserId, channelId)
      } else {
        await ensureChannelMember(mm, ctx, r)
        channelId = ctx.channelId
      }
      const delivery = dm ? 'dm' as const : 'channel' as const
      // An earlier attempt may have posted and died before recording it: a retry, a stalled job picked
      // up again (attemptsStarted counts both, in Redis), an earlier job for this row, or a sweep re-add.
      if (job.attemptsStarted > 1 || n.attempts > 0 || job.data.recheck === true) {
        // Look in both places the post could be.
        const places = new Set([channelId, ctx.channelId, ...(r.dmChannelId ? [r.dmChannelId] : [])])
        for (const place of places) {
          const found = await earlierPost(mm, place, n.createdAt.getTime(), NOTIFICATION_PROP, n.id)
          if (found) {
            await markDelivered({ id: n.id, delivery: place === ctx.channelId ? 'channel' : 'dm', postId: found.id, channelId: place, attempt })
            return { delivery: place === ctx.channelId ? 'channel' : 'dm', postId: found.id, reused: true }
          }
        }
      }
      const post = await mm.createPost({
        channel_id: channelId,
        message: dm ? directMessage(content, config.APP_BASE_URL) : channelMessage(r.username, content, config.APP_BASE_URL),
        pending_post_id: `parley-${n.id}`,
        props: { [NOTIFICATION_PROP]: n.id, parley_action: n.action }
      })
      await markDelivered({ id: n.id, delivery, postId: post.id, channelId, attempt })
      return { delivery, postId: post.id, reused: false }
    } catch (err) {
      if (known && isMattermostError(err) && err.status === 404) {
        // The cached Mattermost user is gone (deleted, or the username moved): forget it and look it up again.
        await forgetRecipient(db, known.mmUserId)
        await recordDeliveryError(db, n.id, { message: err.message, errorId: err.id, final: false, attempt: Math.max(job.attemptsStarted, 1) })
        throw new Error(`cached Mattermost user ${known.mmUserId} not found; looking ${n.mattermostUsername} up again`)
      }
      await failOrRetry(job, n, err)
      throw err
    }
  }

  /** Records the error; permanent errors and the last attempt fail the notification for good. */
  async function failOrRetry (job: Job, n: Notification, err: unknown): Promise<void> {
    const permanent = err instanceof UnrecoverableError || isPermanent(err)
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    const message = err instanceof Error ? err.message : String(err)
    await recordDeliveryError(db, n.id, { message, errorId: isMattermostError(err) ? err.id : undefined, final: permanent || last, attempt: Math.max(job.attemptsStarted, 1) })
    logger.warn({ notificationId: n.id, attempt: job.attemptsMade + 1, permanent, errorId: isMattermostError(err) ? err.id : undefined, reason: message }, 'delivery failed')
    if (permanent && !(err instanceof UnrecoverableError)) throw new UnrecoverableError(message)
  }

  async function welcome (job: Job<NotificationJobData>): Promise<{ postId: string } | { skipped: string }> {
    if (!Value.Check(WelcomeJobSchema, job.data)) throw new UnrecoverableError('malformed welcome job: expected { v: 1, mmUserId }')
    const r = await findRecipient(db, job.data.mmUserId)
    if (!r?.dmChannelId) throw new UnrecoverableError(`user ${job.data.mmUserId} has no direct channel with the bot`)
    if (r.welcomeSentAt) return { skipped: 'welcome already sent' }
    const mm = client()
    // Once, ever: look for an earlier attempt's post before posting (welcomes are rare, the check is cheap).
    const found = await earlierPost(mm, r.dmChannelId, (r.dmReadyAt ?? r.createdAt).getTime(), WELCOME_PROP, r.mmUserId)
    const post = found ?? await mm.createPost({
      channel_id: r.dmChannelId, message: WELCOME_MESSAGE, pending_post_id: `parley-welcome-${r.mmUserId}`, props: { [WELCOME_PROP]: r.mmUserId }
    })
    await markWelcomeSent(db, r.mmUserId, post.id)
    return { postId: post.id }
  }

  async function sweep (): Promise<{ requeued: number }> {
    const ids = await staleQueued(db, SWEEP_AFTER_SECONDS)
    // recheck: the row's job vanished, so an earlier attempt may have posted without a trace in Redis.
    for (const id of ids) await deps.queues.notifications.add('deliver', { v: 1, notificationId: id, recheck: true }, { jobId: deliverJobId(id) })
    return { requeued: ids.length }
  }

  return async function process (job: Job<NotificationJobData, unknown, NotificationJobName>) {
    await producerJobs.checkVersion(job) // an unknown future payload version fails at once, with its reason
    switch (job.name) {
      case 'send': return producerJobs.send(job)
      case 'deliver': return deliver(job)
      case 'welcome': return welcome(job)
      case 'initialize': { context = undefined; const c = await initialize(); return { botUserId: c.botUserId } }
      case 'sweep': return sweep()
      case 'cleanup-keys': return { deleted: await deleteExpiredKeys(db) }
      default: throw new UnrecoverableError(`unknown job name ${String(job.name)}`)
    }
  }
}
