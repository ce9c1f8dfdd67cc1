/**
 * `@parley/client`: send Parley notifications from your backend
 * (seeds/devicehub-notification-system.md, "Usage Example").
 *
 * ```ts
 * const parley = createParleyClient({ transport: 'queue', redis: 'redis://127.0.0.1:6379' })
 * // or createParleyClient({ transport: 'http', baseUrl: 'https://parley.example.com', apiKey })
 * await parley.sendBorrowApprovalNotification({ userId: 123, mattermostUsername: 'john.doe', device, requestId: 456, startDate: '2026-01-10', endDate: '2026-02-10' })
 * await parley.close()
 * ```
 *
 * Both transports validate the input exactly as `POST /api/notifications/send` does before
 * anything is sent, share the idempotency key `notification:{action}:{requestId}:{userId}` and
 * window, and answer `{notificationId, status: 'queued' | 'duplicate', idempotencyKey}`.
 */
import { HttpTransport, type HttpTransportOptions } from './http-transport.js'
import { QueueTransport, type QueueTransportOptions } from './queue-transport.js'
import { ParleyError, ParleyValidationError } from './errors.js'
import { validNotification } from './validate.js'
import type { BorrowApproval, NotificationAction, NotificationInput, RenewalApproval, ReturnConfirmation, SendResult } from './types.js'

export { ParleyError, ParleyHttpError, ParleyRequestError, ParleyValidationError } from './errors.js'
export type { BorrowApproval, Device, NotificationAction, NotificationInput, ProductId, RenewalApproval, ReturnConfirmation, SendResult } from './types.js'
export type { HttpTransportOptions } from './http-transport.js'
export type { QueueTransportOptions } from './queue-transport.js'

export type ParleyClientOptions = QueueTransportOptions | HttpTransportOptions

export interface ParleyClient {
  readonly transport: 'queue' | 'http'
  /**
   * Sends any notification (the body of `POST /api/notifications/send`).
   * @throws ParleyValidationError (nothing sent), ParleyHttpError / ParleyRequestError (http),
   *   the Redis client's error (queue), ParleyError after `close()`.
   */
  sendNotification (input: NotificationInput): Promise<SendResult>
  /** A borrow request was approved (`action: 'BORROW'`; needs `startDate`, `endDate`). Throws as `sendNotification`. */
  sendBorrowApprovalNotification (input: BorrowApproval): Promise<SendResult>
  /** A device return was confirmed (`action: 'RETURN'`; needs `returnDate`). Throws as `sendNotification`. */
  sendReturnConfirmationNotification (input: ReturnConfirmation): Promise<SendResult>
  /** A borrowing renewal was approved (`action: 'RENEWAL'`; needs `previousEndDate`, `newEndDate`). Throws as `sendNotification`. */
  sendRenewalApprovalNotification (input: RenewalApproval): Promise<SendResult>
  /** Stops the client: closes its queue and any Redis connection it opened; aborts HTTP requests in flight. */
  close (): Promise<void>
}

/**
 * Creates a client for one transport:
 * - `{ transport: 'queue', redis, prefix?, idempotencyWindowSeconds? }`: enqueue onto Parley's
 *   `notifications` queue directly (needs Parley's Redis and QUEUE_PREFIX);
 * - `{ transport: 'http', baseUrl, apiKey, timeoutMs?, maxRetries?, maxRetryDelayMs? }`: call the API.
 * Nothing connects before the first send (the queue transport's Redis connects in the background).
 * @throws TypeError for an unknown transport or missing options.
 */
export function createParleyClient (options: ParleyClientOptions): ParleyClient {
  const transport = options?.transport === 'queue' ? new QueueTransport(options)
    : options?.transport === 'http' ? new HttpTransport(options)
      : undefined
  if (!transport) throw new TypeError(`transport must be 'queue' or 'http', got ${JSON.stringify((options as { transport?: unknown } | undefined)?.transport)}`)
  let closed = false

  async function sendNotification (input: NotificationInput): Promise<SendResult> {
    if (closed) throw new ParleyError('the Parley client was closed')
    return transport!.send(validNotification(input))
  }
  /** The seed's helpers: the same input without `action`, which they set. */
  const forAction = <T extends object>(action: NotificationAction) => (input: T) => {
    const given = (input as { action?: unknown } | null)?.action
    if (given !== undefined && given !== action) {
      return Promise.reject(new ParleyValidationError('action', `body/action must be ${action} here (use sendNotification for other actions)`))
    }
    return sendNotification({ ...input, action } as unknown as NotificationInput)
  }

  return {
    transport: options.transport,
    sendNotification,
    sendBorrowApprovalNotification: forAction<BorrowApproval>('BORROW'),
    sendReturnConfirmationNotification: forAction<ReturnConfirmation>('RETURN'),
    sendRenewalApprovalNotification: forAction<RenewalApproval>('RENEWAL'),
    async close () {
      if (closed) return
      closed = true
      await transport.close()
    }
  }
}
