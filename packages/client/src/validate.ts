/**
 * Producer-side validation: the same TypeBox schema and action checks as
 * `POST /api/notifications/send`, applied to the input as JSON would carry it.
 */
import { isValidSendNotification, sendNotificationErrors, type SendNotification } from './contract.js'
import { ParleyValidationError } from './errors.js'

/**
 * Returns the body to send: the input itself when it is valid, else a plain JSON copy checked again
 * (`undefined` properties dropped, as the HTTP API would receive it).
 * @throws ParleyValidationError naming the first bad field, e.g. `body/device/name is required`,
 *   `body/returnDate is not allowed for action BORROW`, `body/endDate must match format "date"`.
 */
export function validNotification (input: unknown): SendNotification {
  // Fast path (~1 µs): a valid input is sent as given; JSON drops `undefined` properties on the way,
  // exactly as the copy below would. The input is serialised when the send is made.
  if (isValidSendNotification(input)) return input
  let body: unknown = input
  if (typeof input === 'object' && input !== null) {
    try {
      body = JSON.parse(JSON.stringify(input))
    } catch {
      throw new ParleyValidationError('', 'body must be plain JSON data')
    }
  }
  const problem = sendNotificationErrors(body)
  if (problem) throw new ParleyValidationError(fieldOf(problem), problem)
  return body as SendNotification
}

/** `body/device/name is required` → `device/name`. */
const fieldOf = (problem: string) => /^body(?:\/(\S*))?/.exec(problem)?.[1] ?? ''
