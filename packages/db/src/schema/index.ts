export * from './users.js'
export * from './api-keys.js'
export * from './notifications.js'
export * from './mattermost-recipients.js'
