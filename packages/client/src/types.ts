/**
 * Input and result shapes, exactly those of seeds/devicehub-notification-system.md ("Usage
 * Example" and "POST /api/notifications/send"). Ids are non-negative integers or short tokens
 * (`[A-Za-z0-9_.-]`, no `:` since they form the idempotency key); dates are ISO `YYYY-MM-DD`.
 */
import type { SendNotification } from './contract.js'

export type NotificationAction = 'BORROW' | 'RETURN' | 'RENEWAL'
/** A product id: a non-negative integer or a token of up to 64 characters `[A-Za-z0-9_.-]`. */
export type ProductId = number | string

/** The device the action is about (the seed's `device`). */
export interface Device {
  id: ProductId
  /** 1–200 characters. */
  name: string
  /** 1–100 characters. */
  assetTag: string
  category?: string
  brand?: string
  model?: string
}

interface Common {
  /** Your product's user id (part of the idempotency key). */
  userId: ProductId
  /** The user's Mattermost username (case-insensitive, `[A-Za-z0-9._-]`, up to 64). */
  mattermostUsername: string
  device: Device
  /** Your product's request id (part of the idempotency key). */
  requestId: ProductId
}

/** `sendBorrowApprovalNotification`: a borrow request was approved. */
export interface BorrowApproval extends Common { startDate: string, endDate: string }
/** `sendReturnConfirmationNotification`: a device return was confirmed. */
export interface ReturnConfirmation extends Common { returnDate: string }
/** `sendRenewalApprovalNotification`: a borrowing renewal was approved. */
export interface RenewalApproval extends Common { previousEndDate: string, newEndDate: string }

/** `sendNotification`: the body of `POST /api/notifications/send`; each action takes its own dates. */
export type NotificationInput =
  | ({ action: 'BORROW' } & BorrowApproval)
  | ({ action: 'RETURN' } & ReturnConfirmation)
  | ({ action: 'RENEWAL' } & RenewalApproval)

/** What every send answers, like `POST /api/notifications/send` (202 queued / 200 duplicate). */
export interface SendResult {
  /** The ledger id (uuid): `GET /api/notifications/:id` shows its delivery. For a duplicate, the earlier notification's id. */
  notificationId: string
  /** `queued`: admitted, a worker will deliver it; `duplicate`: the same key was admitted less than the window ago, nothing was sent. */
  status: 'queued' | 'duplicate'
  /** The seed's key `notification:{action}:{requestId}:{userId}`. */
  idempotencyKey: string
}

// Compile-time check: every input the types allow is a body the shared schema can accept.
type Assignable<A extends B, B> = A
export type _InputFitsSchema = Assignable<NotificationInput, SendNotification>
