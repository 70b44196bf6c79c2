import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The OpenAPI document, walked as plain JSON. */
type Json = any;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let server: TestServer;
let doc: Json;
beforeAll(async () => {
  server = await startServer();
  const response = await call(server, 'GET', '/api/doc.json');
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(() => server.close());

/**
 * Every method and path the server routes, from Fastify's own route tree (`printRoutes`): each
 * line is a node whose label continues its parent's path, with the methods registered on it.
 */
function registeredRoutes(tree: string): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4}|├── |└── )*)(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match?.[2]) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = Math.max(depth - 1, 0);
    const path = `${stack.join('')}${match[2]}`;
    stack.push(match[2]);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== 'HEAD') routes.push({ method, path });
    }
  }
  return routes;
}

/** Fastify's `/partners/:id` as OpenAPI's `/partners/{id}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

function operations(): { method: string; path: string; op: Json }[] {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

describe('GET /api/doc.json', () => {
  it('is an OpenAPI 3.1.0 document with info, servers and tags', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.info.license).toMatchObject({ name: expect.any(String) });
    expect(doc.servers.length).toBeGreaterThan(0);
    for (const tag of doc.tags) expect(tag.description, tag.name).toEqual(expect.any(String));
  });

  it('documents every route served under /api/v1 and /api/admin, and nothing that is not served', () => {
    const served = registeredRoutes(server.app.printRoutes({ commonPrefix: false }))
      .filter(({ path }) => path.startsWith('/api/v1/') || path.startsWith('/api/admin/'))
      .map(({ method, path }) => `${method} ${openApiPath(path)}`);
    expect(served).toContain('GET /api/v1/partners');
    expect(served).toContain('PATCH /api/v1/partners/{id}');
    expect(served).toContain('POST /api/admin/tenants');

    const documented = operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    const documentedApi = documented.filter((op) => / \/api\/(v1|admin)\//.test(op));
    expect([...new Set(served)].sort()).toEqual([...documentedApi].sort());
    expect(documented).toEqual(expect.arrayContaining(['GET /health', 'GET /ready']));
  });

  it('every documented operation is served', () => {
    for (const { method, path } of operations()) {
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      expect(server.app.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${path}`).toBe(
        true,
      );
    }
  });

  it('hides the /api/t/{tenantSlug}/v1 twins and the documentation routes', () => {
    const paths = Object.keys(doc.paths);
    expect(paths.filter((path) => path.startsWith('/api/t/'))).toEqual([]);
    expect(paths.filter((path) => path.startsWith('/api/doc'))).toEqual([]);
  });

  it('every operation has a unique operationId, a summary and a declared tag', () => {
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((tag: Json) => tag.name));
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      expect(op.operationId, where).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      expect(ids.has(op.operationId), `${where}: duplicate ${op.operationId}`).toBe(false);
      ids.add(op.operationId);
      expect(op.summary, where).toEqual(expect.any(String));
      expect(op.tags?.length, where).toBeGreaterThan(0);
      for (const tag of op.tags) expect(tags.has(tag), `${where}: tag ${tag}`).toBe(true);
    }
  });

  it('every operation has a 2xx response with a JSON schema and an example', () => {
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      const success = Object.entries<Json>(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      expect(success.length, where).toBeGreaterThan(0);
      for (const [status, response] of success) {
        const media = response.content?.['application/json'];
        expect(media?.schema, `${where} ${status}`).toBeTypeOf('object');
        expect(media.example ?? media.examples, `${where} ${status}: example`).toBeDefined();
      }
    }
  });

  it('every operation documents its 4xx answers as problem+json with a code and an example', () => {
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      const clientErrors = Object.entries<Json>(op.responses).filter(([status]) => /^4\d\d$/.test(status));
      expect(clientErrors.length, where).toBeGreaterThan(0);
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const media = response.content?.['application/problem+json'];
        expect(media, `${where} ${status}`).toBeDefined();
        expect(media.schema.required, `${where} ${status}`).toEqual(
          expect.arrayContaining(['type', 'title', 'status', 'code', 'detail', 'requestId']),
        );
        expect(media.example?.status, `${where} ${status}: example`).toBe(Number(status));
      }
    }
  });

  /** The one keyless API operation: a leaked key is its own proof. */
  const LEAK_REPORT = '/api/v1/api-keys/revoke-leaked';

  it('tenant operations document the auth answers', () => {
    for (const { method, path, op } of operations()) {
      if (!path.startsWith('/api/v1/') && !path.startsWith('/api/admin/')) continue;
      if (path === LEAK_REPORT) continue;
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401']));
    }
  });

  it('every example in the document validates against its schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const failures: string[] = [];
    const check = (schema: Json, example: unknown, where: string) => {
      const validate = ajv.compile(schema);
      if (!validate(example)) failures.push(`${where}: ${ajv.errorsText(validate.errors)}`);
    };
    const walk = (node: Json, where: string): void => {
      if (Array.isArray(node)) {
        for (const [i, child] of node.entries()) walk(child, `${where}/${i}`);
        return;
      }
      if (node === null || typeof node !== 'object') return;
      if (node.schema && 'example' in node) check(node.schema, node.example, `${where}/example`);
      if (node.schema && node.examples) {
        for (const [name, example] of Object.entries<Json>(node.examples)) {
          check(node.schema, example.value, `${where}/examples/${name}`);
        }
      }
      const isSchema = 'type' in node || 'anyOf' in node || 'properties' in node;
      if (isSchema && Array.isArray(node.examples)) {
        for (const [i, example] of (node.examples as unknown[]).entries()) {
          check(node, example, `${where}/examples/${i}`);
        }
      }
      for (const [key, child] of Object.entries<Json>(node)) {
        if (key !== 'example' && key !== 'examples') walk(child, `${where}/${key}`);
      }
    };
    walk(doc.paths, '#/paths');
    walk(doc.components ?? {}, '#/components');
    expect(failures).toEqual([]);
  });

  it('defines both key schemes and requires one of them by default; the probes need none', () => {
    expect(doc.components.securitySchemes.ApiKeyHeader).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    });
    expect(doc.components.securitySchemes.BearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual(expect.arrayContaining([{ ApiKeyHeader: [] }, { BearerAuth: [] }]));
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/ready'].get.security).toEqual([]);
    expect(doc.paths[LEAK_REPORT].post.security).toEqual([]);
    for (const { method, path, op } of operations()) {
      if (path.startsWith('/api/') && path !== LEAK_REPORT)
        expect(op.security, `${method} ${path}`).not.toEqual([]);
    }
  });

  it('is the same document Swagger UI loads', async () => {
    const ui = await call(server, 'GET', '/api/doc/json');
    expect(ui.status).toBe(200);
    expect(ui.body).toEqual(doc);
  });
});

describe('Swagger UI', () => {
  it('GET /api/doc serves the UI as HTML', async () => {
    const response = await fetch(`${server.url}/api/doc`, { redirect: 'follow' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('swagger-ui');
  });
});

describe('in production', () => {
  const env = { NODE_ENV: 'production', LOG_LEVEL: 'silent' };

  it('the docs routes are 404 problems; the probes still answer', async () => {
    const production = await startServer({ env });
    try {
      for (const path of ['/api/doc.json', '/api/doc', '/api/doc/json', '/api/doc/static/index.html']) {
        const response = await call(production, 'GET', path);
        expect(response.status, path).toBe(404);
        expect(response.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
      }
      expect((await call(production, 'GET', '/health')).status).toBe(200);
    } finally {
      await production.close();
    }
  });

  it('DOCS_ENABLED=true turns them on', async () => {
    const production = await startServer({ env: { ...env, DOCS_ENABLED: 'true' } });
    try {
      const document = await call(production, 'GET', '/api/doc.json');
      expect(document.status).toBe(200);
      expect(document.body.openapi).toBe('3.1.0');
      const ui = await fetch(`${production.url}/api/doc`);
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      await production.close();
    }
  });
});

describe('redocly lint --extends=recommended', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'partnerline-openapi-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds no errors and no warnings', { timeout: 180_000 }, async () => {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc, null, 2));
    const require = createRequire(import.meta.url);
    const manifestPath = require.resolve('@redocly/cli/package.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const bin = join(
      dirname(manifestPath),
      typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.redocly,
    );

    const run = promisify(execFile);
    const result = await run(
      process.execPath,
      [bin, 'lint', '--extends=recommended', file, '--format=json'],
      {
        timeout: 150_000,
        maxBuffer: 64 * 1024 * 1024,
        // No telemetry or update check: the lint must not need the network.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' },
      },
    ).catch((error: { stdout?: string; stderr?: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }));

    const start = result.stdout.indexOf('{');
    expect(start, `no JSON from redocly: ${result.stderr}`).toBeGreaterThanOrEqual(0);
    const report = JSON.parse(result.stdout.slice(start));
    const problems = report.problems.map(
      (p: Json) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });
});
