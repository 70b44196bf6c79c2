import type { App } from '../http/fastify-types.ts';
import { addErrorResponses } from '../http/schemas.ts';
import { authenticateAdminRequest } from '../http/tenant-api.ts';
import { ADMIN_IDEMPOTENCY_SCOPE, claimIdempotencyKey, storeIdempotentResponse } from '../idempotency.ts';
import { documentIdempotencyKey } from '../openapi.ts';
import { createTenantRoute } from './routes/create.ts';
import { getTenantRoute } from './routes/get.ts';
import { listTenantsRoute } from './routes/list.ts';
import { updateTenantRoute } from './routes/update.ts';

/** The platform admin API under /api/admin, guarded by ADMIN_API_KEY. */
export async function adminApi(app: App): Promise<void> {
  app.addHook('onRequest', authenticateAdminRequest);
  // Its POSTs take Idempotency-Key like the tenant API's, among keys of the admin API's own.
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST') return;
    route.config = { ...route.config, idempotencyScope: ADMIN_IDEMPOTENCY_SCOPE };
    route.preHandler = [claimIdempotencyKey];
    route.onSend = [storeIdempotentResponse];
    route.schema = documentIdempotencyKey(route.schema);
    if (route.schema.response !== undefined) {
      route.schema.response = addErrorResponses(route.schema.response as Record<string, unknown>, [
        'idempotency_key_in_flight',
        'idempotency_key_reused',
        'validation_error',
      ]);
    }
  });
  createTenantRoute(app);
  listTenantsRoute(app);
  getTenantRoute(app);
  updateTenantRoute(app);
}
