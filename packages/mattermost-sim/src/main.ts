/**
 * CLI: `npx tsx packages/mattermost-sim/src/main.ts --port 8065 [--host 127.0.0.1] [--seed-demo]
 * [--config '{"MaxUsersPerTeam":500}'] [--latency 50] [--validate]`.
 *
 * With `--seed-demo` it seeds a system-admin bot `parley-bot`, team `parley-demo`, channel
 * `notifications` (bot is a member) and users `alice` and `bob` (team members, not channel members),
 * turns on EnableUserAccessTokens (the demo provisions PATs; `--config` can turn it off again), and
 * prints one JSON line: {url, botToken, botUserId, teamId, channelId, users: {alice: {id, token}, bob: {…}}}.
 * Without it, it prints {url}. Runs until SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util'
import { startSimulator, type SimConfig } from './index.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8065' },
    host: { type: 'string', default: '127.0.0.1' },
    'seed-demo': { type: 'boolean', default: false },
    config: { type: 'string' },
    latency: { type: 'string' },
    validate: { type: 'boolean', default: false }
  }
})

const seedDemo = values['seed-demo'] === true
const config: Partial<SimConfig> = {
  ...(seedDemo ? { EnableUserAccessTokens: true } : {}),
  ...(values.config !== undefined ? JSON.parse(values.config) as Partial<SimConfig> : {})
}

const sim = await startSimulator({
  port: Number(values.port),
  host: values.host,
  config,
  latencyMs: values.latency !== undefined ? Number(values.latency) : 0,
  validate: values.validate
})

if (seedDemo) {
  const { user: bot, token: botToken } = sim.createBot({ username: 'parley-bot', displayName: 'Parley', roles: 'system_admin system_user' })
  const team = sim.createTeam({ name: 'parley-demo', displayName: 'Parley Demo' })
  sim.addTeamMember(team.id, bot.id)
  const channel = sim.createChannel({ teamId: team.id, name: 'notifications', displayName: 'Notifications' })
  sim.addChannelMember(channel.id, bot.id)
  const users: Record<string, { id: string, token: string }> = {}
  for (const username of ['alice', 'bob']) {
    const u = sim.createUser({ username, firstName: username[0].toUpperCase() + username.slice(1) })
    sim.addTeamMember(team.id, u.id)
    users[username] = { id: u.id, token: sim.createAccessToken(u.id) }
  }
  console.log(JSON.stringify({ url: sim.url, botToken, botUserId: bot.id, teamId: team.id, channelId: channel.id, users }))
} else {
  console.log(JSON.stringify({ url: sim.url }))
}

let closing = false
async function shutdown (): Promise<void> {
  if (closing) return
  closing = true
  await sim.close()
  process.exit(0)
}
process.on('SIGTERM', () => { void shutdown() })
process.on('SIGINT', () => { void shutdown() })
