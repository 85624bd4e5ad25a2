// Builds the delivery worker from the configured targets.
import type { Logger } from 'pino';
import type { Store } from '../store/types';
import { connectorFor } from './connectors';
import type { TargetConfig } from './targets';
import { DeliveryWorker, type WorkerOptions } from './worker';

export function createWorker(store: Store, targets: TargetConfig[], log: Logger, opts?: WorkerOptions): DeliveryWorker {
  return new DeliveryWorker(store, targets.map((config) => ({ config, connector: connectorFor(config) })), log.child({ component: 'egress' }), opts);
}

export { DeliveryWorker };
export type { TargetConfig };
