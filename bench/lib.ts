/**
 * Shared pieces of the benchmarks: child processes, RSS sampling, percentiles, the result line.
 * Every benchmark compares with a baseline measured in the same run (ratios), because absolute
 * figures on these shared machines move by ±20 %.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import path from 'node:path'
import postgres from 'postgres'

export const root = path.resolve(import.meta.dirname, '..')
export const DATABASE_BASE = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley'
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A database URL for `name` on the same server, recreated empty. */
export async function freshDatabase (name: string): Promise<string> {
  const admin = postgres(Object.assign(new URL(DATABASE_BASE), { pathname: '/postgres' }).toString(), { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
  return Object.assign(new URL(DATABASE_BASE), { pathname: `/${name}` }).toString()
}

export async function freePort (): Promise<number> {
  return new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)) }) })
}

/** Builds dist/*.mjs (the API and the worker as they run in production). */
export function buildDist (): void {
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error('npm run build failed')
}

export interface Child { child: ChildProcess, pid: number, stop: () => Promise<void> }

const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })

/**
 * Runs a TypeScript file in its own Node process (tsx loader). Resolves once a stdout line matches
 * `ready` (a string or a predicate); stdout lines go to `onLine`.
 */
export async function startProcess (script: string, env: Record<string, string>, ready: (line: string) => boolean, args: string[] = [], onLine?: (line: string) => void): Promise<Child & { firstLine: string }> {
  const nodeArgs = script.startsWith('npm:') ? nodeArgsOf(script.slice(4)) : script.endsWith('.mjs') ? [script] : ['--import', 'tsx', script]
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const firstLine = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    let done = false
    rl.on('line', (line) => {
      onLine?.(line)
      if (!done && ready(line)) { done = true; resolve(line) }
    })
    child.once('exit', (code) => { if (!done) reject(new Error(`${script} exited with ${code} before it was ready`)) })
  })
  return {
    child, pid: child.pid!, firstLine,
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise(r => child.once('exit', r))
    }
  }
}

/** Resident set size of a process, in MB (Linux /proc). */
export function rssMb (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : 0
  } catch { return 0 }
}

/** Samples a process's RSS every `ms`; `stop()` returns the peak in MB. */
export function sampleRss (pid: number, ms = 100) {
  let peak = rssMb(pid)
  const timer = setInterval(() => { peak = Math.max(peak, rssMb(pid)) }, ms)
  return { stop: () => { clearInterval(timer); return Math.round(peak * 10) / 10 } }
}

/** Percentile `p` (0–100) of `values` (ms), nearest rank. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** Prints the figures and, last, the one-line JSON result; exits 0 (a benchmark reports, it does not fail CI). */
export function report (bench: string, figures: Record<string, number | string>, targets: Record<string, string>, pass: boolean): void {
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(44)} ${v}`)
  console.log(JSON.stringify({ bench, figures, targets, pass }))
}

export async function until<T> (fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('benchmark condition not met in time')
    await new Promise(r => setTimeout(r, everyMs))
  }
}

/** Runs a TypeScript server file in its own process with output discarded; resolves once `readyUrl` answers 2xx. */
export async function startServer (script: string, env: Record<string, string>, readyUrl: string): Promise<Child> {
  const nodeArgs = script.startsWith('npm:') ? nodeArgsOf(script.slice(4)) : script.endsWith('.mjs') ? [script] : ['--import', 'tsx', script]
  const child = spawn(process.execPath, nodeArgs, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  let exited = false
  child.once('exit', () => { exited = true })
  await until(async () => {
    if (exited) throw new Error(`${script} exited before it was ready`)
    return (await fetch(readyUrl).then(r => r.ok, () => false)) || undefined
  }, 60_000)
  return {
    child, pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise(r => child.once('exit', r))
    }
  }
}

/** Node arguments of an npm script that runs `node … file` (e.g. `start:worker`), so benchmarks run a process exactly as production does. */
export function nodeArgsOf (script: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const words = pkg.scripts[script].split(' ')
  if (words[0] !== 'node') throw new Error(`${script} does not start with node`)
  return words.slice(1)
}

/** CPU time (ms, user + system) used so far by the processes named `comm` (e.g. 'postgres') or by `pid`. */
export function cpuMs (who: number | string): number {
  const ticks = 100 // USER_HZ on Linux
  const pids = typeof who === 'number' ? [who] : readdirSync('/proc').filter(d => /^\d+$/.test(d)).map(Number).filter(pid => {
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === who } catch { return false }
  })
  let total = 0
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
      total += (Number(fields[11]) + Number(fields[12])) * 1000 / ticks
    } catch { /* exited */ }
  }
  return total
}
