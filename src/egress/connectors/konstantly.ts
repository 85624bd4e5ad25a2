// placeholder until the konstantly connector lands (see issue 4)
import type { Connector } from '../connector';
import type { TargetConfig } from '../targets';

export function konstantlyConnector(_target: TargetConfig): Connector {
  throw new Error('the konstantly connector is not built yet');
}
