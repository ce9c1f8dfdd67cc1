/**
 * Channels, direct messages and channel membership (PROTOCOL §1.2, §3 channel names, §4 DMs).
 */
import { SimError } from '../app-error.js'
import { newId } from '../ids.js'
import type { Channel, ChannelMember } from '../model.js'
import { checkChannel } from '../rules.js'
import { addToIndex, broadcast, type State } from '../state.js'

/**
 * Creates an open or private channel (`POST /channels`). Name rules §3; a name taken in the team
 * → 400 `store.sql_channel.save_channel.exists.app_error`. With `creatorId` the creator joins as
 * channel admin.
 */
export function createChannel (s: State, input: { team_id: string, name: string, display_name: string, type?: string, header?: string, purpose?: string }, creatorId?: string): Channel {
  const type = input.type ?? 'O'
  const c = { name: input.name ?? '', display_name: input.display_name ?? '', type, header: input.header, purpose: input.purpose }
  checkChannel(c)
  const team = s.teams.get(input.team_id)
  if (team === undefined) throw new SimError(400, 'model.channel.is_valid.team_id.app_error')
  const key = `${team.id}/${c.name}`
  if (s.channelByName.has(key)) throw new SimError(400, 'store.sql_channel.save_channel.exists.app_error')
  const channel = newChannel(s, { team_id: team.id, type: type as 'O' | 'P', name: c.name, display_name: c.display_name, header: c.header ?? '', purpose: c.purpose ?? '', creator_id: creatorId ?? '' })
  s.channelByName.set(key, channel.id)
  addToIndex(s.teamChannels, team.id, channel.id)
  if (creatorId !== undefined) addChannelMember(s, channel.id, creatorId, { admin: true })
  return channel
}

function newChannel (s: State, f: Pick<Channel, 'team_id' | 'type' | 'name' | 'display_name' | 'header' | 'purpose' | 'creator_id'>): Channel {
  const now = s.now()
  const channel: Channel = {
    id: newId(),
    create_at: now,
    update_at: now,
    delete_at: 0,
    ...f,
    last_post_at: now,
    total_msg_count: 0,
    extra_update_at: 0,
    scheme_id: '',
    group_constrained: false,
    shared: false,
    total_msg_count_root: 0,
    last_root_post_at: now
  }
  s.channels.set(channel.id, channel)
  s.channelMembers.set(channel.id, new Map())
  s.channelPosts.set(channel.id, [])
  s.channelModLog.set(channel.id, [])
  return channel
}

export function getChannelOr404 (s: State, id: string): Channel {
  const channel = s.channels.get(id)
  if (channel === undefined) throw new SimError(404, 'app.channel.get.existing.app_error')
  return channel
}

export function isChannelMember (s: State, channelId: string, userId: string): boolean {
  return s.channelMembers.get(channelId)?.has(userId) === true
}

/** DM channel name: the two ids, smaller first, joined by `__` (`GetDMNameFromIds`, §4). */
export function directChannelName (a: string, b: string): string {
  return a < b ? `${a}__${b}` : `${b}__${a}`
}

export function findDirectChannel (s: State, a: string, b: string): Channel | undefined {
  const id = s.channelByName.get(`/${directChannelName(a, b)}`)
  return id === undefined ? undefined : s.channels.get(id)
}

/** Whether two users share a team (RestrictDirectMessage = 'team'). */
export function shareTeam (s: State, a: string, b: string): boolean {
  const ta = s.userTeams.get(a)
  const tb = s.userTeams.get(b)
  if (ta === undefined || tb === undefined) return false
  const [small, large] = ta.size <= tb.size ? [ta, tb] : [tb, ta]
  for (const t of small) if (large.has(t)) return true
  return false
}

/**
 * `GetOrCreateDirectChannel` (§4): returns the existing DM as is, or creates it with both users
 * as members and sends `direct_added` {creator_id, teammate_id} to the channel.
 * Unknown user → 404 `app.user.missing_account.const`.
 */
export function getOrCreateDirectChannel (s: State, creatorId: string, otherId: string): { channel: Channel, created: boolean } {
  for (const id of [creatorId, otherId]) {
    if (!s.users.has(id)) throw new SimError(404, 'app.user.missing_account.const')
  }
  const existing = findDirectChannel(s, creatorId, otherId)
  if (existing !== undefined) return { channel: existing, created: false }
  const name = directChannelName(creatorId, otherId)
  const channel = newChannel(s, { team_id: '', type: 'D', name, display_name: '', header: '', purpose: '', creator_id: creatorId })
  s.channelByName.set(`/${name}`, channel.id)
  addMemberRecord(s, channel.id, creatorId, false)
  if (otherId !== creatorId) addMemberRecord(s, channel.id, otherId, false)
  s.publish({ event: 'direct_added', data: { creator_id: creatorId, teammate_id: otherId }, broadcast: broadcast({ channel_id: channel.id }) })
  return { channel, created: true }
}

function addMemberRecord (s: State, channelId: string, userId: string, admin: boolean): ChannelMember {
  const now = s.now()
  const member: ChannelMember = {
    channel_id: channelId,
    user_id: userId,
    roles: admin ? 'channel_user channel_admin' : 'channel_user',
    last_viewed_at: 0,
    msg_count: 0,
    mention_count: 0,
    mention_count_root: 0,
    urgent_mention_count: 0,
    msg_count_root: 0,
    notify_props: { desktop: 'default', email: 'default', mark_unread: 'all', push: 'default', ignore_channel_mentions: 'default', channel_auto_follow_threads: 'off' },
    last_update_at: now,
    scheme_guest: false,
    scheme_user: true,
    scheme_admin: admin,
    explicit_roles: ''
  }
  s.channelMembers.get(channelId)!.set(userId, member)
  addToIndex(s.userChannels, userId, channelId)
  return member
}

/**
 * `addUserToChannel` (§1.2): already a member → the existing member; only O/P channels → else
 * 400 `api.channel.add_user_to_channel.type.app_error`; the user must be on the channel's team →
 * else 404 `app.team.get_member.missing.app_error`. Sends `user_added` to the channel.
 */
export function addChannelMember (s: State, channelId: string, userId: string, opts: { admin?: boolean } = {}): { member: ChannelMember, existed: boolean } {
  const channel = getChannelOr404(s, channelId)
  if (!s.users.has(userId)) throw new SimError(404, 'app.user.missing_account.const')
  const existing = s.channelMembers.get(channel.id)!.get(userId)
  if (existing !== undefined) return { member: existing, existed: true }
  if (channel.type !== 'O' && channel.type !== 'P') throw new SimError(400, 'api.channel.add_user_to_channel.type.app_error')
  if (s.teamMembers.get(channel.team_id)?.has(userId) !== true) throw new SimError(404, 'app.team.get_member.missing.app_error')
  const member = addMemberRecord(s, channel.id, userId, opts.admin === true)
  s.publish({ event: 'user_added', data: { user_id: userId, team_id: channel.team_id }, broadcast: broadcast({ channel_id: channel.id }) })
  return { member, existed: false }
}

/**
 * Removes a member from an O/P channel (`DELETE /channels/{id}/members/{uid}`). Sends
 * `user_removed` {channel_id, remover_id} to the removed user and {user_id, remover_id} to the
 * channel. Not a member → 404 `app.channel.get_member.missing.app_error`.
 */
export function removeChannelMember (s: State, channelId: string, userId: string, removerId: string): void {
  const channel = getChannelOr404(s, channelId)
  if (channel.type !== 'O' && channel.type !== 'P') throw new SimError(400, 'api.channel.remove_user_from_channel.type.app_error')
  const members = s.channelMembers.get(channel.id)!
  if (!members.has(userId)) throw new SimError(404, 'app.channel.get_member.missing.app_error')
  members.delete(userId)
  s.userChannels.get(userId)?.delete(channel.id)
  s.publish({ event: 'user_removed', data: { channel_id: channel.id, remover_id: removerId }, broadcast: broadcast({ user_id: userId }) })
  s.publish({ event: 'user_removed', data: { user_id: userId, remover_id: removerId }, broadcast: broadcast({ channel_id: channel.id }) })
}

/** Archives (`DELETE /channels/{id}`): sets `delete_at`; posting then fails (§1.2). */
export function archiveChannel (s: State, channel: Channel): void {
  if (channel.type === 'D' || channel.type === 'G') throw new SimError(400, 'api.channel.delete_channel.type.invalid')
  if (channel.delete_at !== 0) throw new SimError(400, 'api.channel.delete_channel.deleted.app_error')
  if (channel.name === 'town-square') throw new SimError(400, 'api.channel.delete_channel.cannot.app_error')
  const now = s.now()
  channel.delete_at = now
  channel.update_at = now
  s.publish({ event: 'channel_deleted', data: { channel_id: channel.id, delete_at: now }, broadcast: broadcast({ team_id: channel.team_id }) })
}

/** Restores an archived channel (`POST /channels/{id}/restore`). */
export function restoreChannel (s: State, channel: Channel): void {
  if (channel.delete_at === 0) throw new SimError(400, 'api.channel.restore_channel.restored.app_error')
  channel.delete_at = 0
  channel.update_at = s.now()
  s.publish({ event: 'channel_restored', data: { channel_id: channel.id }, broadcast: broadcast({ team_id: channel.team_id }) })
}
