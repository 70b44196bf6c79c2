import type { Module } from '../../app.ts';
import { acceptInviteRoute } from './routes/accept-invite.ts';
import { activatePartnerRoute } from './routes/activate.ts';
import { createPartnerRoute } from './routes/create.ts';
import { getPartnerRoute } from './routes/get.ts';
import { invitePartnerRoute } from './routes/invite.ts';
import { listPartnersRoute } from './routes/list.ts';
import { revokePartnerRoute } from './routes/revoke.ts';
import { partnerStatsRoute } from './routes/stats.ts';
import { updatePartnerRoute } from './routes/update.ts';
import { PartnerSchema } from './schemas.ts';

export const partnersModule: Module = {
  name: 'partners',
  routes(app) {
    listPartnersRoute(app);
    createPartnerRoute(app);
    getPartnerRoute(app);
    updatePartnerRoute(app);
    invitePartnerRoute(app);
    acceptInviteRoute(app);
    activatePartnerRoute(app);
    revokePartnerRoute(app);
    partnerStatsRoute(app);
  },
  webhookEvents: {
    'partner.created': PartnerSchema,
    'partner.updated': PartnerSchema,
    'partner.invited': PartnerSchema,
    'partner.revoked': PartnerSchema,
  },
};
