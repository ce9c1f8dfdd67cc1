/**
 * Profile image uploads (seeds/secure-chat-server-plugin-api.md, "Profile Media Uploads").
 */
import { eq } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { uploads, type NewUpload, type Upload } from '../schema/uploads.js'

export const insertUpload = async (db: Executor, row: NewUpload): Promise<Upload> =>
  (await db.insert(uploads).values(row).returning())[0]

/** The upload served at `url` (e.g. `/uploads/photos/<uuid>.png`), if any. */
export const findUploadByUrl = async (db: Executor, url: string): Promise<Upload | undefined> =>
  (await db.select().from(uploads).where(eq(uploads.url, url)).limit(1))[0]

/**
 * Whether `url` names an image stored through `POST /api/uploads/images`; `PUT /api/users/me/profile`
 * accepts `profilePhotoUrl`/`avatarUrl` only then. With `scope`, the upload must also be of that
 * scope (`photo` for `profilePhotoUrl`, `avatar` for `avatarUrl`).
 */
export async function uploadExists (db: Executor, url: string, scope?: Upload['scope']): Promise<boolean> {
  if (typeof url !== 'string' || url.length > 200) return false
  const found = await findUploadByUrl(db, url)
  return !!found && (scope === undefined || found.scope === scope)
}
