// How a delivery attempt ended, as thrown by connectors and the HTTP layer. Stable `kind`s drive the worker.
export type DeliveryErrorKind = 'retry' | 'permanent' | 'skip';

export class DeliveryError extends Error {
  constructor(
    readonly kind: DeliveryErrorKind,
    message: string,
    readonly info: {
      status?: number; body?: string; retryAfterMs?: number;
      /** Events of the batch that were delivered before the failure. */
      completed?: number[];
      /** The events the failure is about; the batch's others were not attempted and go back to the queue. */
      only?: number[];
    } = {},
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export const retry = (message: string, info?: DeliveryError['info']) => new DeliveryError('retry', message, info);
export const permanent = (message: string, info?: DeliveryError['info']) => new DeliveryError('permanent', message, info);
export const skip = (message: string) => new DeliveryError('skip', message);
