import { index, integer, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { users } from './users.js'

export const uploadScope = pgEnum('upload_scope', ['photo', 'avatar'])

/**
 * Profile images uploaded through `POST /api/uploads/images` (seeds/secure-chat-server-plugin-api.md,
 * "Profile Media Uploads"). `id` is the random file name; `url` is the public path handed to the
 * client (`/uploads/photos/<id>.png`); `path` is the file relative to `UPLOAD_DIR`
 * (`photos/<id>.png`) and is only ever built by the server. `contentType` is what the file's bytes
 * proved (`image/jpeg` or `image/png`), `sizeBytes` its exact length.
 */
export const uploads = pgTable('uploads', {
  id: uuid('id').primaryKey(),
  ownerId: uuid('owner_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  scope: uploadScope('scope').notNull(),
  url: text('url').notNull(),
  path: text('path').notNull(),
  contentType: text('content_type').notNull(),
  sizeBytes: integer('size_bytes').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
}, (t) => [
  uniqueIndex('uploads_url_key').on(t.url),
  index('uploads_owner_idx').on(t.ownerId)
])

export type Upload = typeof uploads.$inferSelect
export type NewUpload = typeof uploads.$inferInsert
