// A configuration mistake, naming the variable (or file field) at fault: start-up prints it on one line and exits.
// Its own module, so that what validates configuration (config.ts, egress/targets.ts) need not import each other.
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}
