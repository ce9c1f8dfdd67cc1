import t from 'tap'
import { loadOpenApi, resolveRef, validateRequestBody, validateResponse } from '../src/index.js'
import { call, seed, start, WsClient } from './helper.js'

t.test('loads the concatenated spec', async (t) => {
  const doc = loadOpenApi()
  t.equal(doc.openapi, '3.0.0')
  t.equal(Object.keys(doc.paths).length, 216)
  t.equal(Object.keys(doc.components.schemas).length, 141)
  t.match(resolveRef(doc, { $ref: '#/components/responses/NotFound' }), { description: String })
  t.same(validateRequestBody('POST', '/api/v4/channels/direct', ['a']), ['body must NOT have fewer than 2 items'])
  t.same(validateRequestBody('POST', '/users', { username: 'a' }), ["body must have required property 'email'"], 'path without /api/v4')
  t.same(validateRequestBody('POST', '/api/v4/posts', undefined), ['request body is required'])
  t.same(validateResponse('GET', '/api/v4/users/{user_id}', 200, { id: 1 }), ['body/id must be string'])
  t.same(validateResponse('GET', '/api/v4/users/{user_id}', 200, { id: 'x', extra: true }), [], 'additional properties allowed')
  t.same(validateResponse('GET', '/api/v4/users/{user_id}', 418, { id: 'x', status_code: 418 }), [], 'undocumented error status checked as AppError')
  t.match(validateResponse('GET', '/api/v4/users/{user_id}', 202, {}), [/not documented/])
  t.match(validateResponse('GET', '/api/v4/nope', 200, {}), [/not in the spec/])
})

t.test('every simulator answer on the main endpoints matches the spec', async (t) => {
  const sim = await start(t, { validate: true, config: { EnableUserAccessTokens: true } })
  const { bot, botToken, team, channel, alice, aliceToken, bob } = seed(sim)
  const ws = await WsClient.connect(sim, { token: botToken })
  t.teardown(() => ws.close())

  const calls: Array<[string, string, string | undefined, unknown?]> = [
    ['GET', '/api/v4/system/ping', undefined],
    ['GET', '/api/v4/system/ping?get_server_status=true', undefined],
    ['GET', '/api/v4/users/me', botToken],
    ['GET', '/api/v4/users/me', undefined],
    ['GET', `/api/v4/users/${alice.id}`, botToken],
    ['GET', '/api/v4/users/username/alice', botToken],
    ['GET', '/api/v4/users/username/nobody', botToken],
    ['GET', `/api/v4/users?in_team=${team.id}&per_page=10`, botToken],
    ['POST', '/api/v4/users', botToken, { username: 'carol', email: 'carol@example.com', password: 'long-enough' }],
    ['POST', '/api/v4/users', botToken, { username: 'carol', email: 'carol2@example.com', password: 'long-enough' }],
    ['POST', '/api/v4/users/ids', botToken, [alice.id, bob.id]],
    ['POST', '/api/v4/users/usernames', botToken, ['alice', 'bob']],
    ['PUT', '/api/v4/users/me/patch', aliceToken, { nickname: 'al' }],
    ['PUT', `/api/v4/users/${bob.id}/active`, botToken, { active: true }],
    ['POST', `/api/v4/users/${alice.id}/tokens`, botToken, { description: 'parley' }],
    ['GET', `/api/v4/users/${alice.id}/tokens`, botToken],
    ['POST', '/api/v4/bots', botToken, { username: 'helper-bot', display_name: 'Helper' }],
    ['GET', `/api/v4/bots/${bot.id}`, botToken],
    ['POST', '/api/v4/teams', botToken, { name: 'second', display_name: 'Second', type: 'I' }],
    ['POST', '/api/v4/teams', botToken, { name: 'second', display_name: 'Second', type: 'I' }],
    ['GET', `/api/v4/teams/${team.id}`, aliceToken],
    ['GET', '/api/v4/teams/name/acme', aliceToken],
    ['GET', '/api/v4/teams/name/nope', aliceToken],
    ['GET', `/api/v4/teams/${team.id}/members?per_page=2`, aliceToken],
    ['GET', `/api/v4/teams/${team.id}/members/${alice.id}`, aliceToken],
    ['POST', `/api/v4/teams/${team.id}/members/ids`, aliceToken, [alice.id]],
    ['GET', '/api/v4/users/me/teams', aliceToken],
    ['POST', '/api/v4/channels', botToken, { team_id: team.id, name: 'ops', display_name: 'Ops', type: 'P' }],
    ['POST', '/api/v4/channels', botToken, { team_id: team.id, name: 'ops', display_name: 'Ops', type: 'P' }],
    ['GET', `/api/v4/channels/${channel.id}`, botToken],
    ['GET', `/api/v4/teams/${team.id}/channels/name/notifications`, botToken],
    ['POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_id: alice.id }],
    ['POST', `/api/v4/channels/${channel.id}/members`, botToken, { user_ids: [bob.id] }],
    ['GET', `/api/v4/channels/${channel.id}/members/${alice.id}`, botToken],
    ['GET', `/api/v4/channels/${channel.id}/members?per_page=5`, botToken],
    ['POST', `/api/v4/channels/${channel.id}/members/ids`, botToken, [alice.id, bob.id]],
    ['DELETE', `/api/v4/channels/${channel.id}/members/${bob.id}`, botToken],
    ['GET', `/api/v4/users/${alice.id}/teams/${team.id}/channels`, aliceToken],
    ['GET', '/api/v4/users/me/channels', aliceToken],
    ['POST', '/api/v4/channels/direct', botToken, [bot.id, alice.id]],
    ['POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'hello @alice', pending_post_id: 'p-1', props: { k: 'v' } }],
    ['POST', '/api/v4/posts', botToken, { channel_id: channel.id, message: 'hello @alice', pending_post_id: 'p-1' }],
    ['POST', '/api/v4/posts', aliceToken, { channel_id: sim.createChannel({ teamId: team.id, name: 'closed', displayName: 'Closed' }).id, message: 'no' }],
    ['GET', `/api/v4/channels/${channel.id}/posts?per_page=10`, botToken],
    ['GET', `/api/v4/channels/${channel.id}/posts?since=0`, botToken],
    ['DELETE', `/api/v4/channels/${channel.id}`, botToken],
    ['POST', `/api/v4/channels/${channel.id}/restore`, botToken],
    ['DELETE', `/api/v4/teams/${team.id}/members/${bob.id}`, botToken]
  ]
  for (const [method, path, token, body] of calls) await call(sim, method, path, token, body)
  const postId = sim.getPosts(channel.id)[0].id
  await call(sim, 'GET', `/api/v4/posts/${postId}`, botToken)
  await call(sim, 'PUT', `/api/v4/posts/${postId}/patch`, botToken, { message: 'edited' })
  const tokenId = sim.getAccessTokens(alice.id).find(x => x.description === 'parley')!.id
  for (const path of ['/api/v4/users/tokens/disable', '/api/v4/users/tokens/enable', '/api/v4/users/tokens/revoke']) {
    await call(sim, 'POST', path, botToken, { token_id: tokenId })
  }
  await call(sim, 'POST', `/api/v4/teams/${team.id}/members`, botToken, { team_id: team.id, user_id: bob.id })
  await call(sim, 'POST', `/api/v4/teams/${team.id}/members/batch?graceful=true`, botToken, [{ team_id: team.id, user_id: sim.createUser({ username: 'zed' }).id }])

  t.equal(sim.calls.length, calls.length + 7)
  t.same(sim.specErrors(), [])
  t.ok(sim.calls.some(c => c.status >= 400), 'error answers were checked too')
  for (const c of sim.calls) {
    t.same({ route: c.route, status: c.status, requestErrors: c.requestErrors, responseErrors: c.responseErrors },
      { route: c.route, status: c.status, requestErrors: [], responseErrors: [] }, `${c.route} → ${c.status}`)
  }
})

t.test('validate records what a client sent wrong', async (t) => {
  const sim = await start(t, { validate: true })
  const { botToken } = seed(sim)
  await call(sim, 'POST', '/api/v4/channels/direct', botToken, ['only-one'])
  t.match(sim.calls[0].requestErrors, ['body must NOT have fewer than 2 items'])
  t.same(sim.specErrors(), ['POST /api/v4/channels/direct → 400: request body must NOT have fewer than 2 items'])
  const plain = await start(t)
  await call(plain, 'GET', '/api/v4/system/ping')
  t.equal(plain.calls[0].requestErrors, undefined, 'no validation unless asked')
})
