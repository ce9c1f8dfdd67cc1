/**
 * The baseline of `bench/chat.ts`: a bare `ws` server that broadcasts each message it is POSTed
 * (`POST /send {content}`) to every connected socket, as the same `message:created` event shape
 * the Parley API sends — no auth, no database, no Redis. `GET /healthz` answers 200.
 */
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'
import { WebSocketServer } from 'ws'

const port = Number(process.env.PORT)
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') { res.end('ok'); return }
  if (req.method !== 'POST' || req.url !== '/send') { res.statusCode = 404; res.end(); return }
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const { content } = JSON.parse(Buffer.concat(chunks).toString())
    const conversationId = '00000000-0000-4000-8000-000000000000'
    const message = {
      id: randomUUID(), conversationId, senderId: conversationId,
      sender: { id: conversationId, username: 'sender', displayName: 'Sender', avatarUrl: null },
      content, format: 'text', clientId: null, createdAt: new Date().toISOString()
    }
    const payload = JSON.stringify({ type: 'message:created', conversationId, message })
    for (const client of wss.clients) client.send(payload)
    res.statusCode = 201
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(message))
  })
})
const wss = new WebSocketServer({ server, perMessageDeflate: false })
server.listen(port, '127.0.0.1')
