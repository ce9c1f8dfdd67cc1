/**
 * Drizzle statements built once per executor instead of on every call.
 *
 * A drizzle query builder renders its SQL text on each execution; on the chat hot paths (every
 * authenticated request, every WebSocket set-up) that rendering allocated more than the rows read
 * (measured in bench:chat: a third of the ~1.1 MB each WebSocket set-up allocated). A statement
 * from here is rendered once per executor and then only binds its `sql.placeholder` values
 * (postgres.js then prepares it server-side once per connection, see `createDb`).
 *
 * Transactions are executors of their own: their statements are built once per transaction and
 * dropped with it (a WeakMap), so the same query functions work inside and outside one.
 */
import type { Executor } from './client.js'

const built = new WeakMap<object, Map<string, unknown>>()

/**
 * @param db the pool or a transaction
 * @param name unique per statement (the drizzle prepared-statement name)
 * @param build renders the statement for `db`, e.g. `d => d.select()…prepare(name)`
 * @returns the statement built for `db`, built by this call the first time only
 */
export function preparedFor<T> (db: Executor, name: string, build: (db: Executor) => T): T {
  let statements = built.get(db)
  if (!statements) built.set(db, statements = new Map())
  let statement = statements.get(name) as T | undefined
  if (statement === undefined) statements.set(name, statement = build(db))
  return statement
}
