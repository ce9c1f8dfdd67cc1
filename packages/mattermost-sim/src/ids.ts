import { randomBytes } from 'node:crypto'

/** Mattermost's id alphabet (z-base-32 order), PROTOCOL §3 "IDs". */
const ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769'
const ID_RE = /^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$/

/** A new random 26-character Mattermost id (`model.NewId()`), 5 random bits per character. */
export function newId (): string {
  const bytes = randomBytes(17)
  let out = ''
  let acc = 0
  let bits = 0
  for (let i = 0; i < bytes.length && out.length < 26; i++) {
    acc = (acc << 8) | bytes[i]
    bits += 8
    while (bits >= 5 && out.length < 26) {
      bits -= 5
      out += ALPHABET[(acc >> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  return out
}

/** Whether `s` has the shape of a Mattermost id (26 chars from the id alphabet). */
export function isValidId (s: unknown): s is string {
  return typeof s === 'string' && ID_RE.test(s)
}
