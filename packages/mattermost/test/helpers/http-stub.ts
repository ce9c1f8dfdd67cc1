/**
 * A tiny HTTP server for pure client behaviour (retries, 429, timeouts, error mapping): each
 * request takes the next scripted reply; the last reply repeats. Integration tests use the simulator.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface SeenRequest { method: string, url: string, headers: IncomingMessage['headers'], body: string }
export type Reply = (res: ServerResponse, req: SeenRequest) => void

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => (res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}
export const appError = (status: number, id: string, message = id, extra: Record<string, unknown> = {}): Reply =>
  json(status, { id, message, detailed_error: '', request_id: 'req123', status_code: status, ...extra })
/** Mattermost's 429: plain text, reset and Retry-After in seconds from now (PROTOCOL §2). */
export const limited = (seconds: number): Reply => (res) => {
  res.writeHead(429, {
    'content-type': 'text/plain; charset=utf-8',
    'X-Ratelimit-Limit': '10', 'X-Ratelimit-Remaining': '0',
    'X-Ratelimit-Reset': String(seconds), 'Retry-After': String(seconds)
  }).end('limit exceeded\n')
}
/** Never answers (the client's timeout must fire). */
export const hang: Reply = () => {}

export async function startHttpStub (t: Test) {
  const requests: SeenRequest[] = []
  let replies: Reply[] = [json(200, {})]
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }
      requests.push(seen)
      const reply = replies.length > 1 ? replies.shift()! : replies[0]
      reply(res, seen)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    /** Scripts the next replies; the last one keeps answering. */
    reply (...next: Reply[]) {
      replies = next
      requests.length = 0
    }
  }
}

/** A URL where nothing listens (a port just released), for connection-refused cases. */
export async function closedPortUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}
