/**
 * Mattermost's REST error: HTTP status plus the AppError body
 * `{id, message, detailed_error, request_id, status_code}` (PROTOCOL §1.1).
 * Thrown by the domain functions and rendered by the HTTP layer.
 */
export class SimError extends Error {
  constructor (
    readonly status: number,
    readonly id: string,
    message?: string,
    readonly detailedError = ''
  ) {
    super(message ?? MESSAGES[id] ?? id)
    this.name = 'SimError'
  }
}

/** The JSON body Mattermost sends for an AppError. `request_id` equals the X-Request-Id header. */
export interface AppErrorBody {
  id: string
  message: string
  detailed_error: string
  request_id: string
  status_code: number
}

export function appErrorBody (err: SimError, requestId: string): AppErrorBody {
  return { id: err.id, message: err.message, detailed_error: err.detailedError, request_id: requestId, status_code: err.status }
}

// English texts for the ids clients see most; clients must key on `id`, never on these (PROTOCOL §1.1).
const MESSAGES: Record<string, string> = {
  'api.context.session_expired.app_error': 'Invalid or expired session, please login again.',
  'api.context.permissions.app_error': 'You do not have the appropriate permissions.',
  'api.context.404.app_error': 'Sorry, we could not find the page.',
  'api.context.invalid_param.app_error': 'Invalid parameter.',
  'api.context.invalid_body_param.app_error': 'Invalid or missing parameter in request body.',
  'api.context.invalid_url_param.app_error': 'Invalid or missing parameter in request URL.',
  'app.user.get_by_username.app_error': 'Unable to find an existing account matching your username for this team.',
  'app.user.missing_account.const': 'Unable to find the user.',
  'app.user.save.username_exists.app_error': 'An account with that username already exists.',
  'app.user.save.email_exists.app_error': 'An account with that email already exists.',
  'app.user_access_token.disabled': 'Personal access tokens are disabled on this server. Please contact your system administrator for details.',
  'app.user_access_token.get_by_user.app_error': 'Unable to get user access tokens by user.',
  'app.team.save.existing.app_error': 'A team with that name already exists.',
  'app.team.get.find.app_error': 'Unable to find the existing team.',
  'app.team.get_by_name.missing.app_error': 'Unable to find the existing team.',
  'app.team.get_member.missing.app_error': 'No team member found for that user ID and team ID.',
  'app.team.join_user_to_team.max_accounts.app_error': 'This team has reached the maximum number of allowed accounts. Contact your System Administrator to set a higher limit.',
  'app.channel.get.existing.app_error': 'Unable to find the existing channel.',
  'app.channel.get_by_name.missing.app_error': 'Channel does not exist.',
  'app.channel.get_member.missing.app_error': 'No channel member found for that user ID and channel ID.',
  'store.sql_channel.save_channel.exists.app_error': 'A channel with that name already exists on the same team.',
  'api.channel.add_user_to_channel.type.app_error': 'Can not add user to this channel type.',
  'api.channel.create_channel.direct_channel.team_restricted_error': 'A direct channel can not be created between these users because they do not share a team in common.',
  'api.post.create_post.can_not_post_to_deleted.error': 'Can not post to deleted channel.',
  'api.post.create_post.can_not_post_in_restricted_dm.error': 'Can not post in a restricted direct message.',
  'api.post.create_post.root_id.app_error': 'Invalid RootId parameter.',
  'api.post.deduplicate_create_post.pending': 'Rejected post since another client is making the same request.',
  'app.post.get.app_error': 'Unable to get the post.',
  'model.post.is_valid.msg.app_error': 'Invalid Message.',
  'api.server.service_unavailable.app_error': 'The server is unavailable (simulated outage).',
  'api.sim.injected_fault.app_error': 'Injected fault.'
}
