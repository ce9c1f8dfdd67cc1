import t from 'tap'
import { createRateLimiter } from '../src/index.js'

t.test('perSec 0 never waits', async (t) => {
  const limiter = createRateLimiter(0)
  const started = performance.now()
  await Promise.all(Array.from({ length: 1000 }, () => limiter.acquire()))
  t.ok(performance.now() - started < 50)
})

t.test('allows a burst, then paces at perSec in FIFO order', async (t) => {
  const limiter = createRateLimiter(50, 2) // one token per 20 ms after the first two
  const started = performance.now()
  const order: number[] = []
  const times: number[] = []
  await Promise.all(Array.from({ length: 5 }, (_, i) => limiter.acquire().then(() => {
    order.push(i)
    times.push(performance.now() - started)
  })))
  t.same(order, [0, 1, 2, 3, 4])
  t.ok(times[1] < 10, 'the burst is immediate')
  t.ok(times[4] >= 55, `three paced tokens take about 60 ms (took ${Math.round(times[4])})`)
})
