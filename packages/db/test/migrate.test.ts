import t from 'tap'
import postgres from 'postgres'
import { runMigrations } from '../src/migrate.js'
import { createTokenCipher } from '../src/token-cipher.js'
import { privateTestDatabase } from '../../../test/env.js'

t.test('processes starting at once create the database and migrate it exactly once', async (t) => {
  const url = privateTestDatabase(t, 'migrate')
  await Promise.all([runMigrations(url), runMigrations(url), runMigrations(url)])
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  const [{ count }] = await sql`select count(*)::int from drizzle.__drizzle_migrations`
  const tables = await sql`select table_name from information_schema.tables where table_schema = 'public'`
  await sql.end()
  t.ok(count >= 1, `${count} migrations recorded once each`)
  t.ok(tables.some(r => r.table_name === 'notifications'), 'the schema is there')
  await runMigrations(url) // and again: nothing to do
})

t.test('token cipher: round trip, key rotation, tampering, bad keys', async (t) => {
  const k = (n: number) => Buffer.alloc(32, n).toString('base64')
  const old = createTokenCipher(`k1:${k(1)}`)
  const rotated = createTokenCipher(`k2:${k(2)},k1:${k(1)}`)
  const secret = 'gxpwutnk3bdjpd8y8s69k4cfny'
  const c1 = old.encrypt(secret)
  t.notMatch(c1, secret, 'the ciphertext does not contain the plaintext')
  t.not(old.encrypt(secret), c1, 'a fresh IV every time')
  t.equal(rotated.decrypt(c1), secret, 'old ciphertexts decrypt after rotation')
  t.equal(rotated.keyIdOf(rotated.encrypt(secret)), 'k2', 'new ones use the newest key')
  const parts = c1.split('.')
  parts[4] = Buffer.from('tampered').toString('base64url')
  t.throws(() => rotated.decrypt(parts.join('.')), { message: /authentication failed/ })
  t.throws(() => createTokenCipher(`k2:${k(2)}`).decrypt(c1), { message: /unknown key id/ })
  t.throws(() => createTokenCipher('k1:dG9vc2hvcnQ='), { message: /must be 32 bytes/ })
  t.throws(() => createTokenCipher('nocolon'), { message: /keyId:base64/ })
  t.throws(() => createTokenCipher(`k1:${k(1)},k1:${k(2)}`), { message: /appears twice/ })
})
