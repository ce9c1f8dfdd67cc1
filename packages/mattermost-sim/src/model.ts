/**
 * Wire shapes the simulator returns, field for field as Mattermost serialises them
 * (openapi/definitions.yaml `User`, `Team`, `Channel`, `Post`, `TeamMember`, `ChannelMember`,
 * `UserAccessToken*`, `Bot`). They are declared here rather than taken from `@mattermost/types`
 * because those webapp types require fields the server omits (e.g. `PostMetadata.embeds`).
 */

export interface UserTimezone { useAutomaticTimezone: boolean | string, automaticTimezone: string, manualTimezone: string }

/** A sanitised `User` (never carries `password`, like every server answer). */
export interface UserProfile {
  id: string
  create_at: number
  update_at: number
  delete_at: number
  username: string
  auth_data?: string
  auth_service: string
  email: string
  email_verified: boolean
  nickname: string
  first_name: string
  last_name: string
  position: string
  roles: string
  props: Record<string, string>
  notify_props: Record<string, string>
  last_password_update: number
  last_picture_update: number
  locale: string
  timezone: UserTimezone
  mfa_active: boolean
  is_bot: boolean
  bot_description?: string
  disable_welcome_email: boolean
}

export interface Team {
  id: string
  create_at: number
  update_at: number
  delete_at: number
  display_name: string
  name: string
  description: string
  email: string
  type: 'O' | 'I'
  company_name: string
  allowed_domains: string
  invite_id: string
  allow_open_invite: boolean
  scheme_id: string
  group_constrained: boolean
}

export type ChannelType = 'O' | 'P' | 'D' | 'G'

export interface Channel {
  id: string
  create_at: number
  update_at: number
  delete_at: number
  team_id: string
  type: ChannelType
  display_name: string
  name: string
  header: string
  purpose: string
  last_post_at: number
  total_msg_count: number
  extra_update_at: number
  creator_id: string
  scheme_id: string
  group_constrained: boolean
  shared: boolean
  total_msg_count_root: number
  last_root_post_at: number
}

export interface Post {
  id: string
  create_at: number
  update_at: number
  edit_at: number
  delete_at: number
  is_pinned: boolean
  user_id: string
  channel_id: string
  root_id: string
  original_id: string
  message: string
  type: string
  props: Record<string, unknown>
  hashtags: string
  pending_post_id: string
  reply_count: number
  last_reply_at: number
  file_ids?: string[]
  metadata: Record<string, unknown>
}

/** `PostList` (GET /channels/{id}/posts): `order` newest first, `posts` keyed by id. */
export interface PostList {
  order: string[]
  posts: Record<string, Post>
  next_post_id: string
  prev_post_id: string
  has_next: boolean
  first_inaccessible_post_time: number
}

export interface TeamMember {
  team_id: string
  user_id: string
  roles: string
  delete_at: number
  scheme_guest: boolean
  scheme_user: boolean
  scheme_admin: boolean
  explicit_roles: string
  create_at: number
}

export interface ChannelMember {
  channel_id: string
  user_id: string
  roles: string
  last_viewed_at: number
  msg_count: number
  mention_count: number
  mention_count_root: number
  urgent_mention_count: number
  msg_count_root: number
  notify_props: Record<string, string>
  last_update_at: number
  scheme_guest: boolean
  scheme_user: boolean
  scheme_admin: boolean
  explicit_roles: string
}

/** `UserAccessToken` as answered once by POST /users/{id}/tokens (with the secret). */
export interface UserAccessToken { id: string, token: string, user_id: string, description: string, is_active: boolean }
/** `UserAccessTokenSanitized`: every other token answer (no secret). */
export interface UserAccessTokenSanitized { id: string, user_id: string, description: string, is_active: boolean }

export interface Bot {
  user_id: string
  username: string
  display_name: string
  description: string
  owner_id: string
  create_at: number
  update_at: number
  delete_at: number
}
