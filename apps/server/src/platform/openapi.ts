import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

const DESCRIPTION = `Partnerline's public API: partners, customers, conversion events, transactions, commissions and payouts of a partner program, secured by scoped API keys.

**Base URLs.** \`/api/v1/…\` acts on the API key's own tenant. \`/api/t/{slug}/v1/…\` names the tenant in the path (the paths below work under either), and \`{slug}.<BASE_DOMAIN>/api/v1/…\` names it by host when the server sets \`BASE_DOMAIN\`. The platform admin key (\`ADMIN_API_KEY\`) manages tenants under \`/api/admin\` and may call any tenant URL that names its tenant.

**Errors** are RFC 9457 problem documents (\`application/problem+json\`) with a stable \`code\`. **Lists** page classically (\`page\`, \`limit\`) or by cursor (\`cursor\`, \`limit\`). **Money** is a decimal string plus an ISO 4217 currency code.`;

/** The OpenAPI 3.1 document at /api/doc.json, generated from the route schemas, and Swagger UI at /api/doc. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Partnerline API',
        version: '1.0.0',
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the document describes whichever host serves it, so Swagger UI's "Try it out"
      // calls that host and no deployment is told to call localhost.
      servers: [{ url: '/', description: 'The server this document was fetched from' }],
      tags: [
        { name: 'API keys', description: 'Scoped keys: created once, shown once, revocable' },
        { name: 'Partners', description: 'The people and companies who refer customers' },
        { name: 'Partner groups', description: 'Groups of partners and the commission rules they earn by' },
        { name: 'Customers', description: 'The customers partners referred, attributed to a partner' },
        {
          name: 'Events',
          description: 'Conversion events the tenant reports: clicks, leads, sales and refunds',
        },
        { name: 'Transactions', description: 'Sales and refunds, approved or rejected before they pay out' },
        {
          name: 'Commissions',
          description: 'What partners earned on transactions, by the rules of their group',
        },
        {
          name: 'Payouts',
          description: "Gather a partner's approved commissions per currency and month, then mark them paid",
        },
        {
          name: 'Usage',
          description:
            'Requests per minute, hour, day, week or month: by key, route and status, with latency',
        },
        { name: 'Request logs', description: 'Every request of the last days, with its status and timing' },
        { name: 'Audit log', description: 'Who changed what, when and from where' },
        {
          name: 'Webhooks',
          description:
            'Endpoints subscribed to events, signed per Standard Webhooks, retried, logged and resendable',
        },
        { name: 'Tenants', description: 'Platform administration with ADMIN_API_KEY' },
        { name: 'Health', description: 'Liveness and readiness probes' },
      ],
      components: {
        securitySchemes: {
          ApiKeyHeader: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'The API key in a header',
          },
          BearerAuth: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token' },
        },
      },
      security: [{ ApiKeyHeader: [] }, { BearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/doc',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true },
  });
  // The documented address of the document; Swagger UI keeps its own copy at /api/doc/json.
  app.get('/api/doc.json', { schema: { hide: true } }, async () => app.swagger());
}
