// One connector per target kind.
import type { Connector } from '../connector';
import type { TargetConfig, TargetKind } from '../targets';
import { konstantlyConnector } from './konstantly';
import { scimConnector } from './scim';
import { selfcommunityConnector } from './selfcommunity';
import { timeslotConnector } from './timeslot';
import { webhookConnector } from './webhook';

const factories: Record<TargetKind, (t: TargetConfig) => Connector> = {
  selfcommunity: selfcommunityConnector,
  timeslot: timeslotConnector,
  konstantly: konstantlyConnector,
  scim: scimConnector,
  webhook: webhookConnector,
};

export function connectorFor(target: TargetConfig): Connector {
  return factories[target.kind](target);
}
