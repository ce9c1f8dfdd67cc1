/**
 * The simulator's in-memory state: plain Maps indexed for O(1) look-ups, so seeding 10 000 team
 * members or pushing 20 000 posts never scans everything. Domain functions in `domain/` own the
 * rules; this file only owns the shapes and the clock.
 */
import type { Bot, Channel, ChannelMember, Post, Team, TeamMember, UserProfile } from './model.js'

/** Server settings the simulator honours. Mutable at runtime through `Simulator.config`. */
export interface SimConfig {
  /** `TeamSettings.MaxUsersPerTeam`, default 50: active members a team may hold (PROTOCOL §1.2). */
  MaxUsersPerTeam: number
  /** `ServiceSettings.EnableUserAccessTokens`, default false: PAT creation answers 501 and API-made PATs stop authenticating (PROTOCOL §5). */
  EnableUserAccessTokens: boolean
  /** `TeamSettings.RestrictDirectMessage`, default 'any'; 'team' requires a shared team unless a bot or an admin is involved (PROTOCOL §4). */
  RestrictDirectMessage: 'any' | 'team'
}

export const DEFAULT_CONFIG: SimConfig = { MaxUsersPerTeam: 50, EnableUserAccessTokens: false, RestrictDirectMessage: 'any' }

export interface UserRecord {
  profile: UserProfile
  password: string
  bot?: Bot
}

export interface TokenRecord {
  id: string
  token: string
  userId: string
  description: string
  isActive: boolean
  /** Seeded through the simulator API: keeps working while EnableUserAccessTokens is false (an admin seed, like a session). */
  seeded: boolean
}

/** `broadcast` of the WebSocket envelope (PROTOCOL §9.2). */
export interface Broadcast {
  omit_users: Record<string, boolean> | null
  user_id: string
  channel_id: string
  team_id: string
  connection_id: string
  omit_connection_id: string
}

/** An event for the WebSocket hub; `dataFor` adds per-recipient fields (e.g. `mentions`). */
export interface SimEvent {
  event: string
  data: Record<string, unknown>
  broadcast: Broadcast
  dataFor?: (userId: string) => Record<string, unknown> | undefined
}

export type PendingPost = { state: 'inflight', expires: number } | { state: 'done', postId: string, expires: number }

export interface State {
  config: SimConfig
  /** `pendingPostIDsCacheTTL`, 30 s in Mattermost (PROTOCOL §7.3). */
  pendingPostTtlMs: number
  users: Map<string, UserRecord>
  userByName: Map<string, string>
  userByEmail: Map<string, string>
  tokens: Map<string, TokenRecord>
  tokensById: Map<string, TokenRecord>
  tokensByUser: Map<string, Set<TokenRecord>>
  teams: Map<string, Team>
  teamByName: Map<string, string>
  teamMembers: Map<string, Map<string, TeamMember>>
  /** Members of a team whose user is active: what MaxUsersPerTeam counts. */
  teamActiveCount: Map<string, number>
  userTeams: Map<string, Set<string>>
  channels: Map<string, Channel>
  /** `${teamId}/${name}`; DMs use an empty team id. */
  channelByName: Map<string, string>
  teamChannels: Map<string, Set<string>>
  channelMembers: Map<string, Map<string, ChannelMember>>
  userChannels: Map<string, Set<string>>
  posts: Map<string, Post>
  /** Per channel, oldest first. */
  channelPosts: Map<string, Post[]>
  /** Per channel, one entry per create or edit in time order, for `?since=`. */
  channelModLog: Map<string, Array<{ at: number, id: string }>>
  pendingPosts: Map<string, PendingPost>
  /** While set, POST /posts waits for this promise (faults.holdPosts). */
  postGate: { promise: Promise<void>, release: () => void } | null
  /** POST /posts calls currently waiting at `postGate`. */
  heldPosts: number
  publish: (ev: SimEvent) => void
  now: () => number
}

export function createState (config: SimConfig, pendingPostTtlMs: number): State {
  let last = 0
  return {
    config,
    pendingPostTtlMs,
    users: new Map(),
    userByName: new Map(),
    userByEmail: new Map(),
    tokens: new Map(),
    tokensById: new Map(),
    tokensByUser: new Map(),
    teams: new Map(),
    teamByName: new Map(),
    teamMembers: new Map(),
    teamActiveCount: new Map(),
    userTeams: new Map(),
    channels: new Map(),
    channelByName: new Map(),
    teamChannels: new Map(),
    channelMembers: new Map(),
    userChannels: new Map(),
    posts: new Map(),
    channelPosts: new Map(),
    channelModLog: new Map(),
    pendingPosts: new Map(),
    postGate: null,
    heldPosts: 0,
    publish: () => {},
    // Never goes backwards, so per-channel modification logs stay sorted.
    now: () => {
      const t = Date.now()
      if (t > last) last = t
      return last
    }
  }
}

export function broadcast (b: Partial<Broadcast>): Broadcast {
  return { omit_users: null, user_id: '', channel_id: '', team_id: '', connection_id: '', omit_connection_id: '', ...b }
}

export function isSystemAdmin (user: UserProfile | undefined): boolean {
  return user !== undefined && ` ${user.roles} `.includes(' system_admin ')
}

/** Adds `value` to the Set stored under `key`, creating it. */
export function addToIndex<K, V> (index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key)
  if (set === undefined) index.set(key, set = new Set())
  set.add(value)
}
