// Small awaiting helpers shared by the client's test files.
import { MattermostError, type MattermostSocket, type SocketEvents } from '../../src/index.js'

/** Resolves with the next `name` emission of `socket` matching `pred`; rejects after `ms`. */
export function next<K extends keyof SocketEvents> (socket: MattermostSocket, name: K,
  pred: (...args: SocketEvents[K]) => boolean = () => true, ms = 5_000): Promise<SocketEvents[K]> {
  const emitter = socket as unknown as NodeJS.EventEmitter
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, listener)
      reject(new Error(`timed out waiting for ${name}`))
    }, ms)
    function listener (...args: unknown[]) {
      if (!pred(...args as SocketEvents[K])) return
      clearTimeout(timer)
      emitter.off(name, listener)
      resolve(args as SocketEvents[K])
    }
    emitter.on(name, listener)
  })
}

/** The MattermostError `p` rejects with; throws if it resolves or rejects with anything else. */
export async function rejection (p: Promise<unknown>): Promise<MattermostError> {
  try {
    await p
  } catch (err) {
    if (err instanceof MattermostError) return err
    throw err
  }
  throw new Error('expected a rejection')
}
