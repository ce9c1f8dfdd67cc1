/**
 * Message texts (seeds/devicehub-notification-system.md, "Message Templates"): a short channel
 * @mention, a detailed DM, and the welcome message. Markdown; user data is escaped.
 */
import type { NotificationAction } from '@parley/queue'

export interface NotificationContent {
  action: NotificationAction
  requestId: string
  device: { id: number | string, name: string, assetTag: string, category?: string, brand?: string, model?: string }
  startDate?: string
  endDate?: string
  returnDate?: string
  previousEndDate?: string
  newEndDate?: string
}

/** The seed's short texts, word for word. */
export const SHORT_TEXT: Record<NotificationAction, string> = {
  BORROW: 'Your device borrowing request has been approved',
  RETURN: 'Your device return has been confirmed',
  RENEWAL: 'Your device borrowing renewal has been approved'
}

const TITLE: Record<NotificationAction, string> = {
  BORROW: 'Borrowing request approved',
  RETURN: 'Device return confirmed',
  RENEWAL: 'Borrowing renewal approved'
}

const STATUS: Record<NotificationAction, string> = {
  BORROW: 'Borrowed',
  RETURN: 'Returned',
  RENEWAL: 'Borrowed (renewed)'
}

/** Escapes Markdown control characters so user-supplied text renders literally. */
export const md = (s: string | number) => String(s).replace(/([\\`*_{}[\]<>|~])/g, '\\$1')

const detailsUrl = (baseUrl: string, requestId: string) => `${baseUrl.replace(/\/+$/, '')}/requests/${encodeURIComponent(requestId)}`

/** `@username <short text>` plus the details link, for the notification channel. */
export function channelMessage (username: string, n: NotificationContent, appBaseUrl: string): string {
  return `@${username} ${SHORT_TEXT[n.action]}. [View details](${detailsUrl(appBaseUrl, n.requestId)})`
}

/** The detailed direct message: device, dates, status, link. */
export function directMessage (n: NotificationContent, appBaseUrl: string): string {
  const d = n.device
  const lines = [
    `#### ${TITLE[n.action]}`,
    `${SHORT_TEXT[n.action]}.`,
    '',
    '| | |',
    '|:--|:--|',
    `| **Device** | ${md(d.name)} |`,
    `| **Asset tag** | ${md(d.assetTag)} |`
  ]
  if (d.category) lines.push(`| **Category** | ${md(d.category)} |`)
  if (d.brand) lines.push(`| **Brand** | ${md(d.brand)} |`)
  if (d.model) lines.push(`| **Model** | ${md(d.model)} |`)
  if (n.action === 'BORROW') lines.push(`| **Borrow period** | ${n.startDate} → ${n.endDate} |`)
  if (n.action === 'RETURN') lines.push(`| **Returned on** | ${n.returnDate} |`)
  if (n.action === 'RENEWAL') lines.push(`| **Previous end date** | ${n.previousEndDate} |`, `| **New end date** | ${n.newEndDate} |`)
  lines.push(`| **Status** | ${STATUS[n.action]} |`, '', `[View details on the website](${detailsUrl(appBaseUrl, n.requestId)})`)
  return lines.join('\n')
}

export const WELCOME_MESSAGE = [
  ':wave: Thanks for writing! From now on your device notifications (borrowing, returns, renewals) will arrive here as direct messages, with all the details.'
].join('\n')
