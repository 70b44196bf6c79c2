import type { Module } from '../../app.ts';
import { getCommissionRoute } from './routes/get.ts';
import { listCommissionsRoute, listPartnerCommissionsRoute } from './routes/list.ts';
import { CommissionSchema } from './schemas.ts';
import { approveDueCommissions } from './service.ts';

export const commissionsModule: Module = {
  name: 'commissions',
  routes(app) {
    listCommissionsRoute(app);
    getCommissionRoute(app);
    listPartnerCommissionsRoute(app);
  },
  webhookEvents: {
    'commission.created': CommissionSchema,
    'commission.approved': CommissionSchema,
    'commission.reversed': CommissionSchema,
    'commission.paid': CommissionSchema,
  },
  jobs: (services) => [
    {
      name: 'approve-due-commissions',
      intervalMs: services.config.commissionApprovalIntervalMs,
      run: () => approveDueCommissions(services.db, services.clock.now()),
    },
  ],
};
