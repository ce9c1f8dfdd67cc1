import { mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { fileTypeFromBuffer } from 'file-type'
import { uploadExists } from '@parley/db'
import { build } from '../helper.js'
import { multipart, tinyApng, tinyJpeg, tinyPng } from '../fixtures/images.js'

const MAX = 2 * 1024 * 1024

t.test('profile media uploads', async (t) => {
  const uploadDir = await mkdtemp(join(tmpdir(), 'parley-uploads-'))
  // A partial upload left by a crashed process an hour ago, and one in flight right now.
  await mkdir(join(uploadDir, '.tmp'))
  const stale = join(uploadDir, '.tmp', `${randomUUID()}.part`)
  const fresh = join(uploadDir, '.tmp', `${randomUUID()}.part`)
  await writeFile(stale, 'x')
  await writeFile(fresh, 'y')
  await utimes(stale, new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000))
  const { app, db, createUser, tokenFor } = await build(t, { UPLOAD_DIR: uploadDir })
  const user = await createUser()
  const auth = { authorization: `Bearer ${tokenFor(user)}` }
  const upload = (scope: string, body: ReturnType<typeof multipart>, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: `/api/uploads/images?scope=${scope}`, headers: { ...headers, ...body.headers }, payload: body.payload })
  const image = (data: Buffer | string, filename = 'me.png', contentType = 'image/png') => multipart([{ name: 'image', filename, contentType, data }])
  const tmpFiles = () => readdir(join(uploadDir, '.tmp'))

  t.test('a JPEG round trip: stored under a random name, served with its type, nosniff and a long cache', async (t) => {
    const jpeg = tinyJpeg()
    t.equal((await fileTypeFromBuffer(jpeg))?.mime, 'image/jpeg', 'the fixture is a JPEG by its bytes')
    const res = await upload('photo', image(jpeg, 'holiday.jpeg', 'image/jpeg'))
    t.equal(res.statusCode, 201, res.body)
    const { url } = res.json()
    t.match(url, /^\/uploads\/photos\/[0-9a-f-]{36}\.jpg$/)
    t.notMatch(url, /holiday/, 'the client file name is not used')
    t.same(await readdir(join(uploadDir, 'photos')).then(names => names.includes(url.split('/').pop())), true, 'the file is in <UPLOAD_DIR>/photos')
    const got = await app.inject({ method: 'GET', url })
    t.equal(got.statusCode, 200)
    t.equal(got.headers['content-type'], 'image/jpeg')
    t.equal(got.headers['x-content-type-options'], 'nosniff')
    t.match(got.headers['cache-control'], /max-age=31536000/)
    t.match(got.headers['cache-control'], /immutable/)
    t.ok(got.rawPayload.equals(jpeg), 'the bytes come back unchanged')
    t.equal(await uploadExists(db, url), true)
    t.equal(await uploadExists(db, url, 'avatar'), false, 'a photo is not an avatar')
  })

  t.test('a PNG round trip over a real socket with FormData, as an avatar', async (t) => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    const png = tinyPng([10, 200, 90])
    const form = new FormData()
    // Declared as JPEG and named .gif: only the bytes count.
    form.append('image', new Blob([png], { type: 'image/jpeg' }), 'face.gif')
    const res = await fetch(`${address}/api/uploads/images?scope=avatar`, { method: 'POST', headers: auth, body: form })
    t.equal(res.status, 201)
    const { url } = await res.json() as { url: string }
    t.match(url, /^\/uploads\/avatars\/[0-9a-f-]{36}\.png$/)
    const got = await fetch(`${address}${url}`)
    t.equal(got.status, 200)
    t.equal(got.headers.get('content-type'), 'image/png')
    t.equal(got.headers.get('x-content-type-options'), 'nosniff')
    t.ok(Buffer.from(await got.arrayBuffer()).equals(png))
    t.equal((await fetch(`${address}${url.replace('/avatars/', '/photos/')}`)).status, 404, 'an avatar is not served as a photo')
    const big = new FormData()
    big.append('image', new Blob([tinyPng(undefined, 12 * MAX)], { type: 'image/png' }), 'big.png')
    const tooBig = await fetch(`${address}/api/uploads/images?scope=avatar`, { method: 'POST', headers: auth, body: big })
    t.equal(tooBig.status, 413, 'a 24 MB body is cut off with 413 and the client reads the answer')
    t.equal((await tooBig.json() as { code: string }).code, 'PARLEY_PAYLOAD_TOO_LARGE')
  })

  t.test('an animated PNG is stored and served as a PNG', async (t) => {
    const apng = tinyApng()
    t.equal((await fileTypeFromBuffer(apng))?.mime, 'image/apng', 'the fixture is an APNG by its bytes')
    const res = await upload('avatar', image(apng))
    t.equal(res.statusCode, 201)
    t.match(res.json().url, /\.png$/)
    t.equal((await app.inject({ url: res.json().url })).headers['content-type'], 'image/png')
  })

  t.test('exactly 2 MB is accepted; one byte more is 413', async (t) => {
    const atLimit = await upload('photo', image(tinyPng(undefined, MAX)))
    t.equal(atLimit.statusCode, 201, atLimit.body)
    const over = await upload('photo', image(tinyPng(undefined, MAX + 1)))
    t.equal(over.statusCode, 413)
    t.match(over.json(), { statusCode: 413, code: 'PARLEY_PAYLOAD_TOO_LARGE', message: /image.*2097152 bytes/ })
    const wayOver = await upload('photo', image(tinyPng(undefined, 5 * MAX)))
    t.equal(wayOver.statusCode, 413)
  })

  t.test('anything but JPEG or PNG is 415, whatever its name or declared type', async (t) => {
    const cases: Array<[string, Buffer | string]> = [
      ['HTML named .png', '<!doctype html><html><body><script>alert(1)</script></body></html>'],
      ['SVG named .png', '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>'],
      ['GIF named .png', Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')],
      ['text', 'just some words, no image at all'],
      ['PNG signature cut short', Buffer.from([0x89, 0x50, 0x4e])]
    ]
    for (const [what, data] of cases) {
      const res = await upload('photo', image(data, 'pic.png', 'image/png'))
      t.equal(res.statusCode, 415, what)
      t.match(res.json(), { code: 'PARLEY_UNSUPPORTED_MEDIA_TYPE', message: /JPEG or PNG/ }, what)
    }
    const json = await app.inject({ method: 'POST', url: '/api/uploads/images?scope=photo', headers: auth, payload: { image: 'x' } })
    t.equal(json.statusCode, 415, 'a JSON body is not an upload')
  })

  t.test('400 for a bad or missing scope, a missing field and an empty file', async (t) => {
    const bad = await upload('banner', image(tinyPng()))
    t.equal(bad.statusCode, 400)
    t.match(bad.json().message, /scope/)
    const none = await app.inject({ method: 'POST', url: '/api/uploads/images', headers: { ...auth, ...image(tinyPng()).headers }, payload: image(tinyPng()).payload })
    t.equal(none.statusCode, 400)
    t.match(none.json().message, /scope is required/)
    const noFile = await upload('photo', multipart([{ name: 'note', data: 'hello' }]))
    t.equal(noFile.statusCode, 400)
    t.match(noFile.json().message, /image is required/)
    const wrongField = await upload('photo', multipart([{ name: 'photo', filename: 'a.png', contentType: 'image/png', data: tinyPng() }]))
    t.equal(wrongField.statusCode, 400)
    t.match(wrongField.json().message, /image is required.*"photo"/)
    const empty = await upload('photo', image(Buffer.alloc(0)))
    t.equal(empty.statusCode, 400)
    t.match(empty.json().message, /image is empty/)
  })

  t.test('uploading needs a signed-in user', async (t) => {
    const res = await upload('photo', image(tinyPng()), {})
    t.equal(res.statusCode, 401)
  })

  t.test('rejected uploads leave no files behind; stale partial files are swept at start', async (t) => {
    t.same(await tmpFiles(), [fresh.split('/').pop()], 'only the in-flight file of another process remains')
  })

  t.test('PUT /api/users/me/profile accepts only URLs of existing uploads of the matching scope', async (t) => {
    const photo = (await upload('photo', image(tinyPng()))).json().url as string
    const avatar = (await upload('avatar', image(tinyJpeg(), 'a.jpg', 'image/jpeg'))).json().url as string
    const put = (payload: object) => app.inject({ method: 'PUT', url: '/api/users/me/profile', headers: auth, payload })
    const ok = await put({ profilePhotoUrl: photo, avatarUrl: avatar })
    t.equal(ok.statusCode, 200, ok.body)
    t.match(ok.json(), { profilePhotoUrl: photo, avatarUrl: avatar })
    const refused: Array<[object, RegExp]> = [
      [{ profilePhotoUrl: `/uploads/photos/${randomUUID()}.png` }, /profilePhotoUrl must be a URL returned by POST \/api\/uploads\/images\?scope=photo/],
      [{ avatarUrl: photo }, /avatarUrl must be a URL returned/],
      [{ profilePhotoUrl: avatar }, /profilePhotoUrl must be a URL returned/],
      [{ avatarUrl: 'https://tracker.example/pixel.png' }, /avatarUrl/]
    ]
    for (const [payload, message] of refused) {
      const res = await put(payload)
      t.equal(res.statusCode, 400, JSON.stringify(payload))
      t.match(res.json().message, message)
    }
    t.match((await app.inject({ url: '/api/users/me/profile', headers: auth })).json(), { profilePhotoUrl: photo, avatarUrl: avatar }, 'refused updates changed nothing')
    const cleared = await put({ profilePhotoUrl: '', avatarUrl: null })
    t.equal(cleared.statusCode, 200)
    t.match(cleared.json(), { profilePhotoUrl: null, avatarUrl: null }, '"" and null clear')
  })

  t.test('no client path reaches the file system', async (t) => {
    // A file on disk with a valid name but no uploads row is not served.
    const stray = `${randomUUID()}.png`
    await writeFile(join(uploadDir, 'photos', stray), tinyPng())
    t.equal((await app.inject({ method: 'GET', url: `/uploads/photos/${stray}` })).statusCode, 404)
    for (const url of [
      '/uploads/photos/..%2F..%2Fetc%2Fpasswd',
      '/uploads/photos/..%2F.tmp%2Fx.part',
      '/uploads/photos/%2e%2e%2f%2e%2e%2fpackage.json',
      `/uploads/photos/${randomUUID()}.png`,
      `/uploads/photos/${randomUUID()}.svg`,
      '/uploads/other/x.png',
      '/uploads/../package.json'
    ]) {
      const res = await app.inject({ method: 'GET', url })
      t.equal(res.statusCode, 404, url)
      t.notMatch(res.headers['content-type'], /image/, url)
    }
  })
})
