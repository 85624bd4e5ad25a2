// Webhooks: every change event POSTed as JSON, one event per call in commit order, signed so the receiver can tell
// it came from us: `Scimbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
// target's credential>`. Any 2xx is success. Events are not coalesced: a receiver sees each change.
import { createHmac } from 'node:crypto';
import type { Connector, DeliveryContext } from '../connector';
import { ALL_EVENTS } from '../connector';
import type { TargetConfig } from '../targets';
import { DeliveryError } from '../errors';

function webhookSignature(secret: string, body: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export function webhookConnector(target: TargetConfig): Connector {
  return {
    types: ALL_EVENTS,
    authHeaders: () => ({}),
    async deliver(ctx: DeliveryContext) {
      for (const e of ctx.batch.events) {
        const body = JSON.stringify({ id: `${ctx.batch.tenant}:${e.seq}`, type: e.type, tenant: ctx.batch.tenant, occurredAt: e.occurredAt, data: e.payload });
        const t = Math.floor(Date.now() / 1000);
        try {
          await ctx.call({
            method: 'POST', path: '', rawBody: body,
            headers: { 'scimbridge-signature': webhookSignature(target.credential, body, t), 'scimbridge-event-id': `${ctx.batch.tenant}:${e.seq}` },
          });
        } catch (err) {
          // The failure is this event's; later events of the batch were not tried and stay queued behind it.
          if (err instanceof DeliveryError) throw new DeliveryError(err.kind, err.message, { ...err.info, only: [e.seq] });
          throw err;
        }
        ctx.completed([e.seq]);
      }
    },
  };
}
