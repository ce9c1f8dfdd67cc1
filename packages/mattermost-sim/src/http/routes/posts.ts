/**
 * Posts: openapi/posts.yaml; rules PROTOCOL §7.
 */
import { SimError } from '../../app-error.js'
import { getChannelOr404 } from '../../domain/channels.js'
import { createPost, getPostOr404, getPostsPage, getPostsSince, patchPost, type NewPost } from '../../domain/posts.js'
import { isValidId } from '../../ids.js'
import { type AddRoute, canPostInChannel, canReadChannel, created, forbidden, idParam, isAdmin, me, objectBody, ok, optString, paging } from '../context.js'

export function postRoutes (route: AddRoute): void {
  route('POST', '/api/v4/posts', async (ctx) => {
    const body = objectBody(ctx, 'post')
    const author = me(ctx)
    const channelId = optString(body, 'channel_id')
    const channel = isValidId(channelId) ? ctx.s.channels.get(channelId) : undefined
    // §7.2 permission first: a channel that does not exist is a 403 for users; admins reach the
    // app layer, which answers 400 invalid_param post.channel_id (§1.1).
    if (channel === undefined) {
      if (!isAdmin(ctx)) throw forbidden()
      throw new SimError(400, 'api.context.invalid_param.app_error', undefined, 'post.channel_id')
    }
    if (!canPostInChannel(ctx, channel)) throw forbidden()
    const input: NewPost = {
      channel_id: channel.id,
      message: typeof body.message === 'string' ? body.message : '',
      root_id: optString(body, 'root_id'),
      file_ids: Array.isArray(body.file_ids) ? body.file_ids.map(String) : undefined,
      props: typeof body.props === 'object' && body.props !== null && !Array.isArray(body.props) ? body.props as Record<string, unknown> : undefined,
      type: optString(body, 'type'),
      pending_post_id: optString(body, 'pending_post_id'),
      create_at: typeof body.create_at === 'number' ? body.create_at : undefined
    }
    const { post } = await createPost(ctx.s, author, channel, input, {
      setOnline: ctx.query.set_online !== 'false',
      allowCreateAt: isAdmin(ctx),
      canRead: (p) => canReadChannel(ctx, ctx.s.channels.get(p.channel_id)!)
    })
    return created(post)
  })

  route('GET', '/api/v4/posts/{post_id}', (ctx) => {
    const post = getPostOr404(ctx.s, idParam(ctx, 'post_id'))
    if (!canReadChannel(ctx, ctx.s.channels.get(post.channel_id)!)) throw forbidden()
    return ok(post)
  })

  // `edit_post` for one's own posts, `edit_others_posts` (admins) for the rest.
  route('PUT', '/api/v4/posts/{post_id}/patch', (ctx) => {
    const post = getPostOr404(ctx.s, idParam(ctx, 'post_id'))
    const body = objectBody(ctx, 'post')
    if (post.user_id !== me(ctx).profile.id && !isAdmin(ctx)) throw forbidden()
    return ok(patchPost(ctx.s, post, body))
  })

  route('GET', '/api/v4/channels/{channel_id}/posts', (ctx) => {
    const channel = getChannelOr404(ctx.s, idParam(ctx, 'channel_id'))
    if (!canReadChannel(ctx, channel)) throw forbidden()
    const since = ctx.query.since
    if (since !== undefined && since !== '') {
      const n = Number(since)
      if (!Number.isInteger(n)) throw new SimError(400, 'api.context.invalid_url_param.app_error', undefined, 'since')
      return ok(getPostsSince(ctx.s, channel.id, n))
    }
    const { page, perPage } = paging(ctx)
    return ok(getPostsPage(ctx.s, channel.id, { page, perPage, before: ctx.query.before, after: ctx.query.after }))
  })
}
