// `npm run db:migrate`: creates the database if needed and applies the migrations in drizzle/.
import { runMigrations } from './migrate.js'

const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/parley'
runMigrations(url).then(() => console.log('migrations applied'), (err) => {
  console.error(`migration failed: ${err.message}`)
  process.exit(1)
})
