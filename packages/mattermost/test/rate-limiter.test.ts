import t from 'tap'
import { createRateLimiter } from '../src/index.js'

const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve))

t.test('perSec 0 never waits', async (t) => {
  const limiter = createRateLimiter(0)
  let done = false
  const all = Promise.all(Array.from({ length: 1000 }, () => limiter.acquire())).then(() => { done = true })
  await nextMacrotask()
  t.ok(done, 'every acquire resolved without a timer')
  await all
})

t.test('allows a burst, then paces at perSec in FIFO order', async (t) => {
  const limiter = createRateLimiter(50, 2) // one token per 20 ms after the first two
  const started = performance.now()
  const order: number[] = []
  const all = Promise.all(Array.from({ length: 5 }, (_, i) => limiter.acquire().then(() => { order.push(i) })))
  await nextMacrotask()
  t.same(order, [0, 1], 'the burst is immediate, the rest waits')
  await all
  t.same(order, [0, 1, 2, 3, 4])
  const took = performance.now() - started
  t.ok(took >= 55, `three paced tokens take about 60 ms (took ${Math.round(took)})`)
})
