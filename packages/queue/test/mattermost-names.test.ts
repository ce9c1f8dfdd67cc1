/**
 * Mattermost name rules (PROTOCOL.md §3) and the derivation of a valid team name from any slug.
 */
import t from 'tap'
import { channelNameProblem, mattermostUsernameFor, teamNameFromSlug, teamNameProblem } from '../src/mattermost-names.js'

t.test('any slug gives a valid team name', async (t) => {
  const slugs = ['acme', 'Acme_Corp.2024', 'a', '-', '', 'api', 'apitest', 'admin-team', 'posters', 'ÄÖÜ gmbh', 'x'.repeat(100), 'a--b', '__x__', '9lives', 'playbooks-r-us', 'team']
  for (const slug of slugs) {
    const name = teamNameFromSlug(slug)
    t.equal(teamNameProblem(name), undefined, `"${slug}" → "${name}" is valid`)
    for (const n of [2, 17, 1000]) t.equal(teamNameProblem(teamNameFromSlug(slug, n)), undefined, `suffix ${n} stays valid`)
  }
  t.equal(teamNameFromSlug('Acme Corp'), 'acme-corp')
  t.equal(teamNameFromSlug('acme', 2), 'acme-2')
  t.equal(teamNameFromSlug('api'), 'team-api', 'reserved prefix avoided')
  t.equal(teamNameFromSlug('x'.repeat(100), 12).length, 64)
})

t.test('team and channel name problems are named', async (t) => {
  t.match(teamNameProblem('a'), /2 to 64/)
  t.match(teamNameProblem('Acme'), /lowercase/)
  t.match(teamNameProblem('-acme'), /start and end/)
  t.match(teamNameProblem('signup-now'), /reserved word "signup"/)
  t.equal(channelNameProblem('town-square'), undefined)
  t.equal(channelNameProblem('a'), undefined)
  t.equal(channelNameProblem('proj_x-1'), undefined)
  t.match(channelNameProblem(''), /1 to 64/)
  t.match(channelNameProblem('Has Spaces'), /lowercase/)
  t.match(channelNameProblem('_x'), /start with a letter or digit/)
  t.match(channelNameProblem(`${'a'.repeat(26)}__${'b'.repeat(26)}`), /direct or group/)
  t.match(channelNameProblem('0123456789abcdef0123456789abcdef01234567'), /direct or group/)
})

t.test('usernames map to Mattermost rules', async (t) => {
  t.equal(mattermostUsernameFor('Ada.Lovelace'), 'ada.lovelace')
  t.equal(mattermostUsernameFor('jo hn+x'), 'jo-hn-x')
  t.equal(mattermostUsernameFor('all'), 'all-user')
  t.equal(mattermostUsernameFor('x'.repeat(80)).length, 64)
})
