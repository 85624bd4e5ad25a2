// placeholder until the scim connector lands (see issue 4)
import type { Connector } from '../connector';
import type { TargetConfig } from '../targets';

export function scimConnector(_target: TargetConfig): Connector {
  throw new Error('the scim connector is not built yet');
}
