// `npm start`: builds once, then runs the API and the worker as two processes and stops both on
// Ctrl-C / SIGTERM (each one drains before it exits).
import { spawn, spawnSync } from 'node:child_process'

const built = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
if (built.status !== 0) process.exit(built.status ?? 1)
const children = ['dist/api.mjs', 'dist/worker.mjs'].map((file) =>
  spawn(process.execPath, ['--enable-source-maps', file], { stdio: 'inherit', env: process.env }))
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
