/**
 * The Mattermost OpenAPI reference (`/work/shared/mattermost/openapi`, see its README) loaded as one
 * document, and validators for request and response bodies, so tests can check that what Parley
 * sends and what the simulator answers both match the spec.
 *
 * OpenAPI 3.0 specifics handled: fragments concatenated in the upstream order, `$ref` to
 * `#/components/...` (responses, request bodies, schemas), `nullable: true`, formats `int64`/`binary`.
 * Additional properties are allowed unless a schema says otherwise.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { parse } from 'yaml'

/** Upstream build order (README "openapi/"): header + `paths:`, path fragments, then `components:`. */
export const OPENAPI_FILES = ['introduction.yaml', 'users.yaml', 'bots.yaml', 'teams.yaml', 'channels.yaml', 'posts.yaml', 'system.yaml', 'definitions.yaml']

type Json = Record<string, unknown>

export interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Json>>
  components: { schemas: Record<string, Json>, responses?: Record<string, Json>, [k: string]: unknown }
  [k: string]: unknown
}

/** `PARLEY_MATTERMOST_OPENAPI_DIR`, else `<repo>/../shared/mattermost/openapi`. */
export function openApiDir (): string {
  const override = process.env.PARLEY_MATTERMOST_OPENAPI_DIR
  if (override !== undefined && override !== '') return override
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
  return path.resolve(repoRoot, '../shared/mattermost/openapi')
}

const cache = new Map<string, OpenApiDocument>()

/**
 * Reads and parses the spec (cached per directory). The fragments are indented path items, so they
 * only parse once concatenated in `OPENAPI_FILES` order. Throws if a file is missing.
 */
export function loadOpenApi (dir = openApiDir()): OpenApiDocument {
  const hit = cache.get(dir)
  if (hit !== undefined) return hit
  const text = OPENAPI_FILES.map(f => readFileSync(path.join(dir, f), 'utf8').replace(/\s*$/, '\n')).join('')
  const doc = parse(text, { maxAliasCount: -1 }) as OpenApiDocument
  cache.set(dir, doc)
  return doc
}

/** Follows a local `$ref` (`#/components/...`) to its target; other values are returned as is. */
export function resolveRef<T = Json> (doc: OpenApiDocument, value: unknown): T {
  let v = value as Json
  for (let hops = 0; v !== null && typeof v === 'object' && typeof v.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`$ref loop at ${String(v.$ref)}`)
    const ref = v.$ref as string
    if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
    let target: unknown = doc
    for (const part of ref.slice(2).split('/')) {
      target = (target as Json)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
    }
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`)
    v = target as Json
  }
  return v as T
}

const SCHEMAS_ID = 'mattermost-components'

/**
 * OpenAPI 3.0 schema → JSON Schema for Ajv: `nullable` becomes a `null` alternative, component refs
 * point into the registered components document.
 */
function toJsonSchema (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema)
  if (node === null || typeof node !== 'object') return node
  const src = node as Json
  const out: Json = {}
  for (const [k, v] of Object.entries(src)) {
    if (k === 'nullable' || k === 'example' || k === 'examples') continue
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/')) out.$ref = `${SCHEMAS_ID}${v}`
    else if (k === 'properties' && v !== null && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, toJsonSchema(pv)]))
    } else out[k] = toJsonSchema(v)
  }
  if (src.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null']
    else return { anyOf: [out, { type: 'null' }] }
  }
  return out
}

interface Compiled { ajv: Ajv, validators: Map<string, ValidateFunction | null> }
const compiled = new WeakMap<OpenApiDocument, Compiled>()

function compilerFor (doc: OpenApiDocument): Compiled {
  let c = compiled.get(doc)
  if (c === undefined) {
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false })
    ajv.addFormat('int64', true)
    ajv.addFormat('int32', true)
    ajv.addFormat('binary', true)
    ajv.addSchema({ $id: SCHEMAS_ID, components: { schemas: toJsonSchema(doc.components.schemas) } })
    c = { ajv, validators: new Map() }
    compiled.set(doc, c)
  }
  return c
}

function validator (doc: OpenApiDocument, key: string, schema: unknown): ValidateFunction {
  const c = compilerFor(doc)
  let v = c.validators.get(key)
  if (v === undefined || v === null) {
    v = c.ajv.compile(toJsonSchema(schema) as Json)
    c.validators.set(key, v)
  }
  return v
}

function formatErrors (errors: ErrorObject[] | null | undefined, where: string): string[] {
  return (errors ?? []).map(e => `${where}${e.instancePath === '' ? '' : e.instancePath} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`)
}

/** The operation object for `method` + `pathTemplate` (with or without the `/api/v4` prefix). */
export function findOperation (doc: OpenApiDocument, method: string, pathTemplate: string): Json | undefined {
  const item = doc.paths[pathTemplate] ?? doc.paths[`/api/v4${pathTemplate}`]
  if (item === undefined) return undefined
  const op = item[method.toLowerCase()]
  return op === undefined ? undefined : resolveRef(doc, op)
}

function jsonSchemaOf (doc: OpenApiDocument, holder: unknown): unknown {
  const content = resolveRef<Json>(doc, holder)?.content as Record<string, Json> | undefined
  return content?.['application/json']?.schema
}

/**
 * Validates a request body against `requestBody` of the operation. Returns readable errors,
 * empty when valid. A missing required body is an error; an operation without a documented body
 * accepts anything.
 */
export function validateRequestBody (method: string, pathTemplate: string, body: unknown, doc = loadOpenApi()): string[] {
  const op = findOperation(doc, method, pathTemplate)
  if (op === undefined) return [`${method.toUpperCase()} ${pathTemplate} is not in the spec`]
  if (op.requestBody === undefined) return []
  const rb = resolveRef<Json>(doc, op.requestBody)
  if (body === undefined) return rb.required === true ? ['request body is required'] : []
  const schema = jsonSchemaOf(doc, rb)
  if (schema === undefined) return []
  const v = validator(doc, `req ${method} ${pathTemplate}`, schema)
  return v(body) ? [] : formatErrors(v.errors, 'body')
}

/**
 * Validates a response body for `status` against the operation's documented response (exact
 * status, then `default`). An undocumented error status is checked against `AppError`; an
 * undocumented success status is itself an error.
 *
 * One known server/spec gap is tolerated: `POST /channels/{channel_id}/members` with `user_ids`
 * answers an array of the documented `ChannelMember`, so each item is checked.
 */
export function validateResponse (method: string, pathTemplate: string, status: number, body: unknown, doc = loadOpenApi()): string[] {
  const op = findOperation(doc, method, pathTemplate)
  if (op === undefined) return [`${method.toUpperCase()} ${pathTemplate} is not in the spec`]
  const responses = (op.responses ?? {}) as Record<string, unknown>
  const documented = responses[String(status)] ?? responses.default
  let schema: unknown
  if (documented === undefined) {
    if (status < 400) return [`status ${status} is not documented for ${method.toUpperCase()} ${pathTemplate}`]
    schema = { $ref: '#/components/schemas/AppError' }
  } else {
    schema = jsonSchemaOf(doc, documented)
    if (schema === undefined) return []
  }
  const v = validator(doc, `res ${method} ${pathTemplate} ${documented === undefined ? 'apperror' : status}`, schema)
  if (Array.isArray(body) && method.toUpperCase() === 'POST' && pathTemplate.endsWith('/channels/{channel_id}/members')) {
    return body.flatMap((item, i) => v(item) ? [] : formatErrors(v.errors, `body/${i}`))
  }
  return v(body) ? [] : formatErrors(v.errors, 'body')
}
