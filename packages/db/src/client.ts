/**
 * Database handle: `createDb(url)` opens a postgres.js pool wrapped by drizzle.
 * Importing this module opens nothing.
 */
import postgres from 'postgres'
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import * as schema from './schema/index.js'

export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql }
/** A `Db` or a transaction opened from it: query functions take either in their first slot. */
export type Executor = Db | Parameters<Parameters<Db['transaction']>[0]>[0]

export interface DbHandle {
  db: Db
  /** The raw postgres.js client, for the few statements drizzle cannot express. */
  sql: postgres.Sql
  close: () => Promise<void>
}

/**
 * Opens a pool of at most `max` connections (default 10) to `url`.
 * Notices are silenced; `close()` waits up to 5 s for running queries.
 *
 * Every parameterised statement drizzle sends is prepared (once per connection, cached by its
 * text): drizzle calls postgres.js `unsafe`, which by default re-parses and re-plans each call —
 * measured here at a tenth of the rate of the prepared statement for a primary-key read.
 */
export function createDb (url: string, { max = 10 }: { max?: number } = {}): DbHandle {
  const sql = postgres(url, { max, onnotice: () => {}, connection: { application_name: 'parley' } })
  const unsafe = sql.unsafe.bind(sql)
  const preparing = ((query: string, args?: unknown[], options: Record<string, unknown> = {}) =>
    unsafe(query, args as never, { ...options, prepare: (args?.length ?? 0) > 0 })) as typeof sql.unsafe
  const db = drizzle(Object.assign(sql, { unsafe: preparing }), { schema })
  return { db, sql, close: () => sql.end({ timeout: 5 }) }
}
