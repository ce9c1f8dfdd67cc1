/**
 * Operator commands behind `npm run cli` (see cli.ts):
 * - `reencryptTokens`: moves every stored personal access token to the newest key of
 *   TOKEN_ENCRYPTION_KEYS (DESIGN.md "Mattermost boundary": keys rotate, old rows move).
 * - `syncUsers`: seeds/personal-token-implementation.md "Commands" — `mattermost:sync-users --all`
 *   creates/updates every active user in Mattermost and makes sure each has a token; `--missing`
 *   only users without a usable token. Idempotent and safe to interrupt: each user is one
 *   independent, idempotent step, so running again continues where it stopped.
 */
import type { Db, TokenCipher } from '@parley/db'
import { listTokensNotOnKey, listUsersToSync, replaceTokenCiphertext } from '@parley/db'
import { isMattermostError } from '@parley/mattermost'
import { ProvisioningError, type Provisioner } from './mattermost-provisioning.js'

export interface ReencryptSummary { moved: number, failed: Array<{ userId: string, reason: string }> }

/**
 * Re-encrypts, in user-id order and batches of `batch`, every token not on `cipher.currentKeyId`.
 * A row changed concurrently (a token re-issued meanwhile) is left alone: it is already current.
 * A ciphertext no configured key can open is reported, not touched.
 */
export async function reencryptTokens (db: Db, cipher: TokenCipher, { batch = 500, progress }: { batch?: number, progress?: (moved: number) => void } = {}): Promise<ReencryptSummary> {
  const summary: ReencryptSummary = { moved: 0, failed: [] }
  let afterUserId: string | undefined
  for (;;) {
    const rows = await listTokensNotOnKey(db, cipher.currentKeyId, { afterUserId, limit: batch })
    if (rows.length === 0) break
    for (const row of rows) {
      afterUserId = row.userId
      let plaintext: string
      try {
        plaintext = cipher.decrypt(row.tokenEnc!)
      } catch (err) {
        summary.failed.push({ userId: row.userId, reason: (err as Error).message })
        continue
      }
      if (await replaceTokenCiphertext(db, row.userId, row.tokenEnc!, cipher.encrypt(plaintext), cipher.currentKeyId)) summary.moved++
    }
    progress?.(summary.moved)
  }
  return summary
}

export interface SyncSummary {
  processed: number
  created: number
  updated: number
  tokensIssued: number
  failed: Array<{ userId: string, username: string, reason: string }>
  interrupted: boolean
}

export interface SyncOptions {
  mode: 'all' | 'missing'
  /** Only members of this organisation. */
  orgId?: string
  /** Users handled at once (default 8). */
  concurrency?: number
  /** Called after each user. */
  progress?: (s: SyncSummary) => void
  /** Checked between users; true stops after the users in flight. */
  stopped?: () => boolean
}

/** Syncs users page by page (see module doc). Never throws for one user's failure: it is counted with its reason. */
export async function syncUsers (db: Db, provisioner: Provisioner, opts: SyncOptions): Promise<SyncSummary> {
  const s: SyncSummary = { processed: 0, created: 0, updated: 0, tokensIssued: 0, failed: [], interrupted: false }
  const concurrency = Math.max(1, opts.concurrency ?? 8)
  let afterId: string | undefined
  for (;;) {
    if (opts.stopped?.()) { s.interrupted = true; break }
    const users = await listUsersToSync(db, { mode: opts.mode, orgId: opts.orgId, afterId, limit: 200 })
    if (users.length === 0) break
    afterId = users[users.length - 1].id
    let next = 0
    await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, async () => {
      while (next < users.length && !opts.stopped?.()) {
        const user = users[next++]
        try {
          const r = await provisioner.ensureAccount(user.id, { sync: true, retry: true })
          if (r.userCreated) s.created++
          if (r.userUpdated) s.updated++
          if (r.tokenIssued) s.tokensIssued++
        } catch (err) {
          const reason = err instanceof ProvisioningError
            ? err.reason
            : isMattermostError(err) ? `Mattermost ${err.endpoint} ${err.status}${err.id ? ` ${err.id}` : ''}` : (err as Error).message
          s.failed.push({ userId: user.id, username: user.username, reason })
        }
        s.processed++
        opts.progress?.(s)
      }
    }))
    if (opts.stopped?.()) { s.interrupted = true; break }
  }
  return s
}
