// tap --before: create the test database and apply migrations once before the files run in parallel.
import { runMigrations } from '../packages/db/src/migrate.js'
import { TEST_DATABASE_URL } from './env.js'

await runMigrations(TEST_DATABASE_URL)
