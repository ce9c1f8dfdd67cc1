import { uniq } from '../../../test/env.js'

/** A valid BORROW body with a fresh requestId and userId. */
export const borrowBody = (over: Record<string, unknown> = {}) => ({
  action: 'BORROW',
  userId: Math.floor(Math.random() * 1e12),
  mattermostUsername: 'john.doe',
  device: { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001', category: 'laptop', brand: 'Apple', model: 'MacBook Pro 16" M3' },
  requestId: `r${uniq()}`,
  startDate: '2026-01-10',
  endDate: '2026-02-10',
  ...over
})
