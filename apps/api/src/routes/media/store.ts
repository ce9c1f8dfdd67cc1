/**
 * Disk side of profile image uploads (seeds/secure-chat-server-plugin-api.md, "Profile Media
 * Uploads"): an incoming file part is streamed to a temporary file inside `UPLOAD_DIR` while its
 * bytes are counted (never held whole in memory), judged JPEG or PNG by its leading bytes, then
 * renamed to `<UPLOAD_DIR>/photos|avatars/<uuid>.<ext>`. Every path is built here from a
 * server-generated UUID; nothing the client sends (file name, declared type) reaches the file system.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileTypeFromFile } from 'file-type'

/** The seed's "≤ 2 MB", in binary units (DESIGN.md, "Errors and bad input"). */
export const MAX_IMAGE_BYTES = 2 * 1024 * 1024

export const SCOPES = ['photo', 'avatar'] as const
export type UploadScope = typeof SCOPES[number]
/** Sub-directory of `UPLOAD_DIR` and URL segment per scope. */
export const SCOPE_DIR: Record<UploadScope, 'photos' | 'avatars'> = { photo: 'photos', avatar: 'avatars' }

/** Types accepted, by what `file-type` detects from the bytes, with the extension stored. */
const ACCEPTED: Record<string, { ext: 'jpg' | 'png', contentType: 'image/jpeg' | 'image/png' }> = {
  'image/jpeg': { ext: 'jpg', contentType: 'image/jpeg' },
  'image/png': { ext: 'png', contentType: 'image/png' },
  // An animated PNG is a PNG (an acTL chunk before the image data); PNG decoders show its first frame.
  'image/apng': { ext: 'png', contentType: 'image/png' }
}

/** The only file names ever served: a v4-style UUID and one of the stored extensions. */
export const STORED_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(?:jpg|png)$/

export type ReceiveResult =
  | { ok: true, id: string, ext: 'jpg' | 'png', contentType: 'image/jpeg' | 'image/png', sizeBytes: number, tmpPath: string }
  | { ok: false, reason: 'too-large' | 'empty' | 'unsupported-type' }

/** Creates `<dir>/photos`, `<dir>/avatars` and `<dir>/.tmp` if missing. @returns the absolute upload dir. */
export async function ensureUploadDirs (dir: string): Promise<string> {
  const root = resolve(dir)
  await Promise.all(['photos', 'avatars', '.tmp'].map(d => mkdir(join(root, d), { recursive: true })))
  return root
}

/**
 * Streams `file` (a multipart file stream whose parser truncates at `MAX_IMAGE_BYTES`) into a
 * temporary file under `<root>/.tmp` (the write stream counts the bytes), and judges its type
 * from its bytes.
 * On any outcome but success the temporary file is removed.
 * @param truncated tells, after the stream ended, whether the parser cut the file at its limit.
 * @throws the stream's error when the client aborts mid-file (temporary file removed first).
 */
export async function receiveImage (root: string, file: NodeJS.ReadableStream, truncated: () => boolean): Promise<ReceiveResult> {
  const id = randomUUID()
  const tmpPath = join(root, '.tmp', `${id}.part`)
  // Piped straight to the file (no extra stream stage, so no extra buffered chunks per upload);
  // the write stream counts the bytes.
  const out = createWriteStream(tmpPath, { flags: 'wx', mode: 0o640 })
  try {
    await pipeline(file, out)
  } catch (err) {
    await rm(tmpPath, { force: true })
    throw err
  }
  const sizeBytes = out.bytesWritten
  const fail = async (reason: 'too-large' | 'empty' | 'unsupported-type'): Promise<ReceiveResult> => {
    await rm(tmpPath, { force: true })
    return { ok: false, reason }
  }
  // The parser stops at the limit; the size check guards against a parser configured otherwise.
  if (truncated() || sizeBytes > MAX_IMAGE_BYTES) return fail('too-large')
  if (sizeBytes === 0) return fail('empty')
  const detected = await fileTypeFromFile(tmpPath)
  const accepted = detected && ACCEPTED[detected.mime]
  if (!accepted) return fail('unsupported-type')
  return { ok: true, id, ...accepted, sizeBytes, tmpPath }
}

/**
 * Removes temporary files older than `olderThanMs` (left by a process that died mid-upload).
 * Safe with replicas sharing the directory: a live upload takes seconds, not an hour.
 * @returns how many were removed.
 */
export async function sweepStaleParts (root: string, olderThanMs = 3_600_000): Promise<number> {
  const dir = join(root, '.tmp')
  let removed = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.part')) continue
    const path = join(dir, name)
    const info = await stat(path).catch(() => undefined)
    if (info && Date.now() - info.mtimeMs > olderThanMs) {
      await rm(path, { force: true })
      removed++
    }
  }
  return removed
}

/** Moves a received temporary file to its final place. @returns the path relative to `root`. */
export async function commitImage (root: string, r: { id: string, ext: string, tmpPath: string }, scope: UploadScope): Promise<string> {
  const relative = `${SCOPE_DIR[scope]}/${r.id}.${r.ext}`
  await rename(r.tmpPath, join(root, relative))
  return relative
}

export const discard = (path: string) => rm(path, { force: true })

