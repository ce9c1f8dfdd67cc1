/**
 * OpenAPI document generated from the route schemas (`/docs/json`) and Swagger UI (`/docs`).
 * @see https://github.com/fastify/fastify-swagger
 */
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Parley API', version: '0.1.0', description: 'Mattermost bridge and secure chat server' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Session JWT, API key or gateway token' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'parley_session' }
        }
      },
      security: [{ bearer: [] }, { cookie: [] }]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'docs' })
