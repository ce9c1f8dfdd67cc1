/**
 * `@parley/mattermost`: the worker's typed Mattermost API v4 client (REST + WebSocket).
 * @see /work/shared/mattermost/PROTOCOL.md
 */
export {
  createMattermostClient, TEAM_BATCH_MAX,
  type MattermostClient, type MattermostClientOptions, type AsUser, type Page, type NewUser, type UserPatch,
  type NewTeam, type NewChannel, type NewPost, type IssuedAccessToken, type TeamMemberResult, type PingResult
} from './client.js'
export {
  MattermostError, isMattermostError, isRetryable, isPermanent, PENDING_POST_ERROR_ID, NETWORK_ERROR_ID,
  type RateLimitInfo, type MattermostErrorInit
} from './errors.js'
export { createRateLimiter, type RateLimiter } from './rate-limiter.js'
export {
  createMattermostSocket, isPostEvent, POST_EVENTS,
  type MattermostSocket, type MattermostSocketOptions, type MattermostEvent, type PostEvent,
  type SocketEvents, type SocketState, type SocketStatus, type WebSocketBroadcast
} from './websocket.js'
