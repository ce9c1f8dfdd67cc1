/**
 * `@parley/mattermost`: the worker's typed Mattermost API v4 client (REST + WebSocket).
 * @see /work/shared/mattermost/PROTOCOL.md
 */
export * from './client.js'
export * from './errors.js'
export * from './rate-limiter.js'
export * from './websocket.js'
