/**
 * Password hashing: argon2id with the OWASP Password Storage Cheat Sheet's parameters
 * (m = 19 MiB, t = 2, p = 1).
 *
 * Each hash or verification holds `memoryCost` KiB of native memory for its ~20 ms on a libuv
 * thread, and four can run at once (the threadpool), so the memory cost bounds what a burst of
 * logins adds to the API's RSS: 4 × 19 MiB here, where argon2's own default (64 MiB) would add
 * 256 MiB. Hashes made with other parameters still verify (they are encoded in the hash) and are
 * re-hashed on the next successful login ({@link passwordNeedsRehash}).
 */
import argon2 from 'argon2'

export const PASSWORD_HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/** @returns the PHC-encoded argon2id hash of `password` (`$argon2id$v=19$m=19456,t=2,p=1$…`). */
export function hashPassword (password: string): Promise<string> {
  return argon2.hash(password, PASSWORD_HASH_OPTIONS)
}

/** @returns whether `password` matches `hash`; false (never a throw) for a malformed hash. */
export function verifyPassword (hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password).catch(() => false)
}

/** @returns whether `hash` was made with parameters other than {@link PASSWORD_HASH_OPTIONS}. */
export function passwordNeedsRehash (hash: string): boolean {
  try {
    return argon2.needsRehash(hash, PASSWORD_HASH_OPTIONS)
  } catch {
    return false
  }
}
