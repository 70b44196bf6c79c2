import {
  type ApiKeyView,
  insertApiKey,
  type KeyContext,
  listApiKeys,
  revokeApiKey,
  rotateApiKey,
  setApiKeyActive,
} from '../platform/api-keys/service.ts';
import { sendKeyChange } from '../platform/auth/key-changes.ts';
import { getTenantOrThrow } from '../platform/tenants/service.ts';
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
import { formatJson, formatTable } from './table.ts';
import {
  parseEnvironment,
  parseGracePeriod,
  parseKeyId,
  parseKeyName,
  parseScopes,
  parseSlug,
} from './validate.ts';

const PAGE_SIZE = 100;
const TENANT_OPTION: OptionSpec = {
  type: 'string',
  value: '<slug>',
  required: true,
  description: 'The tenant that owns the keys',
};

function tenantSlug(args: ParsedArgs): string {
  return parseSlug(requiredString(args, 'tenant'), '--tenant');
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

const keysList: Command = {
  name: 'keys list',
  summary: "List a tenant's API keys (never their secrets)",
  options: { tenant: TENANT_OPTION, json: JSON_OPTION },
  prepare(args) {
    const slug = tenantSlug(args);
    return async (ctx) => {
      const id = await tenantId(ctx, slug);
      const keys: ApiKeyView[] = [];
      let cursor: string | undefined;
      do {
        const page = await listApiKeys(
          ctx.database.db,
          id,
          { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
          ctx.now,
        );
        keys.push(...page.data);
        cursor = page.pagination.nextCursor ?? undefined;
      } while (cursor);
      if (flag(args, 'json')) return ctx.print(formatJson(keys));
      const lines = formatTable(keys, [
        ['ID', (k) => k.id],
        ['NAME', (k) => k.name],
        ['SCOPES', (k) => k.scopes.join(',')],
        ['ENV', (k) => k.environment],
        ['STATUS', (k) => k.status],
        ['START', (k) => k.start],
        ['LAST USED', (k) => k.lastUsedAt],
      ]);
      for (const line of lines) ctx.print(line);
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
 * A command that changes one key, then tells running servers so they drop it from their caches.
 * `parse` checks the command's own options up front, before the database is opened.
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
    options: { tenant: TENANT_OPTION, ...spec.options, json: JSON_OPTION },
    details: spec.details,
    prepare(args) {
      const slug = tenantSlug(args);
      const keyId = parseKeyId(args.positionals[0] ?? '');
      const options = spec.parse ? spec.parse(args) : (undefined as Options);
      return async (ctx) => {
        const { key, message, notice } = await spec.run(
          keyContext(ctx, await tenantId(ctx, slug)),
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
  details: ['Running servers refuse the key within a second. Revoking a revoked key changes nothing.'],
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
