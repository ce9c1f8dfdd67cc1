/**
 * Errors thrown by the Parley client. Every one extends `ParleyError`; messages never contain the
 * API key.
 */

/** Base class of the client's errors. */
export class ParleyError extends Error {
  override name = 'ParleyError'
}

/**
 * The notification was refused before anything was sent: `field` names it as a path inside the
 * input (`device/name`, `endDate`; empty for the input itself), `message` reads like the API's 400
 * (`Invalid notification: body/device/name is required`).
 */
export class ParleyValidationError extends ParleyError {
  override name = 'ParleyValidationError'
  constructor (readonly field: string, readonly problem: string) {
    super(`Invalid notification: ${problem}`)
  }
}

/**
 * Parley's API answered with an error status (HTTP transport). `statusCode` and `code` come from
 * the API's error envelope `{statusCode, error, code, message}`; `attempts` counts the requests
 * made (more than 1 after 429/503 retries ran out).
 */
export class ParleyHttpError extends ParleyError {
  override name = 'ParleyHttpError'
  constructor (readonly statusCode: number, message: string, readonly code: string | undefined, readonly attempts: number) {
    super(`Parley answered ${statusCode}: ${message}`)
  }
}

/**
 * No answer from Parley's API (HTTP transport): every attempt timed out (`reason: 'timeout'`) or
 * failed to connect (`reason: 'network'`). The notification may or may not have been accepted;
 * sending it again is safe (the idempotency key makes a repeat a `duplicate` of the same id).
 */
export class ParleyRequestError extends ParleyError {
  override name = 'ParleyRequestError'
  constructor (readonly reason: 'timeout' | 'network', message: string, readonly attempts: number, options?: { cause?: unknown }) {
    super(message, options)
  }
}
