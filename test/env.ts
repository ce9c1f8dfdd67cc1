/**
 * Settings shared by every test file. Tests use their own database (`parley_test`) so a developer's
 * data is never touched; Redis isolation is by a per-file BullMQ prefix (`testPrefix`).
 */
import { randomUUID } from 'node:crypto'
import postgres from 'postgres'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/parley_test'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'
export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123'
/** A 32-byte key for token encryption in tests (not a real secret). */
export const TEST_TOKEN_KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`

/** A fresh BullMQ prefix, so each test file's queues are its own. */
export const testPrefix = () => `{ptest-${randomUUID().slice(0, 8)}}`
/** A short random suffix for unique usernames, slugs and ids. */
export const uniq = () => randomUUID().replace(/-/g, '').slice(0, 10)

/**
 * The URL of a database of the test's own, `parley_<label>_<id>` on the test server, dropped
 * (with force) when `t` ends. Nothing is created here: `runMigrations(url)` creates and migrates it.
 * For tests that need a database no other test file writes to (counts of all rows, the last admin).
 */
export function privateTestDatabase (t: { teardown: (fn: () => Promise<void>) => void }, label: string): string {
  const name = `parley_${label}_${uniq()}`
  t.teardown(async () => {
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
    } finally {
      await admin.end()
    }
  })
  return Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${name}` }).toString()
}
