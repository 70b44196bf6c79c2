import { canonicalJson } from './canonical-json.ts';
import type { AuditActor, DomainContext } from './context.ts';
import type { Db } from './db/index.ts';
import { newId } from './ids.ts';

/** Fields never written to the audit log, whatever resource they belong to. */
const NEVER_LOGGED = new Set(['keyHash', 'inviteTokenHash', 'key', 'secret', 'version', 'updatedAt']);

type Snapshot = object | undefined;

/** Whether two field values are the same, whatever the order of their keys. */
function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

/**
 * The requested changes that would change something: entries of `changes` whose value differs
 * from `before`'s (undefined ones left out), so a PATCH that sends what is there writes nothing.
 */
export function changedFields<T extends object>(before: object, changes: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(
      ([field, value]) =>
        value !== undefined && !sameValue(value, (before as Record<string, unknown>)[field]),
    ),
  ) as Partial<T>;
}

/** The fields that differ between two snapshots, as `{field: {before, after}}`. */
export function diffFields(
  before: Snapshot,
  after: Snapshot,
): Record<string, { before: unknown; after: unknown }> {
  const changes: Record<string, { before: unknown; after: unknown }> = {};
  const fields = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const field of fields) {
    if (NEVER_LOGGED.has(field)) continue;
    const b = (before as Record<string, unknown> | undefined)?.[field] ?? null;
    const a = (after as Record<string, unknown> | undefined)?.[field] ?? null;
    if (!sameValue(b, a)) changes[field] = { before: b, after: a };
  }
  return changes;
}

export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId: string;
  before?: Snapshot;
  after?: Snapshot;
}

/**
 * Appends one entry to the audit log, in the caller's transaction when `db` is one, so the change
 * and its record commit together.
 */
export async function recordAudit(
  db: Db,
  ctx: { tenantId: string | null; actor: AuditActor; now: Date; origin?: DomainContext['origin'] },
  entry: AuditEntry,
): Promise<void> {
  const actor = ctx.actor;
  await db
    .insertInto('auditLog')
    .values({
      id: newId('aud'),
      tenantId: ctx.tenantId,
      action: entry.action,
      actorType: actor.type,
      actorId: actor.type === 'api_key' ? actor.keyId : null,
      resourceType: entry.resourceType,
      resourceId: entry.resourceId,
      ip: ctx.origin?.ip ?? null,
      userAgent: ctx.origin?.userAgent ?? null,
      requestId: ctx.origin?.requestId ?? null,
      changes: JSON.stringify(diffFields(entry.before, entry.after)),
      createdAt: ctx.now,
    })
    .execute();
}
