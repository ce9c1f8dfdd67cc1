export * from './connection.js'
export * from './notifications.js'
