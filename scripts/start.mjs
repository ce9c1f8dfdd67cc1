// `npm start`: runs the API and the worker as two processes and stops both on Ctrl-C / SIGTERM.
import { spawn } from 'node:child_process'

const children = ['start:api', 'start:worker'].map((script) =>
  spawn('npm', ['run', '--silent', script], { stdio: 'inherit', env: process.env }))
let exiting = false
const stop = (signal) => {
  if (exiting) return
  exiting = true
  for (const child of children) if (child.exitCode === null) child.kill(signal)
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
for (const child of children) {
  child.on('exit', (code) => {
    stop('SIGTERM')
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(code ?? 0)
  })
}
