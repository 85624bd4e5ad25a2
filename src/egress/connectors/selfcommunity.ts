// placeholder until the selfcommunity connector lands (see issue 4)
import type { Connector } from '../connector';
import type { TargetConfig } from '../targets';

export function selfcommunityConnector(_target: TargetConfig): Connector {
  throw new Error('the selfcommunity connector is not built yet');
}
