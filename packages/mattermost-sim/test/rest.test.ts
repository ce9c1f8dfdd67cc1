import t from 'tap'
import { call, seed, start } from './helper.js'

t.test('responses carry Mattermost headers and exact JSON content type', async (t) => {
  const sim = await start(t)
  const { botToken } = seed(sim)
  const ok = await call(sim, 'GET', '/api/v4/users/me', botToken)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('content-type'), 'application/json', 'no charset parameter')
  t.match(ok.headers.get('x-request-id'), /^[a-z0-9]{26}$/)
  t.ok(ok.headers.get('x-version-id'))
  t.notOk('password' in ok.body, 'user is sanitized')

  const err = await call(sim, 'GET', '/api/v4/users/username/nobody', botToken)
  t.equal(err.status, 404)
  t.equal(err.headers.get('content-type'), 'application/json')
  t.same(Object.keys(err.body).sort(), ['detailed_error', 'id', 'message', 'request_id', 'status_code'])
  t.equal(err.body.id, 'app.user.get_by_username.app_error')
  t.equal(err.body.status_code, 404)
  t.equal(err.body.request_id, err.headers.get('x-request-id'))

  const unknown = await call(sim, 'GET', '/api/v4/no/such/route', botToken)
  t.equal(unknown.status, 404)
  t.equal(unknown.body.id, 'api.context.404.app_error')

  const badJson = await fetch(`${sim.url}/api/v4/posts`, { method: 'POST', headers: { authorization: `Bearer ${botToken}`, 'content-type': 'application/json' }, body: '{nope' })
  t.equal(badJson.status, 400)
  t.equal(((await badJson.json()) as { id: string }).id, 'api.context.invalid_body_param.app_error')

  const ping = await call(sim, 'GET', '/api/v4/system/ping')
  t.equal(ping.status, 200)
  t.equal(ping.body.status, 'OK')
})

t.test('authentication', async (t) => {
  const sim = await start(t)
  const { alice, aliceToken } = seed(sim)
  for (const header of [`Bearer ${aliceToken}`, `BEARER ${aliceToken}`, `Token ${aliceToken}`, `token ${aliceToken}`]) {
    const res = await fetch(`${sim.url}/api/v4/users/me`, { headers: { authorization: header } })
    t.equal(res.status, 200, header.split(' ')[0])
  }
  const none = await call(sim, 'GET', '/api/v4/users/me')
  t.equal(none.status, 401)
  t.equal(none.body.id, 'api.context.session_expired.app_error')
  const bad = await call(sim, 'GET', '/api/v4/users/me', 'nosuchtoken')
  t.equal(bad.body.id, 'api.context.session_expired.app_error')

  sim.revokeAccessToken(aliceToken)
  t.equal((await call(sim, 'GET', '/api/v4/users/me', aliceToken)).status, 401, 'revoked token')

  const other = sim.createAccessToken(alice.id)
  sim.deactivateUser(alice.id)
  t.equal((await call(sim, 'GET', '/api/v4/users/me', other)).status, 401, 'deactivated user')
  t.equal(sim.callCount('GET /api/v4/users/{user_id}'), 8)
  t.equal(sim.calls.at(-1)?.token, other)
})

t.test('users', async (t) => {
  const sim = await start(t)
  const { botToken, aliceToken, alice } = seed(sim)
  const created = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'Carol.Smith', email: 'Carol@Example.com', password: 'secret-password' })
  t.equal(created.status, 201)
  t.equal(created.body.username, 'carol.smith', 'username lowercased')
  t.equal(created.body.email, 'carol@example.com', 'email lowercased')
  t.notOk('password' in created.body)

  const dupName = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'CAROL.smith', email: 'other@example.com', password: 'secret-password' })
  t.equal(dupName.status, 400)
  t.equal(dupName.body.id, 'app.user.save.username_exists.app_error')
  const dupEmail = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'carol2', email: 'CAROL@example.com', password: 'secret-password' })
  t.equal(dupEmail.body.id, 'app.user.save.email_exists.app_error')
  const badName = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'no spaces', email: 'x@example.com', password: 'secret-password' })
  t.equal(badName.status, 400)
  t.equal(badName.body.id, 'model.user.is_valid.username.app_error')
  const reserved = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'all', email: 'all@example.com', password: 'secret-password' })
  t.equal(reserved.body.id, 'model.user.is_valid.username.app_error')
  const badEmail = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'dave', email: 'not-an-email', password: 'secret-password' })
  t.equal(badEmail.body.id, 'model.user.is_valid.email.app_error')
  const shortPw = await call(sim, 'POST', '/api/v4/users', botToken, { username: 'dave', email: 'dave@example.com', password: 'short' })
  t.equal(shortPw.body.id, 'model.user.is_valid.pwd_min_length.app_error')
  const notAdmin = await call(sim, 'POST', '/api/v4/users', aliceToken, { username: 'eve', email: 'eve@example.com', password: 'secret-password' })
  t.equal(notAdmin.status, 403)

  const byName = await call(sim, 'GET', '/api/v4/users/username/CAROL.SMITH', aliceToken)
  t.equal(byName.body.id, created.body.id)
  const byId = await call(sim, 'GET', `/api/v4/users/${created.body.id}`, aliceToken)
  t.equal(byId.body.username, 'carol.smith')
  t.equal((await call(sim, 'GET', '/api/v4/users/notanid', aliceToken)).status, 400)
  const missing = await call(sim, 'GET', '/api/v4/users/ybndrfg8ejkmcpqxot1uwisza3', aliceToken)
  t.equal(missing.status, 404)
  t.equal(missing.body.id, 'app.user.missing_account.const')

  const ids = await call(sim, 'POST', '/api/v4/users/ids', aliceToken, [alice.id, created.body.id, 'ybndrfg8ejkmcpqxot1uwisza3'])
  t.same(ids.body.map((u: any) => u.username).sort(), ['alice', 'carol.smith'])
  const names = await call(sim, 'POST', '/api/v4/users/usernames', aliceToken, ['alice', 'nobody'])
  t.same(names.body.map((u: any) => u.id), [alice.id])

  const patched = await call(sim, 'PUT', '/api/v4/users/me/patch', aliceToken, { first_name: 'Alice', nickname: 'al' })
  t.equal(patched.body.first_name, 'Alice')
  const patchOther = await call(sim, 'PUT', `/api/v4/users/${created.body.id}/patch`, aliceToken, { nickname: 'x' })
  t.equal(patchOther.status, 403)

  const deact = await call(sim, 'PUT', `/api/v4/users/${created.body.id}/active`, botToken, { active: false })
  t.equal(deact.status, 200)
  t.same(deact.body, { status: 'OK' })
  t.ok(sim.getUser(created.body.id)!.delete_at > 0)
})

t.test('personal access tokens (§5)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, alice, aliceToken } = seed(sim)
  const disabled = await call(sim, 'POST', `/api/v4/users/${alice.id}/tokens`, botToken, { description: 'parley' })
  t.equal(disabled.status, 501)
  t.equal(disabled.body.id, 'app.user_access_token.disabled')
  const noDescription = await call(sim, 'POST', `/api/v4/users/${alice.id}/tokens`, botToken, { description: '' })
  t.equal(noDescription.status, 400, 'description checked before the 501 switch')
  const selfNoRole = await call(sim, 'POST', '/api/v4/users/me/tokens', aliceToken, { description: 'mine' })
  t.equal(selfNoRole.status, 403, 'plain users lack create_user_access_token')

  sim.config.EnableUserAccessTokens = true
  const made = await call(sim, 'POST', `/api/v4/users/${alice.id}/tokens`, botToken, { description: 'parley', token: 'ignored' })
  t.equal(made.status, 201)
  t.match(made.body, { user_id: alice.id, description: 'parley', is_active: true })
  t.match(made.body.token, /^[a-z0-9]{26}$/)
  t.not(made.body.token, 'ignored')
  const me = await call(sim, 'GET', '/api/v4/users/me', made.body.token)
  t.equal(me.body.id, alice.id)

  const list = await call(sim, 'GET', `/api/v4/users/${alice.id}/tokens`, botToken)
  t.equal(list.status, 200)
  t.ok(list.body.every((x: any) => !('token' in x)), 'sanitized')
  t.ok(list.body.some((x: any) => x.id === made.body.id))
  const one = await call(sim, 'GET', `/api/v4/users/tokens/${made.body.id}`, botToken)
  t.same(one.body, { id: made.body.id, user_id: alice.id, description: 'parley', is_active: true })

  t.equal((await call(sim, 'POST', '/api/v4/users/tokens/disable', botToken, { token_id: made.body.id })).status, 200)
  t.equal((await call(sim, 'GET', '/api/v4/users/me', made.body.token)).status, 401, 'disabled token')
  t.equal((await call(sim, 'POST', '/api/v4/users/tokens/enable', botToken, { token_id: made.body.id })).status, 200)
  t.equal((await call(sim, 'GET', '/api/v4/users/me', made.body.token)).status, 200, 're-enabled token')

  sim.config.EnableUserAccessTokens = false
  t.equal((await call(sim, 'GET', '/api/v4/users/me', made.body.token)).status, 401, 'API PATs stop working when the feature is off')
  t.equal((await call(sim, 'GET', '/api/v4/users/me', aliceToken)).status, 200, 'seeded tokens keep working')
  sim.config.EnableUserAccessTokens = true

  t.equal((await call(sim, 'POST', '/api/v4/users/tokens/revoke', botToken, { token_id: made.body.id })).status, 200)
  t.equal((await call(sim, 'GET', '/api/v4/users/me', made.body.token)).status, 401, 'revoked token')
  const gone = await call(sim, 'GET', `/api/v4/users/tokens/${made.body.id}`, botToken)
  t.equal(gone.status, 404)

  const forBot = await call(sim, 'POST', `/api/v4/users/${bot.id}/tokens`, botToken, { description: 'self' })
  t.equal(forBot.status, 201, 'an admin may mint its own tokens')
})

t.test('teams and MaxUsersPerTeam', async (t) => {
  const sim = await start(t, { config: { MaxUsersPerTeam: 4 } })
  const { botToken, team, alice, aliceToken } = seed(sim) // bot, alice, bob: 3 members
  const created = await call(sim, 'POST', '/api/v4/teams', botToken, { name: 'new-team', display_name: 'New', type: 'O' })
  t.equal(created.status, 201)
  t.equal(created.body.allow_open_invite, true)
  t.ok(sim.getChannelByName(created.body.id, 'town-square'))
  t.ok(sim.getChannelByName(created.body.id, 'off-topic'))
  t.same(sim.getTeamMembers(created.body.id), [sim.getUserByUsername('parley-bot')!.id], 'creator joins')

  t.equal((await call(sim, 'POST', '/api/v4/teams', botToken, { name: 'new-team', display_name: 'Again', type: 'O' })).body.id, 'app.team.save.existing.app_error')
  t.equal((await call(sim, 'POST', '/api/v4/teams', botToken, { name: 'apitest', display_name: 'x', type: 'O' })).body.id, 'model.team.is_valid.reserved.app_error')
  t.equal((await call(sim, 'POST', '/api/v4/teams', botToken, { name: 'Bad Name', display_name: 'x', type: 'O' })).status, 400)

  t.equal((await call(sim, 'GET', '/api/v4/teams/name/acme', aliceToken)).body.id, team.id)
  const noTeam = await call(sim, 'GET', '/api/v4/teams/name/nope', aliceToken)
  t.equal(noTeam.status, 404)
  t.equal(noTeam.body.id, 'app.team.get_by_name.missing.app_error')

  const carol = sim.createUser({ username: 'carol' })
  const dave = sim.createUser({ username: 'dave' })
  const add = await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: carol.id })
  t.equal(add.status, 201)
  t.match(add.body, { team_id: team.id, user_id: carol.id, roles: 'team_user' })
  const again = await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: carol.id })
  t.equal(again.status, 201, 'already a member is not an error')
  const full = await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: dave.id })
  t.equal(full.status, 400)
  t.equal(full.body.id, 'app.team.join_user_to_team.max_accounts.app_error')

  sim.deactivateUser(carol.id)
  t.equal((await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: dave.id })).status, 201, 'deactivated members do not count')

  const notAllowed = await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, aliceToken, { team_id: team.id, user_id: carol.id })
  t.equal(notAllowed.status, 403)

  const member = await call(sim, 'GET', `/api/v4/teams/${team.id}/members/${alice.id}`, aliceToken)
  t.equal(member.body.user_id, alice.id)
  const notMember = await call(sim, 'GET', `/api/v4/teams/${created.body.id}/members/${alice.id}`, botToken)
  t.equal(notMember.status, 404)
  t.equal(notMember.body.id, 'app.team.get_member.missing.app_error')

  const removed = await call(sim, 'DELETE', `/api/v4/teams/${team.id}/members/${dave.id}`, botToken)
  t.equal(removed.status, 200)
  t.notOk(sim.getTeamMembers(team.id).includes(dave.id))
  t.notOk(sim.getChannelMembers(sim.getChannelByName(team.id, 'town-square')!.id).includes(dave.id), 'removed from team channels')

  const teams = await call(sim, 'GET', '/api/v4/users/me/teams', aliceToken)
  t.same(teams.body.map((x: any) => x.id), [team.id])
})

t.test('team members batch, paging and ids', async (t) => {
  const sim = await start(t, { config: { MaxUsersPerTeam: 5 } })
  const { botToken, team, aliceToken } = seed(sim) // 3 members
  const users = Array.from({ length: 4 }, (_, i) => sim.createUser({ username: `u${i}` }))
  const graceful = await call(sim, 'POST', `/api/v4/teams/${team.id}/members/batch?graceful=true`, botToken, users.map(u => ({ team_id: team.id, user_id: u.id })))
  t.equal(graceful.status, 201)
  t.equal(graceful.body.length, 4)
  t.match(graceful.body[0], { user_id: users[0].id, member: { user_id: users[0].id }, error: null })
  t.match(graceful.body[2], { user_id: users[2].id, member: null, error: { id: 'app.team.join_user_to_team.max_accounts.app_error', status_code: 400 } })

  sim.config.MaxUsersPerTeam = 1000
  const strict = await call(sim, 'POST', `/api/v4/teams/${team.id}/members/batch`, botToken, users.map(u => ({ team_id: team.id, user_id: u.id })))
  t.equal(strict.status, 201)
  t.same(strict.body.map((m: any) => m.user_id), users.map(u => u.id))

  const many = Array.from({ length: 257 }, () => ({ team_id: team.id, user_id: users[0].id }))
  t.equal((await call(sim, 'POST', `/api/v4/teams/${team.id}/members/batch`, botToken, many)).status, 400, 'more than 256')

  const page = await call(sim, 'GET', `/api/v4/teams/${team.id}/members?page=0&per_page=3`, aliceToken)
  t.equal(page.body.length, 3)
  const capped = await call(sim, 'GET', `/api/v4/teams/${team.id}/members?per_page=5000`, aliceToken)
  t.equal(capped.body.length, 7)
  const byIds = await call(sim, 'POST', `/api/v4/teams/${team.id}/members/ids`, aliceToken, [users[1].id, 'ybndrfg8ejkmcpqxot1uwisza3'])
  t.same(byIds.body.map((m: any) => m.user_id), [users[1].id])
})

t.test('channels and members', async (t) => {
  const sim = await start(t)
  const { botToken, team, channel, alice, aliceToken, bob } = seed(sim)
  const created = await call(sim, 'POST', '/api/v4/channels', botToken, { team_id: team.id, name: 'ops', display_name: 'Ops', type: 'P' })
  t.equal(created.status, 201)
  t.equal(created.body.type, 'P')
  const exists = await call(sim, 'POST', '/api/v4/channels', botToken, { team_id: team.id, name: 'ops', display_name: 'Ops', type: 'O' })
  t.equal(exists.status, 400)
  t.equal(exists.body.id, 'store.sql_channel.save_channel.exists.app_error')
  t.equal((await call(sim, 'POST', '/api/v4/channels', botToken, { team_id: team.id, name: 'Bad!', display_name: 'x', type: 'O' })).body.id, 'model.channel.is_valid.1_or_more.app_error')

  const byName = await call(sim, 'GET', `/api/v4/teams/${team.id}/channels/name/notifications`, botToken)
  t.equal(byName.body.id, channel.id)
  t.equal((await call(sim, 'GET', `/api/v4/teams/${team.id}/channels/name/nope`, botToken)).status, 404)

  const notMember = await call(sim, 'GET', `/api/v4/channels/${channel.id}/members/${alice.id}`, botToken)
  t.equal(notMember.status, 404)
  t.equal(notMember.body.id, 'app.channel.get_member.missing.app_error')
  const add = await call(sim, 'POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_id: alice.id })
  t.equal(add.status, 201)
  t.match(add.body, { channel_id: channel.id, user_id: alice.id })
  t.equal((await call(sim, 'POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_id: alice.id })).status, 201, 'already a member')
  t.equal((await call(sim, 'GET', `/api/v4/channels/${channel.id}/members/${alice.id}`, botToken)).status, 200)

  const outsider = sim.createUser({ username: 'outsider' })
  const notOnTeam = await call(sim, 'POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_id: outsider.id })
  t.equal(notOnTeam.status, 404)
  t.equal(notOnTeam.body.id, 'app.team.get_member.missing.app_error')
  const several = await call(sim, 'POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_ids: [bob.id] })
  t.ok(Array.isArray(several.body), 'user_ids answers an array')

  const members = await call(sim, 'GET', `/api/v4/channels/${channel.id}/members`, aliceToken)
  t.same(members.body.map((m: any) => m.user_id).sort(), sim.getChannelMembers(channel.id).sort())
  t.equal((await call(sim, 'DELETE', `/api/v4/channels/${channel.id}/members/${bob.id}`, botToken)).status, 200)
  t.notOk(sim.getChannelMembers(channel.id).includes(bob.id))

  const mine = await call(sim, 'GET', `/api/v4/users/me/teams/${team.id}/channels`, aliceToken)
  t.same(mine.body.map((c: any) => c.name).sort(), ['notifications', 'off-topic', 'town-square'])

  const archived = await call(sim, 'DELETE', `/api/v4/channels/${channel.id}`, botToken)
  t.equal(archived.status, 200)
  t.ok(sim.getChannel(channel.id)!.delete_at > 0)
  const post = await call(sim, 'POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'hello' })
  t.equal(post.status, 400)
  t.equal(post.body.id, 'api.post.create_post.can_not_post_to_deleted.error')
  const restored = await call(sim, 'POST', `/api/v4/channels/${channel.id}/restore`, botToken)
  t.equal(restored.status, 200)
  t.equal(restored.body.delete_at, 0)
})

t.test('direct channels (§4)', async (t) => {
  const sim = await start(t)
  const { bot, botToken, alice, aliceToken, bob } = seed(sim)
  const dm = await call(sim, 'POST', '/api/v4/channels/direct', botToken, [bot.id, alice.id])
  t.equal(dm.status, 201)
  t.equal(dm.body.type, 'D')
  t.equal(dm.body.team_id, '')
  t.equal(dm.body.name, [bot.id, alice.id].sort().join('__'))
  const again = await call(sim, 'POST', '/api/v4/channels/direct', aliceToken, [alice.id, bot.id])
  t.equal(again.body.id, dm.body.id, 'get or create')
  t.same(sim.getChannelMembers(dm.body.id).sort(), [bot.id, alice.id].sort())
  t.equal(sim.findDirectChannel(alice.id, bot.id)?.id, dm.body.id)

  t.equal((await call(sim, 'POST', '/api/v4/channels/direct', aliceToken, [bot.id, bob.id])).status, 403, 'caller must be one of the two')
  t.equal((await call(sim, 'POST', '/api/v4/channels/direct', aliceToken, [alice.id])).status, 400)

  const loner = sim.createUser({ username: 'loner' })
  const lonerToken = sim.createAccessToken(loner.id)
  sim.config.RestrictDirectMessage = 'team'
  const restricted = await call(sim, 'POST', '/api/v4/channels/direct', lonerToken, [loner.id, alice.id])
  t.equal(restricted.status, 403)
  t.equal(restricted.body.id, 'api.channel.create_channel.direct_channel.team_restricted_error')
  t.equal((await call(sim, 'POST', '/api/v4/channels/direct', lonerToken, [loner.id, bot.id])).status, 201, 'bots are exempt')
  t.equal((await call(sim, 'POST', '/api/v4/channels/direct', aliceToken, [alice.id, bob.id])).status, 201, 'shared team')

  const mine = await call(sim, 'GET', '/api/v4/users/me/channels', aliceToken)
  t.ok(mine.body.some((c: any) => c.id === dm.body.id), 'DMs are listed')
})
