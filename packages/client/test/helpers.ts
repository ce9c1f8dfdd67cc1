/**
 * Helpers for the client's tests: a producer running as a separate process.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { ParleyClientOptions } from '../src/index.js'

const producerScript = fileURLToPath(new URL('./fixtures/producer.ts', import.meta.url))

export type Fn = 'sendNotification' | 'sendBorrowApprovalNotification' | 'sendReturnConfirmationNotification' | 'sendRenewalApprovalNotification'
export type Outcome = { ok: { notificationId: string, status: 'queued' | 'duplicate', idempotencyKey: string }, error?: undefined }
  | { ok?: undefined, error: { name: string, message: string, field?: string, statusCode?: number, attempts?: number } }

export interface Producer {
  /** Sends one notification from the producer process. */
  send (fn: Fn, input: unknown): Promise<Outcome>
  /** Ends the process (it closes its client first); resolves with its exit code. */
  close (): Promise<number | null>
}

/**
 * Starts `node --import tsx fixtures/producer.ts` with a client for `options`; resolves once the
 * client exists. The process is ended at teardown.
 */
export function startProducer (t: Test, options: ParleyClientOptions): Promise<Producer> {
  const child = spawn(process.execPath, ['--import', 'tsx', producerScript], {
    env: { ...process.env, PARLEY_CLIENT: JSON.stringify(options) },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  const pending = new Map<number, (o: Outcome) => void>()
  let nextId = 0
  let closing: Promise<number | null> | undefined
  const close = () => { closing ??= (child.stdin.end(), exited); return closing }
  t.teardown(close)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    exited.then((code) => reject(new Error(`producer exited with ${code} before it was ready: ${stderr}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: true, id?: number } & Outcome
      if (msg.ready) {
        resolve({
          send (fn, input) {
            const id = nextId++
            return new Promise<Outcome>((resolveSend, rejectSend) => {
              pending.set(id, resolveSend)
              exited.then((code) => rejectSend(new Error(`producer exited with ${code}: ${stderr}`)))
              child.stdin.write(JSON.stringify({ id, fn, input }) + '\n')
            })
          },
          close
        })
        return
      }
      const done = pending.get(msg.id!)
      pending.delete(msg.id!)
      const { id: _id, ...outcome } = msg
      done?.(outcome as Outcome)
    })
  })
}

/** The seed's BORROW input (without `action`) with a fresh requestId and userId. */
export const borrowInput = (username: string, over: Record<string, unknown> = {}) => ({
  userId: Math.floor(Math.random() * 1e12),
  mattermostUsername: username,
  device: { id: 1, name: 'MacBook Pro 16"', assetTag: 'DEV-001', category: 'laptop', brand: 'Apple', model: 'MacBook Pro 16" M3' },
  requestId: Math.floor(Math.random() * 1e12),
  startDate: '2026-01-10',
  endDate: '2026-02-10',
  ...over
})
