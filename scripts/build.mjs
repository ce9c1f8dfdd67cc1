// `npm run build`: bundles the API, the worker and the CLI into dist/*.mjs with esbuild.
// Workspace packages (@parley/*) are compiled in; npm dependencies stay external. Running the
// bundles with plain `node` avoids a TypeScript loader in production (under Node 20 a loader runs
// in a second isolate and costs ~80 MB per process).
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]

await build({
  entryPoints: { api: 'apps/api/src/server.ts', worker: 'apps/worker/src/main.ts', cli: 'apps/worker/src/cli.ts', migrate: 'packages/db/src/migrate-cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external,
  logLevel: 'warning'
})
console.log('built dist/api.mjs, dist/worker.mjs, dist/cli.mjs, dist/migrate.mjs')
