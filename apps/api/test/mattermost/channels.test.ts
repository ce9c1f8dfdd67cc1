/**
 * Project channels (POST/DELETE /api/v1/mattermost/channels, POST …/:id/members), the magic link
 * and redirect (seeds/personal-token-implementation.md "API Endpoints"), and the gateway mappings
 * (seeds/equa-mattermost-endpoints.md "team-mapping", "user-mapping").
 */
import t from 'tap'
import { uniq } from '../../../../test/env.js'
import { rig } from './setup.js'

t.test('channels: create (201), bad name (400), unknown org (404), not a manager (403), duplicate (409), archive, members', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const orgAdmin = await r.member(o.id, 'admin')
  const plain = await r.member(o.id)
  const outsider = await r.createUser()
  const key = await r.apiKey(['directory:write'])
  const create = (headers: Record<string, string> | undefined, payload: Record<string, unknown>) =>
    r.app.inject({ method: 'POST', url: '/api/v1/mattermost/channels', ...(headers ? { headers } : {}), payload })
  const name = `proj-${uniq()}`

  t.equal((await create(undefined, { organizationId: o.id, name, displayName: 'P', type: 'O' })).statusCode, 401)
  const badName = await create(key.headers, { organizationId: o.id, name: 'Has Spaces', displayName: 'P', type: 'O' })
  t.equal(badName.statusCode, 400)
  t.match(badName.json().message, /body\/name may contain only lowercase letters/)
  const badType = await create(key.headers, { organizationId: o.id, name, displayName: 'P', type: 'D' })
  t.equal(badType.statusCode, 400)
  t.equal((await create(key.headers, { organizationId: '00000000-0000-4000-8000-000000000000', name, displayName: 'P', type: 'O' })).statusCode, 404)
  t.equal((await create(plain.headers, { organizationId: o.id, name, displayName: 'P', type: 'O' })).statusCode, 403)

  const created = await create(orgAdmin.headers, { organizationId: o.id, name, displayName: 'Project X', type: 'P' })
  t.equal(created.statusCode, 201, created.body)
  const ch = created.json()
  t.match(ch, { organizationId: o.id, name, displayName: 'Project X', type: 'P', status: 'active', archivedAt: null })
  const mmChannel = r.sim.getChannel(ch.mattermostChannelId)!
  t.equal(mmChannel.name, name)
  t.equal(mmChannel.type, 'P')
  const dup = await create(key.headers, { organizationId: o.id, name, displayName: 'Again', type: 'O' })
  t.equal(dup.statusCode, 409)

  // Members: the user themself, a manager; outsiders and unknown ids refused.
  const addMember = (headers: Record<string, string>, id: string, userId: string) =>
    r.app.inject({ method: 'POST', url: `/api/v1/mattermost/channels/${id}/members`, headers, payload: { userId } })
  t.equal((await addMember(plain.headers, '00000000-0000-4000-8000-000000000000', plain.user.id)).statusCode, 404)
  t.equal((await addMember(key.headers, ch.id, '00000000-0000-4000-8000-000000000000')).statusCode, 404)
  t.equal((await addMember(key.headers, ch.id, outsider.id)).statusCode, 403, 'not a member of the org')
  const other = await r.member(o.id)
  t.equal((await addMember(plain.headers, ch.id, other.user.id)).statusCode, 403, 'a plain member may not add someone else')
  const self = await addMember(plain.headers, ch.id, plain.user.id)
  t.equal(self.statusCode, 200, self.body)
  t.match(self.json(), { channelId: ch.id, userId: plain.user.id, mattermostChannelId: ch.mattermostChannelId })
  t.ok(r.sim.getChannelMembers(ch.mattermostChannelId).includes(self.json().mmUserId), 'joined in Mattermost (provisioned on the way)')
  const byAdmin = await addMember(orgAdmin.headers, ch.id, other.user.id)
  t.equal(byAdmin.statusCode, 200)

  // Archive (idempotent), then adding is refused.
  const del = await r.app.inject({ method: 'DELETE', url: `/api/v1/mattermost/channels/${ch.id}`, headers: orgAdmin.headers })
  t.equal(del.statusCode, 200)
  t.match(del.json(), { status: 'archived', archivedAt: String })
  t.ok(r.sim.getChannel(ch.mattermostChannelId)!.delete_at > 0, 'archived in Mattermost')
  t.equal((await r.app.inject({ method: 'DELETE', url: `/api/v1/mattermost/channels/${ch.id}`, headers: key.headers })).statusCode, 200, 'archiving again is fine')
  t.equal((await r.app.inject({ method: 'DELETE', url: `/api/v1/mattermost/channels/${ch.id}`, headers: plain.headers })).statusCode, 403)
  t.equal((await r.app.inject({ method: 'DELETE', url: '/api/v1/mattermost/channels/00000000-0000-4000-8000-000000000000', headers: key.headers })).statusCode, 404)
  t.equal((await addMember(key.headers, ch.id, plain.user.id)).statusCode, 409)
})

t.test('channels: a channel name refused by Mattermost leaves no row behind; the name can be used after', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const key = await r.apiKey(['directory:write'])
  const name = `flaky-${uniq()}`
  const m = await r.member(o.id)
  t.equal((await r.session(m.headers, o.id)).statusCode, 200, 'team provisioned first')
  r.sim.faults.failNext('POST /api/v4/channels', { status: 400, id: 'model.channel.is_valid.display_name.app_error' })
  const res = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/channels', headers: key.headers, payload: { organizationId: o.id, name, displayName: 'X', type: 'O' } })
  t.equal(res.statusCode, 400)
  t.match(res.json().message, /Mattermost rejected channel/)
  const again = await r.app.inject({ method: 'POST', url: '/api/v1/mattermost/channels', headers: key.headers, payload: { organizationId: o.id, name, displayName: 'X', type: 'O' } })
  t.equal(again.statusCode, 201)
})

t.test('magic link and redirect: the user\'s own token and team URL; cookies for MATTERMOST_COOKIE_DOMAIN', async (t) => {
  const r = await rig(t, { env: { MATTERMOST_COOKIE_DOMAIN: 'example.com', MATTERMOST_PUBLIC_URL: 'https://chat.example.com' } })
  const o = await r.org()
  const { user, headers } = await r.member(o.id)
  t.equal((await r.app.inject({ method: 'GET', url: '/api/mattermost/magic-link' })).statusCode, 401)
  const link = await r.app.inject({ method: 'GET', url: '/api/mattermost/magic-link', headers })
  t.equal(link.statusCode, 200, link.body)
  const session = (await r.session(headers, o.id)).json()
  t.same(link.json(), { url: `https://chat.example.com/${session.teamName}`, token: session.token })
  t.equal(r.sim.whoAmI(link.json().token)?.id, session.mmUserId)
  const other = await r.org()
  t.equal((await r.app.inject({ method: 'GET', url: `/api/mattermost/magic-link?organizationId=${other.id}`, headers })).statusCode, 403)

  const redirect = await r.app.inject({ method: 'GET', url: '/api/mattermost/redirect', cookies: { parley_session: r.tokenFor(user) } })
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.headers.location, `https://chat.example.com/${session.teamName}`)
  const cookies = Object.fromEntries(redirect.cookies.map(c => [c.name, c]))
  t.match(cookies.MMAUTHTOKEN, { value: session.token, domain: 'example.com', httpOnly: true, path: '/' })
  t.match(cookies.MMUSERID, { value: session.mmUserId, domain: 'example.com' })
  t.notOk(cookies.MMUSERID.httpOnly)

  // A user in no organisation gets the server root and a token.
  const loner = await r.createUser()
  const lonely = await r.app.inject({ method: 'GET', url: '/api/mattermost/magic-link', headers: { authorization: `Bearer ${r.tokenFor(loner)}` } })
  t.equal(lonely.statusCode, 200, lonely.body)
  t.equal(lonely.json().url, 'https://chat.example.com')
  t.ok(r.sim.whoAmI(lonely.json().token))
})

t.test('redirect without MATTERMOST_COOKIE_DOMAIN sets no Mattermost cookies', async (t) => {
  const r = await rig(t)
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const res = await r.app.inject({ method: 'GET', url: '/api/mattermost/redirect', headers })
  t.equal(res.statusCode, 302)
  t.match(res.headers.location, new RegExp(`^${r.sim.url}/`))
  t.same(res.cookies.filter(c => c.name.startsWith('MM')), [])
})

t.test('gateway mappings: bearer checks, 404 for an unknown team, userId null for an unknown user', async (t) => {
  const gatewayToken = `gw-${uniq()}-${uniq()}`
  const r = await rig(t, { env: { EQUA_GATEWAY_TOKEN: gatewayToken } })
  const o = await r.org()
  const { headers } = await r.member(o.id)
  const s = (await r.session(headers, o.id)).json()
  const teamId = r.sim.getTeamByName(s.teamName)!.id
  const gw = { authorization: `Bearer ${gatewayToken}` }
  const get = (url: string, h?: Record<string, string>) => r.app.inject({ method: 'GET', url, ...(h ? { headers: h } : {}) })

  t.equal((await get(`/api/v1/mattermost/team-mapping/${teamId}`)).statusCode, 401)
  t.equal((await get(`/api/v1/mattermost/team-mapping/${teamId}`, { authorization: 'Bearer wrong-token-wrong' })).statusCode, 401)
  t.equal((await get(`/api/v1/mattermost/team-mapping/${teamId}`, headers)).statusCode, 403, 'a plain user session is not the gateway')
  t.same((await get(`/api/v1/mattermost/team-mapping/${teamId}`, gw)).json(), { organizationId: o.id })
  const missing = await get('/api/v1/mattermost/team-mapping/nosuchteam0000000000000000', gw)
  t.equal(missing.statusCode, 404)
  t.equal((await get(`/api/v1/mattermost/user-mapping/${s.mmUserId}`)).statusCode, 401)
  t.same((await get('/api/v1/mattermost/user-mapping/nosuchuser0000000000000000', gw)).json(), { userId: null })
  const key = await r.apiKey(['gateway:read'])
  t.equal((await get(`/api/v1/mattermost/user-mapping/${s.mmUserId}`, key.headers)).json().userId, (await r.sql`select user_id from mattermost_accounts where mm_user_id = ${s.mmUserId}`)[0].user_id)
  const wrongScope = await r.apiKey(['notifications:send'])
  t.equal((await get(`/api/v1/mattermost/user-mapping/${s.mmUserId}`, wrongScope.headers)).statusCode, 403)
})
