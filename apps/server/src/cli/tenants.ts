import { SLUG_RULE } from '../platform/config.ts';
import { PLAN_NAMES } from '../platform/plans.ts';
import { createTenant, listTenants } from '../platform/tenants/service.ts';
import { type Command, flag, JSON_OPTION, optionalString, requiredString } from './command.ts';
import { readAllPages } from './pages.ts';
import { formatJson, formatTable } from './table.ts';
import { parsePlan, parseSlug, parseTenantName } from './validate.ts';

const tenantsCreate: Command = {
  name: 'tenants create',
  summary: 'Create a tenant',
  options: {
    slug: {
      type: 'string',
      value: '<slug>',
      required: true,
      description: SLUG_RULE,
    },
    name: { type: 'string', value: '<name>', required: true, description: 'Display name' },
    plan: { type: 'string', value: '<plan>', description: `${PLAN_NAMES.join(' | ')} (default: default)` },
    json: JSON_OPTION,
  },
  details: [
    'Create its first key with: partnerline keys create --tenant <slug> --name <name> --scopes admin',
  ],
  prepare(args) {
    const input = {
      slug: parseSlug(requiredString(args, 'slug'), '--slug'),
      name: parseTenantName(requiredString(args, 'name')),
      plan: parsePlan(optionalString(args, 'plan')),
    };
    return async (ctx) => {
      const tenant = await createTenant(ctx.database.db, input, { actor: { type: 'cli' }, now: ctx.now });
      if (flag(args, 'json')) return ctx.print(formatJson(tenant));
      ctx.print(`Created tenant ${tenant.slug} (${tenant.id}) on plan ${tenant.plan}.`);
    };
  },
};

const tenantsList: Command = {
  name: 'tenants list',
  summary: 'List every tenant, newest first',
  options: { json: JSON_OPTION },
  prepare(args) {
    return async (ctx) => {
      const tenants = await readAllPages((page) => listTenants(ctx.database.db, page));
      if (flag(args, 'json')) return ctx.print(formatJson(tenants));
      const lines = formatTable(tenants, [
        ['ID', (t) => t.id],
        ['SLUG', (t) => t.slug],
        ['NAME', (t) => t.name],
        ['PLAN', (t) => t.plan],
        ['STATUS', (t) => t.status],
        ['CREATED', (t) => t.createdAt],
      ]);
      for (const line of lines) ctx.print(line);
    };
  },
};

export const tenantCommands: Command[] = [tenantsCreate, tenantsList];
