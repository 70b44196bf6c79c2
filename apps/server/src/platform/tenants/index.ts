import type { App } from '../http/fastify-types.ts';
import { authenticateAdminRequest } from '../http/tenant-api.ts';
import { createTenantRoute } from './routes/create.ts';
import { getTenantRoute } from './routes/get.ts';
import { listTenantsRoute } from './routes/list.ts';
import { updateTenantRoute } from './routes/update.ts';

/** The platform admin API under /api/admin, guarded by ADMIN_API_KEY. */
export async function adminApi(app: App): Promise<void> {
  app.addHook('onRequest', authenticateAdminRequest);
  createTenantRoute(app);
  listTenantsRoute(app);
  getTenantRoute(app);
  updateTenantRoute(app);
}
