/**
 * Posts: create with `pending_post_id` de-duplication (PROTOCOL §7.3), the `posted` event (§7.5),
 * out-of-channel mention notices (§7.4) and channel post lists.
 */
import { SimError } from '../app-error.js'
import { newId } from '../ids.js'
import type { Channel, Post, PostList } from '../model.js'
import { POST_MESSAGE_MAX_RUNES, runeLength } from '../rules.js'
import { broadcast, type State, type UserRecord } from '../state.js'
import { shareTeam } from './channels.js'

export interface NewPost {
  channel_id: string
  message: string
  root_id?: string
  file_ids?: string[]
  props?: Record<string, unknown>
  type?: string
  pending_post_id?: string
  create_at?: number
  metadata?: Record<string, unknown>
}

const PENDING_CACHE_SIZE = 25_000 // PendingPostIDsCacheSize
const MENTION_RE = /@([a-z0-9.\-_]+)/gi

/** Checks done by `CreatePostAsUser` before the post is stored (§1.2 table, §7.1). */
export function checkNewPost (s: State, author: UserRecord, channel: Channel, input: NewPost): void {
  if (channel.delete_at !== 0) throw new SimError(400, 'api.post.create_post.can_not_post_to_deleted.error')
  if (channel.type === 'D' && s.config.RestrictDirectMessage === 'team' && !author.profile.is_bot) {
    const other = dmPartner(channel, author.profile.id)
    const otherUser = s.users.get(other)
    if (otherUser !== undefined && !otherUser.profile.is_bot && !shareTeam(s, author.profile.id, other)) {
      throw new SimError(400, 'api.post.create_post.can_not_post_in_restricted_dm.error')
    }
  }
  if (typeof input.type === 'string' && input.type.startsWith('system_')) {
    throw new SimError(400, 'api.context.invalid_param.app_error', undefined, 'post.type')
  }
  if (typeof input.message !== 'string') throw new SimError(400, 'api.context.invalid_body_param.app_error', undefined, 'post.message')
  if (input.message.length > POST_MESSAGE_MAX_RUNES && runeLength(input.message) > POST_MESSAGE_MAX_RUNES) {
    throw new SimError(400, 'model.post.is_valid.msg.app_error')
  }
  if (input.root_id !== undefined && input.root_id !== '') {
    const root = s.posts.get(input.root_id)
    if (root === undefined) throw new SimError(400, 'api.post.create_post.root_id.app_error')
    if (root.channel_id !== channel.id) throw new SimError(400, 'api.post.create_post.channel_root_id.app_error')
  }
}

function dmPartner (channel: Channel, userId: string): string {
  const [a, b] = channel.name.split('__')
  return a === userId ? b : a
}

/**
 * Stores a post and announces it: `posted` to the channel's members with `post` as a JSON string,
 * per-recipient `mentions`, and an `ephemeral_message` to the author for mentioned users who are not
 * in a non-DM channel. Bot authors get `props.from_bot = "true"`.
 */
export function insertPost (s: State, author: UserRecord, channel: Channel, input: NewPost, opts: { setOnline?: boolean, allowCreateAt?: boolean } = {}): Post {
  const now = s.now()
  const createAt = opts.allowCreateAt === true && typeof input.create_at === 'number' && input.create_at > 0 ? input.create_at : now
  const props: Record<string, unknown> = { ...(input.props ?? {}) }
  if (author.profile.is_bot) props.from_bot = 'true'
  const post: Post = {
    id: newId(),
    create_at: createAt,
    update_at: now,
    edit_at: 0,
    delete_at: 0,
    is_pinned: false,
    user_id: author.profile.id,
    channel_id: channel.id,
    root_id: input.root_id ?? '',
    original_id: '',
    message: input.message,
    type: input.type ?? '',
    props,
    hashtags: '',
    pending_post_id: input.pending_post_id ?? '',
    reply_count: 0,
    last_reply_at: 0,
    metadata: {}
  }
  if (Array.isArray(input.file_ids) && input.file_ids.length > 0) post.file_ids = input.file_ids.slice(0, 5)
  s.posts.set(post.id, post)
  s.channelPosts.get(channel.id)!.push(post)
  s.channelModLog.get(channel.id)!.push({ at: now, id: post.id })
  channel.last_post_at = createAt
  channel.total_msg_count++
  if (post.root_id === '') {
    channel.total_msg_count_root++
    channel.last_root_post_at = createAt
  } else {
    const root = s.posts.get(post.root_id)
    if (root !== undefined) { root.reply_count++; root.last_reply_at = createAt }
  }
  announcePost(s, author, channel, post, opts.setOnline ?? true)
  return post
}

function announcePost (s: State, author: UserRecord, channel: Channel, post: Post, setOnline: boolean): void {
  const members = s.channelMembers.get(channel.id)!
  const mentioned = new Set<string>()
  const outOfChannel: Array<{ id: string, username: string }> = []
  if (channel.type === 'D') {
    const other = dmPartner(channel, author.profile.id)
    if (other !== author.profile.id) mentioned.add(other)
  } else if (post.message.includes('@')) {
    for (const m of post.message.matchAll(MENTION_RE)) {
      const name = m[1].toLowerCase().replace(/[.\-_]+$/, '')
      const id = s.userByName.get(name)
      if (id === undefined || id === author.profile.id) continue
      if (members.has(id)) mentioned.add(id)
      else if (s.users.get(id)!.profile.delete_at === 0 && !outOfChannel.some(u => u.id === id)) outOfChannel.push({ id, username: name })
    }
  }
  const postJson = JSON.stringify(post)
  s.publish({
    event: 'posted',
    data: {
      channel_display_name: channel.type === 'D' ? `@${author.profile.username}` : channel.display_name,
      channel_name: channel.name,
      channel_type: channel.type,
      post: postJson,
      sender_name: `@${author.profile.username}`,
      set_online: setOnline,
      team_id: channel.team_id
    },
    broadcast: broadcast({ channel_id: channel.id }),
    dataFor: mentioned.size === 0 ? undefined : (userId) => mentioned.has(userId) ? { mentions: JSON.stringify([userId]) } : undefined
  })
  if (outOfChannel.length > 0) sendOutOfChannelNotice(s, author, channel, post, outOfChannel)
}

// `sendOutOfChannelMentions` (§7.4): an ephemeral system post, to the author only.
function sendOutOfChannelNotice (s: State, author: UserRecord, channel: Channel, post: Post, users: Array<{ id: string, username: string }>): void {
  const names = users.map(u => `@${u.username}`)
  const message = users.length === 1
    ? `${names[0]} did not get notified by this mention because they are not in the channel.`
    : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} did not get notified by this mention because they are not in the channel.`
  const now = s.now()
  const ephemeral = {
    id: newId(),
    create_at: now,
    update_at: now,
    edit_at: 0,
    delete_at: 0,
    is_pinned: false,
    user_id: author.profile.id,
    channel_id: channel.id,
    root_id: post.root_id,
    original_id: '',
    message,
    type: 'system_ephemeral',
    props: { add_channel_member: { post_id: post.id, usernames: users.map(u => u.username), user_ids: users.map(u => u.id) } },
    hashtags: '',
    pending_post_id: '',
    reply_count: 0,
    metadata: {}
  }
  s.publish({ event: 'ephemeral_message', data: { post: JSON.stringify(ephemeral) }, broadcast: broadcast({ user_id: author.profile.id, channel_id: channel.id }) })
}

function pendingLookup (s: State, key: string) {
  const entry = s.pendingPosts.get(key)
  if (entry !== undefined && entry.expires <= Date.now()) {
    s.pendingPosts.delete(key)
    return undefined
  }
  return entry
}

function pendingSet (s: State, key: string, value: { state: 'inflight' } | { state: 'done', postId: string }): void {
  const cache = s.pendingPosts
  cache.delete(key) // re-insert at the end: Map order is then expiry order (the TTL restarts on every set)
  cache.set(key, { ...value, expires: Date.now() + s.pendingPostTtlMs })
  const now = Date.now()
  for (const [k, v] of cache) {
    if (v.expires > now && cache.size <= PENDING_CACHE_SIZE) break
    cache.delete(k)
  }
}

/**
 * `POST /posts` after the permission check: runs `checkNewPost`, then `deduplicateCreatePost`
 * (§7.3) keyed by the raw `pending_post_id` (global, TTL `pendingPostTtlMs`):
 * in flight → 500 `api.post.deduplicate_create_post.pending`; done → the original post
 * (`created: false`, no second `posted`) unless `canRead` refuses it, in which case the id is ignored;
 * a failed create forgets the id. While `postGate` is set the create waits (faults.holdPosts).
 */
export async function createPost (s: State, author: UserRecord, channel: Channel, input: NewPost, opts: { setOnline: boolean, allowCreateAt: boolean, canRead: (post: Post) => boolean }): Promise<{ post: Post, created: boolean }> {
  checkNewPost(s, author, channel, input)
  const key = typeof input.pending_post_id === 'string' ? input.pending_post_id : ''
  let dedupe = key !== ''
  if (dedupe) {
    const entry = pendingLookup(s, key)
    if (entry?.state === 'inflight') throw new SimError(500, 'api.post.deduplicate_create_post.pending')
    if (entry?.state === 'done') {
      const original = s.posts.get(entry.postId)
      if (original !== undefined && original.delete_at === 0) {
        if (opts.canRead(original)) return { post: original, created: false }
        dedupe = false
      }
    }
  }
  if (dedupe) pendingSet(s, key, { state: 'inflight' })
  try {
    while (s.postGate !== null) {
      s.heldPosts++
      try { await s.postGate.promise } finally { s.heldPosts-- }
    }
    checkNewPost(s, author, channel, input) // the channel may have changed while held
    const post = insertPost(s, author, channel, input, opts)
    if (dedupe) pendingSet(s, key, { state: 'done', postId: post.id })
    return { post, created: true }
  } catch (err) {
    if (dedupe) s.pendingPosts.delete(key)
    throw err
  }
}

export function getPostOr404 (s: State, id: string): Post {
  const post = s.posts.get(id)
  if (post === undefined || post.delete_at !== 0) throw new SimError(404, 'app.post.get.app_error')
  return post
}

/** `PUT /posts/{id}/patch`: message, props, is_pinned, file_ids; sets `edit_at`, sends `post_edited`. */
export function patchPost (s: State, post: Post, patch: Record<string, unknown>): Post {
  const now = s.now()
  if (typeof patch.message === 'string') {
    if (runeLength(patch.message) > POST_MESSAGE_MAX_RUNES) throw new SimError(400, 'model.post.is_valid.msg.app_error')
    post.message = patch.message
    post.edit_at = now
  }
  if (patch.props !== null && typeof patch.props === 'object') post.props = { ...(patch.props as Record<string, unknown>) }
  if (typeof patch.is_pinned === 'boolean') post.is_pinned = patch.is_pinned
  if (Array.isArray(patch.file_ids)) post.file_ids = patch.file_ids.map(String)
  post.update_at = now
  s.channelModLog.get(post.channel_id)?.push({ at: now, id: post.id })
  const channel = s.channels.get(post.channel_id)
  s.publish({ event: 'post_edited', data: { post: JSON.stringify(post) }, broadcast: broadcast({ channel_id: post.channel_id, team_id: channel?.team_id ?? '' }) })
  return post
}

function postList (posts: Post[], extra: Partial<PostList> = {}): PostList {
  const list: PostList = { order: [], posts: {}, next_post_id: '', prev_post_id: '', has_next: false, first_inaccessible_post_time: 0, ...extra }
  for (const p of posts) {
    list.order.push(p.id)
    list.posts[p.id] = p
  }
  return list
}

/**
 * `GET /channels/{id}/posts?page&per_page[&before|&after]`: newest first. `prev_post_id` is the next
 * older post outside the page, `next_post_id` the next newer one.
 */
export function getPostsPage (s: State, channelId: string, q: { page: number, perPage: number, before?: string, after?: string }): PostList {
  const all = s.channelPosts.get(channelId) ?? []
  // Work on indices into the oldest-first array; `end` is exclusive.
  let end = all.length
  let start = 0
  if (q.before !== undefined && q.before !== '') {
    const i = all.findIndex(p => p.id === q.before)
    end = i < 0 ? 0 : i
  } else if (q.after !== undefined && q.after !== '') {
    const i = all.findIndex(p => p.id === q.after)
    start = i < 0 ? all.length : i + 1
  }
  let pageEnd: number
  let pageStart: number
  if (q.after !== undefined && q.after !== '' && (q.before === undefined || q.before === '')) {
    pageStart = Math.min(all.length, start + q.page * q.perPage)
    pageEnd = Math.min(all.length, pageStart + q.perPage)
  } else {
    pageEnd = Math.max(start, end - q.page * q.perPage)
    pageStart = Math.max(start, pageEnd - q.perPage)
  }
  const page = all.slice(pageStart, pageEnd).filter(p => p.delete_at === 0).reverse()
  return postList(page, {
    prev_post_id: pageStart > 0 ? all[pageStart - 1].id : '',
    next_post_id: pageEnd < all.length ? all[pageEnd].id : '',
    has_next: pageStart > start
  })
}

/** `GET /channels/{id}/posts?since=ms`: posts created or edited after `since`, at most 1000, newest first by create time. */
export function getPostsSince (s: State, channelId: string, since: number): PostList {
  const log = s.channelModLog.get(channelId) ?? []
  let lo = 0
  let hi = log.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (log[mid].at > since) hi = mid
    else lo = mid + 1
  }
  const seen = new Set<string>()
  const posts: Post[] = []
  for (let i = lo; i < log.length; i++) {
    const id = log[i].id
    if (seen.has(id)) continue
    seen.add(id)
    const p = s.posts.get(id)
    if (p !== undefined && p.update_at > since) posts.push(p)
  }
  posts.sort((a, b) => b.create_at - a.create_at)
  return postList(posts.slice(0, 1000))
}
