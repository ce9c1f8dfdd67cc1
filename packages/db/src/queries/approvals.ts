/**
 * Approval requests to managers and manager tokens (seeds/secure-chat-server-plugin-api.md,
 * "Approvals + Manager Tokens").
 */
import { and, desc, eq, isNull, or, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { Executor } from '../client.js'
import { approvals, type Approval } from '../schema/approvals.js'
import { users } from '../schema/users.js'

export interface ApprovalParty { id: string, username: string, displayName: string, manager: boolean }
export interface ApprovalRow extends Approval { requester: ApprovalParty, target: ApprovalParty }

const requester = alias(users, 'requester')
const target = alias(users, 'target')

function selectRows (db: Executor) {
  return db.select({
    id: approvals.id, requesterId: approvals.requesterId, targetId: approvals.targetId, note: approvals.note,
    conversationId: approvals.conversationId, status: approvals.status, decidedBy: approvals.decidedBy, decidedAt: approvals.decidedAt,
    tokenConversationId: approvals.tokenConversationId, tokenMessageId: approvals.tokenMessageId,
    createdAt: approvals.createdAt, updatedAt: approvals.updatedAt,
    requester: { id: requester.id, username: requester.username, displayName: requester.displayName, manager: requester.manager },
    target: { id: target.id, username: target.username, displayName: target.displayName, manager: target.manager }
  }).from(approvals)
    .innerJoin(requester, eq(requester.id, approvals.requesterId))
    .innerJoin(target, eq(target.id, approvals.targetId))
}

export const insertApproval = async (db: Executor, a: { requesterId: string, targetId: string, note: string, conversationId: string | null }): Promise<Approval> =>
  (await db.insert(approvals).values(a).returning())[0]

/** One approval with both parties, or undefined. */
export const findApproval = async (db: Executor, id: string): Promise<ApprovalRow | undefined> =>
  (await selectRows(db).where(eq(approvals.id, id)).limit(1))[0]

/**
 * Approvals involving `userId`, newest first: `incoming` (it is the target manager), `outgoing`
 * (it asked) or `all`; `status` filters when given.
 */
export const listApprovals = (db: Executor, userId: string, o: { direction: 'incoming' | 'outgoing' | 'all', status?: 'pending' | 'approved' | 'denied', limit: number, offset: number }): Promise<ApprovalRow[]> =>
  selectRows(db).where(and(
    o.direction === 'incoming' ? eq(approvals.targetId, userId)
      : o.direction === 'outgoing' ? eq(approvals.requesterId, userId)
        : or(eq(approvals.targetId, userId), eq(approvals.requesterId, userId)),
    o.status ? eq(approvals.status, o.status) : undefined
  )).orderBy(desc(approvals.createdAt), desc(approvals.id)).limit(o.limit).offset(o.offset)

/**
 * Records the decision (who and when) on a pending approval, in one statement: of concurrent
 * decisions exactly one matches `pending`. @returns the decided row, or undefined when it was not pending.
 */
export async function decideApproval (db: Executor, d: { id: string, decision: 'approved' | 'denied', decidedBy: string }): Promise<Approval | undefined> {
  const rows = await db.update(approvals).set({ status: d.decision, decidedBy: d.decidedBy, decidedAt: sql`now()` })
    .where(and(eq(approvals.id, d.id), eq(approvals.status, 'pending'))).returning()
  return rows[0]
}

/** Records where the token of an approved approval was posted. */
export async function recordTokenMessage (db: Executor, id: string, at: { conversationId: string, messageId: string }): Promise<void> {
  await db.update(approvals).set({ tokenConversationId: at.conversationId, tokenMessageId: at.messageId }).where(eq(approvals.id, id))
}

/**
 * Puts an approval decided by `decidedBy` back to pending when its token could not be posted
 * (only while no token message is recorded), so the manager can approve again.
 */
export async function reopenApproval (db: Executor, id: string, decidedBy: string): Promise<void> {
  await db.update(approvals).set({ status: 'pending', decidedBy: null, decidedAt: null })
    .where(and(eq(approvals.id, id), eq(approvals.decidedBy, decidedBy), isNull(approvals.tokenMessageId)))
}

/**
 * Makes sure manager `userId` has a stored token: when `manager_token_enc` is null it is set to
 * `makeEncrypted()` (only if still null, so concurrent calls keep one token).
 * @returns the stored ciphertext.
 */
export async function ensureManagerTokenEnc (db: Executor, userId: string, makeEncrypted: () => string): Promise<string> {
  const [current] = await db.select({ enc: users.managerTokenEnc }).from(users).where(eq(users.id, userId)).limit(1)
  if (current?.enc) return current.enc
  await db.update(users).set({ managerTokenEnc: makeEncrypted() }).where(and(eq(users.id, userId), isNull(users.managerTokenEnc)))
  const [after] = await db.select({ enc: users.managerTokenEnc }).from(users).where(eq(users.id, userId)).limit(1)
  if (!after?.enc) throw new Error('manager token could not be stored')
  return after.enc
}
