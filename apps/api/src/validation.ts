/**
 * Ajv set-up for request validation. Bodies are validated strictly: no type coercion (Fastify's
 * default would turn `null` or `12` into strings) and unknown fields are an error, not silently
 * removed. Query strings and params are coerced, since they arrive as text.
 */
import Ajv, { type ErrorObject } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaValidationError } from 'fastify/types/schema.js'

function makeAjv (coerce: boolean) {
  const ajv = new Ajv.default({ coerceTypes: coerce ? 'array' : false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
  addFormats.default(ajv, { mode: 'full' })
  return ajv
}
const bodyAjv = makeAjv(false)
const textAjv = makeAjv(true)

export function validatorCompiler ({ schema, httpPart }: { schema: object, httpPart?: string }) {
  return (httpPart === 'body' ? bodyAjv : textAjv).compile(schema)
}

/** Formats the first Ajv error so the message names the field: `body/device/name is required`. */
export function schemaErrorFormatter (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const all = errors as unknown as ErrorObject[]
  const e = all[0]
  const where = `${dataVar}${e.instancePath ?? ''}`
  let message: string
  // A union of literals (TypeBox `Type.Union([Type.Literal(…)])`) fails once per branch, then `anyOf`.
  const consts = all.filter(x => x.keyword === 'const' && x.instancePath === e.instancePath).map(x => (x.params as { allowedValue: unknown }).allowedValue)
  if (consts.length > 1 && all.some(x => x.keyword === 'anyOf' && x.instancePath === e.instancePath)) {
    return new Error(`${where} must be one of ${consts.map(c => JSON.stringify(c)).join(', ')}`)
  }
  if (e.keyword === 'required') message = `${where}/${(e.params as { missingProperty: string }).missingProperty} is required`
  else if (e.keyword === 'additionalProperties') message = `${where}/${(e.params as { additionalProperty: string }).additionalProperty} is not allowed`
  else if (e.keyword === 'enum' || e.keyword === 'const') message = `${where} must be one of ${JSON.stringify((e.params as { allowedValues?: unknown[], allowedValue?: unknown }).allowedValues ?? [(e.params as { allowedValue?: unknown }).allowedValue])}`
  else message = `${where} ${e.message}`
  return new Error(message)
}
