// Opens what both the server and the CLI need: the store (migrated) and the resolved JWT keys.
import type { Logger } from 'pino';
import { resolveKeySource } from './auth/keys';
import { createVerifier, type TokenVerifier } from './auth/verify';
import type { Config, JwtConfig } from './config';
import { SqliteStore } from './store/sqlite';
import type { Store } from './store/types';

export interface Runtime {
  store: Store;
  jwt: JwtConfig;
  verifier: TokenVerifier;
  migrated: string[];
}

export function openStore(config: Config): Store {
  return new SqliteStore(config.database);
}

export async function openRuntime(config: Config, log: Logger, opts: { migrate?: boolean } = {}): Promise<Runtime> {
  const store = openStore(config);
  const migrated = opts.migrate === false ? [] : await store.migrate();
  const jwt = await resolveKeySource(config.jwt, { sqliteFile: config.database.file, logger: log });
  const verifier = createVerifier(jwt, (jti) => store.isRevoked(jti));
  return { store, jwt, verifier, migrated };
}
