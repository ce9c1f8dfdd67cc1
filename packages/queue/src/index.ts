export * from './connection.js'
export * from './notifications.js'
export * from './status.js'
