// `npm start`: builds once, then runs the API and the worker as two processes and stops both on
// Ctrl-C / SIGTERM (each one drains before it exits).
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const built = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
if (built.status !== 0) process.exit(built.status ?? 1)
// The same node flags as `npm run start:api` / `npm run start:worker` (package.json is the one place).
const scripts = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts
const children = ['start:api', 'start:worker'].map((name) =>
  spawn(process.execPath, scripts[name].split(' ').slice(1), { stdio: 'inherit', env: process.env }))
let exiting = false
const stop = (signal) => {
  if (exiting) return
  exiting = true
  for (const child of children) if (child.exitCode === null) child.kill(signal)
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
let exitCode = 0
for (const child of children) {
  child.on('exit', (code) => {
    if (code) exitCode = code
    stop('SIGTERM')
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode)
  })
}
