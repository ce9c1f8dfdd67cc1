/**
 * AES-256-GCM encryption of secrets at rest (personal access tokens, manager tokens).
 *
 * Ciphertext format: `v1.<keyId>.<iv b64url>.<tag b64url>.<data b64url>`; the key id lets keys
 * rotate (`TOKEN_ENCRYPTION_KEYS`, newest first: new ciphertexts use the first key, old ones
 * decrypt with whichever key they name).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export interface TokenCipher {
  /** Id of the key new ciphertexts use. */
  currentKeyId: string
  encrypt: (plaintext: string) => string
  /** @throws Error when the key id is unknown or the ciphertext was tampered with (no plaintext in the message). */
  decrypt: (ciphertext: string) => string
  /** Key id a ciphertext was written with. */
  keyIdOf: (ciphertext: string) => string
}

/**
 * Parses `keyId:base64(32 bytes)[,keyId:base64…]`.
 * @throws Error naming the malformed entry by position and key id, never printing key material.
 */
export function parseEncryptionKeys (spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>()
  spec.split(',').map(s => s.trim()).filter(Boolean).forEach((entry, i) => {
    const sep = entry.indexOf(':')
    const id = sep > 0 ? entry.slice(0, sep) : ''
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`TOKEN_ENCRYPTION_KEYS entry ${i + 1} needs the form keyId:base64 (keyId of letters, digits, - or _)`)
    const key = Buffer.from(entry.slice(sep + 1), 'base64')
    if (key.length !== 32) throw new Error(`TOKEN_ENCRYPTION_KEYS key "${id}" must be 32 bytes of base64 (got ${key.length} bytes)`)
    if (keys.has(id)) throw new Error(`TOKEN_ENCRYPTION_KEYS key "${id}" appears twice`)
    keys.set(id, key)
  })
  if (keys.size === 0) throw new Error('TOKEN_ENCRYPTION_KEYS is empty')
  return keys
}

/** Builds a cipher from `TOKEN_ENCRYPTION_KEYS`. @throws Error as `parseEncryptionKeys`. */
export function createTokenCipher (spec: string): TokenCipher {
  const keys = parseEncryptionKeys(spec)
  const [currentKeyId, currentKey] = [...keys.entries()][0]
  const b64 = (b: Buffer) => b.toString('base64url')
  return {
    currentKeyId,
    encrypt (plaintext) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv)
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return ['v1', currentKeyId, b64(iv), b64(cipher.getAuthTag()), b64(data)].join('.')
    },
    decrypt (ciphertext) {
      const [version, keyId, iv, tag, data] = ciphertext.split('.')
      const key = keys.get(keyId)
      if (version !== 'v1' || !key || !iv || !tag || data === undefined) throw new Error(`cannot decrypt: unknown key id or format (key id "${keyId}")`)
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      try {
        return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
      } catch {
        throw new Error(`cannot decrypt: authentication failed (key id "${keyId}")`)
      }
    },
    keyIdOf: (ciphertext) => ciphertext.split('.')[1] ?? ''
  }
}
