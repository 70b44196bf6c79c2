import {
  type ApiKeyView,
  getApiKeyTenantIdOrThrow,
  insertApiKey,
  type KeyContext,
  listAllApiKeys,
  listApiKeys,
  revokeApiKey,
  rotateApiKey,
  setApiKeyActive,
} from '../platform/api-keys/service.ts';
import { sendKeyChange } from '../platform/auth/key-changes.ts';
import { notFound } from '../platform/errors.ts';
import { getTenantOrThrow, listTenants } from '../platform/tenants/service.ts';
import {
  type CliContext,
  type Command,
  flag,
  JSON_OPTION,
  type OptionSpec,
  optionalString,
  type ParsedArgs,
  requiredString,
} from './command.ts';
import { readAllPages } from './pages.ts';
import { type Column, formatJson, formatTable } from './table.ts';
import {
  parseEnvironment,
  parseGracePeriod,
  parseKeyId,
  parseKeyName,
  parseScopes,
  parseSlug,
} from './validate.ts';

const TENANT_OPTION: OptionSpec = {
  type: 'string',
  value: '<slug>',
  required: true,
  description: 'The tenant that owns the keys',
};

function tenantSlug(args: ParsedArgs): string {
  return parseSlug(requiredString(args, 'tenant'), '--tenant');
}

function optionalTenantSlug(args: ParsedArgs): string | undefined {
  const value = optionalString(args, 'tenant');
  return value === undefined ? undefined : parseSlug(value, '--tenant');
}

async function tenantId(ctx: CliContext, slug: string): Promise<string> {
  return (await getTenantOrThrow(ctx.database.db, slug)).id;
}

const keysCreate: Command = {
  name: 'keys create',
  summary: 'Create an API key and print it, once',
  options: {
    tenant: TENANT_OPTION,
    name: {
      type: 'string',
      value: '<name>',
      required: true,
      description: 'What the key is for, e.g. "CRM sync"',
    },
    scopes: {
      type: 'string',
      value: '<a,b>',
      required: true,
      description: 'Comma-separated scopes: read, write, admin or resource:action (partners:read, …)',
    },
    environment: { type: 'string', value: 'live|test', description: 'The key environment (default: live)' },
    json: { type: 'boolean', description: 'Print the key record, with the key, as JSON' },
  },
  details: [
    'The key is printed alone on stdout, so KEY=$(partnerline keys create …) captures it; the notice',
    'goes to stderr. Only a hash is stored: the key cannot be shown again.',
  ],
  prepare(args) {
    const slug = tenantSlug(args);
    const input = {
      name: parseKeyName(requiredString(args, 'name')),
      scopes: parseScopes(requiredString(args, 'scopes')),
      environment: parseEnvironment(optionalString(args, 'environment')),
    };
    return async (ctx) => {
      const created = await insertApiKey(ctx.database.db, {
        ...input,
        tenantId: await tenantId(ctx, slug),
        keyPrefix: ctx.config.keyPrefix,
        createdBy: 'cli',
        now: ctx.now,
      });
      ctx.notice(
        `Created ${created.id} "${created.name}" for tenant ${slug} (scopes ${created.scopes.join(',')}, ${created.environment}). ` +
          'The key is shown only now: store it in your secrets manager.',
      );
      ctx.print(flag(args, 'json') ? formatJson(created) : created.key);
    };
  },
};

type ListedKey = ApiKeyView & { tenant: string };

async function tenantKeys(ctx: CliContext, slug: string): Promise<ListedKey[]> {
  const id = await tenantId(ctx, slug);
  const keys = await readAllPages((page) => listApiKeys(ctx.database.db, id, page, ctx.now));
  return keys.map((key) => ({ tenant: slug, ...key }));
}

async function everyTenantsKeys(ctx: CliContext): Promise<ListedKey[]> {
  const keys = await readAllPages((page) => listAllApiKeys(ctx.database.db, page, ctx.now));
  // Read after the keys, so every key's tenant is among them.
  const tenants = await readAllPages((page) => listTenants(ctx.database.db, page));
  const slugs = new Map(tenants.map((t) => [t.id, t.slug]));
  return keys.map(({ tenantId, ...key }) => ({ tenant: slugs.get(tenantId) ?? tenantId, ...key }));
}

const keysList: Command = {
  name: 'keys list',
  summary: "List every tenant's API keys, or one tenant's (never their secrets)",
  options: {
    tenant: {
      type: 'string',
      value: '<slug>',
      description: "Only this tenant's keys (default: every tenant's)",
    },
    json: JSON_OPTION,
  },
  details: [
    'Keys are listed newest first. Without --tenant the table starts with a TENANT column (the slug);',
    'with --json each key names its tenant in "tenant" either way.',
  ],
  prepare(args) {
    const slug = optionalTenantSlug(args);
    return async (ctx) => {
      const keys = slug === undefined ? await everyTenantsKeys(ctx) : await tenantKeys(ctx, slug);
      if (flag(args, 'json')) return ctx.print(formatJson(keys));
      const columns: Column<ListedKey>[] = [
        ['ID', (k) => k.id],
        ['NAME', (k) => k.name],
        ['SCOPES', (k) => k.scopes.join(',')],
        ['ENV', (k) => k.environment],
        ['STATUS', (k) => k.status],
        ['START', (k) => k.start],
        ['LAST USED', (k) => k.lastUsedAt],
      ];
      if (slug === undefined) columns.unshift(['TENANT', (k) => k.tenant]);
      for (const line of formatTable(keys, columns)) ctx.print(line);
    };
  },
};

function keyContext(ctx: CliContext, tenant: string): KeyContext {
  return {
    db: ctx.database.db,
    tenantId: tenant,
    actor: { type: 'cli' },
    scopes: 'all',
    keyPrefix: ctx.config.keyPrefix,
    now: ctx.now,
  };
}

/**
 * The tenant that owns key `keyId`: key ids are unique across tenants. With --tenant, a key of
 * another tenant is refused exactly like an unknown id, so the answer does not tell it exists.
 */
async function keyOwner(ctx: CliContext, keyId: string, slug: string | undefined): Promise<string> {
  const expected = slug === undefined ? undefined : await tenantId(ctx, slug);
  const owner = await getApiKeyTenantIdOrThrow(ctx.database.db, keyId);
  if (expected !== undefined && owner !== expected) throw notFound('API key', keyId);
  return owner;
}

const OWNER_OPTION: OptionSpec = {
  type: 'string',
  value: '<slug>',
  description: "Act only if this tenant owns the key; another tenant's key is refused as unknown",
};

/**
 * A command that changes one key, named by its id alone, then tells running servers so they drop
 * it from their caches. `parse` checks the command's own options up front, before the database is
 * opened.
 */
function keyAction<Options = undefined>(spec: {
  name: string;
  summary: string;
  details: string[];
  options?: Record<string, OptionSpec>;
  parse?: (args: ParsedArgs) => Options;
  run: (
    kctx: KeyContext,
    id: string,
    options: Options,
  ) => Promise<{ key: ApiKeyView; message: string; notice?: string }>;
}): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    positionals: ['<id>'],
    options: { tenant: OWNER_OPTION, ...spec.options, json: JSON_OPTION },
    details: spec.details,
    prepare(args) {
      const slug = optionalTenantSlug(args);
      const keyId = parseKeyId(args.positionals[0] ?? '');
      const options = spec.parse ? spec.parse(args) : (undefined as Options);
      return async (ctx) => {
        const { key, message, notice } = await spec.run(
          keyContext(ctx, await keyOwner(ctx, keyId, slug)),
          keyId,
          options,
        );
        await sendKeyChange(ctx.config, ctx.database, { keyId });
        if (notice) ctx.notice(notice);
        ctx.print(flag(args, 'json') ? formatJson(key) : message);
      };
    },
  };
}

const keysRevoke = keyAction({
  name: 'keys revoke',
  summary: 'Revoke an API key for good (the record stays)',
  details: [
    'Running servers refuse the key within a second. Revoking a revoked key changes nothing and',
    'prints when it was revoked. Key ids are unique across tenants: --tenant is an optional check.',
  ],
  run: async (kctx, id) => {
    const key = await revokeApiKey(kctx, id);
    return { key, message: `Revoked ${key.id} "${key.name}" at ${key.revokedAt?.toISOString()}.` };
  },
});

const keysDeactivate = keyAction({
  name: 'keys deactivate',
  summary: 'Deactivate an API key until it is activated again',
  details: ['Meanwhile the key gets 401 api_key_inactive.'],
  run: async (kctx, id) => {
    const { after } = await setApiKeyActive(kctx, id, false);
    return { key: after, message: `Deactivated ${after.id} "${after.name}".` };
  },
});

const keysActivate = keyAction({
  name: 'keys activate',
  summary: 'Activate a deactivated API key',
  details: ['The key works again at once.'],
  run: async (kctx, id) => {
    const { after } = await setApiKeyActive(kctx, id, true);
    return { key: after, message: `Activated ${after.id} "${after.name}".` };
  },
});

const keysRotate = keyAction({
  name: 'keys rotate',
  summary: 'Issue a new key with the same settings; the old one expires after a grace period',
  options: {
    'grace-period': {
      type: 'string',
      value: '<seconds>',
      description: 'How long the old key keeps working, 0-604800 (default 86400)',
    },
  },
  details: ['The new key is printed alone on stdout, once, like keys create.'],
  parse: (args) => parseGracePeriod(optionalString(args, 'grace-period')),
  run: async (kctx, id, grace) => {
    const { old, created } = await rotateApiKey(kctx, id, grace);
    const notice = `Rotated ${old.id} into ${created.id}; the old key works until ${old.expiresAt?.toISOString()}. The new key is shown only now.`;
    return { key: created, message: created.key, notice };
  },
});

export const keyCommands: Command[] = [
  keysCreate,
  keysList,
  keysRevoke,
  keysRotate,
  keysDeactivate,
  keysActivate,
];
