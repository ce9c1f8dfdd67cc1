/**
 * Profile media uploads (seeds/secure-chat-server-plugin-api.md, "Profile Media Uploads").
 *
 * - `POST /api/uploads/images?scope=photo|avatar` (signed-in users): multipart form data with one
 *   file field `image`, JPEG or PNG judged by its bytes, at most 2 × 1024 × 1024 bytes.
 *   201 `{ url }` with `/uploads/photos/<uuid>.<jpg|png>` or `/uploads/avatars/<uuid>.<jpg|png>`.
 *   400 bad or missing `scope`, no `image` field, empty file; 413 over the limit; 415 any other
 *   type (an HTML or SVG file named `.png` included) or a body that is not multipart.
 * - `GET /uploads/photos/:name`, `GET /uploads/avatars/:name` (no auth, so every client can show
 *   them): the stored bytes with the content type proved at upload, `X-Content-Type-Options:
 *   nosniff` and a year-long immutable cache (the name is random and never reused). A name that
 *   does not match the stored pattern, or is not in the `uploads` table, is a 404; the served path
 *   comes from the table row, never from the request.
 *
 * The upload is streamed to disk (store.ts); memory per upload stays at a few stream chunks.
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { Type } from 'typebox'
import multipart from '@fastify/multipart'
import createError from '@fastify/error'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { findUploadByUrl, insertUpload } from '@parley/db'
import { BadRequest, NotFound } from '../../errors.js'
import { currentUser } from '../../plugins/auth.js'
import { ErrorSchema, errorResponses } from '../../schemas/common.js'
import { MAX_IMAGE_BYTES, SCOPE_DIR, STORED_NAME, commitImage, discard, ensureUploadDirs, receiveImage, sweepStaleParts } from './store.js'

export { uploadExists } from '@parley/db'

export const PayloadTooLarge = createError('PARLEY_PAYLOAD_TOO_LARGE', '%s', 413)
export const UnsupportedMediaType = createError('PARLEY_UNSUPPORTED_MEDIA_TYPE', '%s', 415)

const FIELD = 'image'

const ScopeQuerySchema = Type.Object({
  scope: Type.Union([Type.Literal('photo'), Type.Literal('avatar')], { description: '`photo` stores under /uploads/photos, `avatar` under /uploads/avatars' })
}, { additionalProperties: false })

const UploadedSchema = Type.Object({
  url: Type.String({ description: 'Path to store as profilePhotoUrl/avatarUrl, e.g. /uploads/photos/<uuid>.png' })
})

/** `POST /api/uploads/images` (register with prefix `/api/uploads`). */
export const uploadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app
  const root = await ensureUploadDirs(config.UPLOAD_DIR)
  const swept = await sweepStaleParts(root)
  if (swept > 0) app.log.info({ swept }, 'removed stale partial uploads')
  // Encapsulated here: only this plugin's routes parse multipart bodies.
  await app.register(multipart, {
    throwFileSizeLimit: false, // store.ts reports the limit itself
    limits: { fileSize: MAX_IMAGE_BYTES, files: 1, fields: 5, fieldSize: 1024, parts: 6, headerPairs: 50 }
  })

  app.post('/images', {
    preHandler: app.requireUser,
    schema: {
      tags: ['uploads'],
      consumes: ['multipart/form-data'],
      querystring: ScopeQuerySchema,
      response: { 201: UploadedSchema, 413: ErrorSchema, 415: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const user = currentUser(request)
    const { scope } = request.query
    if (!request.isMultipart()) throw new UnsupportedMediaType(`Send multipart/form-data with one file field "${FIELD}"`)
    const part = await request.file()
    if (!part) throw new BadRequest(`body/${FIELD} is required: send the image as a file field named "${FIELD}"`)
    if (part.fieldname !== FIELD) {
      part.file.resume() // let the parser skip the unexpected file
      throw new BadRequest(`body/${FIELD} is required: got a file field named "${part.fieldname.slice(0, 64)}" instead`)
    }
    // Stop reading at the limit instead of draining a huge body; the connection closes after the 413.
    let overLimit = false
    part.file.once('limit', () => { overLimit = true; part.file.destroy() })
    let received
    try {
      received = await receiveImage(root, part.file, () => overLimit || part.file.truncated)
    } catch (err) {
      if (!overLimit) throw err
      received = { ok: false as const, reason: 'too-large' as const }
    }
    if (!received.ok) {
      if (received.reason === 'too-large') {
        reply.header('connection', 'close')
        throw new PayloadTooLarge(`body/${FIELD} is larger than ${MAX_IMAGE_BYTES} bytes (2 MB)`)
      }
      if (received.reason === 'empty') throw new BadRequest(`body/${FIELD} is empty`)
      throw new UnsupportedMediaType(`body/${FIELD} must be a JPEG or PNG image (judged by its contents, not its name or declared type)`)
    }
    const relative = await commitImage(root, received, scope)
    try {
      const row = await insertUpload(db, {
        id: received.id, ownerId: user.id, scope, url: `/uploads/${relative}`, path: relative,
        contentType: received.contentType, sizeBytes: received.sizeBytes
      })
      request.log.info({ uploadId: row.id, scope, sizeBytes: row.sizeBytes }, 'image uploaded')
      return reply.code(201).send({ url: row.url })
    } catch (err) {
      await discard(join(root, relative))
      throw err
    }
  })
}

/** Documents the binary body; streams bypass the JSON serializer. */
const ImageBytesSchema = Type.Unsafe<NodeJS.ReadableStream>({ type: 'string', format: 'binary', description: 'The JPEG or PNG bytes' })
const NameParamsSchema = Type.Object({ name: Type.String({ maxLength: 64 }) })

/** `GET /uploads/photos/:name`, `GET /uploads/avatars/:name` (register with prefix `/uploads`). */
export const uploadFileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app
  const root = await ensureUploadDirs(config.UPLOAD_DIR)

  for (const dir of Object.values(SCOPE_DIR)) {
    app.get(`/${dir}/:name`, {
      schema: {
        tags: ['uploads'],
        params: NameParamsSchema,
        produces: ['image/jpeg', 'image/png'],
        response: { 200: ImageBytesSchema, 404: ErrorSchema }
      }
    }, async (request, reply) => {
      const { name } = request.params
      const notFound = () => new NotFound(`No image ${dir}/${name.replace(/[^\w.-]/g, '?')}`)
      if (!STORED_NAME.test(name)) throw notFound()
      const upload = await findUploadByUrl(db, `/uploads/${dir}/${name}`)
      if (!upload) throw notFound()
      const stream = createReadStream(join(root, upload.path))
      try {
        await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound()
        throw err
      }
      return reply
        .header('content-type', upload.contentType)
        .header('content-length', String(upload.sizeBytes))
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('content-disposition', 'inline')
        .send(stream)
    })
  }
}
