// placeholder until the timeslot connector lands (see issue 4)
import type { Connector } from '../connector';
import type { TargetConfig } from '../targets';

export function timeslotConnector(_target: TargetConfig): Connector {
  throw new Error('the timeslot connector is not built yet');
}
