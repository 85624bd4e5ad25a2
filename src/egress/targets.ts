// TARGETS_FILE: the delivery targets, validated at start with messages that name the field.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../config-error';
import type { GroupLinkRule } from '../store/link-rules';
import { DEFAULT_SCHEDULE, parseSchedule } from './retry';

const TARGET_KINDS = ['selfcommunity', 'timeslot', 'konstantly', 'scim', 'webhook'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
  } catch {
    return false;
  }
}, 'must be an http(s) URL without credentials in it');

const match = z.object({
  id: z.string().min(1).optional(),
  externalId: z.string().min(1).optional(),
  displayName: z.string().min(1).optional(),
}).strict().refine((m) => Object.keys(m).length === 1, 'must name exactly one of id, externalId, displayName');

const groupMapping = z.object({
  match,
  remoteId: z.union([z.string().min(1), z.number().int()]).transform(String),
}).strict();

const targetSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, "_", "-" or ".", at most 63'),
  kind: z.enum(TARGET_KINDS),
  tenant: z.string().min(1).default('default'),
  baseUrl: httpUrl,
  credential: z.string().min(1),
  groups: z.array(groupMapping).default([]),
  createGroups: z.boolean().default(false),
  // What a user's deactivation does at this target: "remove" withdraws the user from every linked group (and
  // restores it on reactivation); "keep" leaves target memberships as they are.
  deactivated: z.enum(['remove', 'keep']).default('remove'),
  options: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  retrySchedule: z.array(z.string()).optional(),
  enabled: z.boolean().default(true),
}).strict();

const fileSchema = z.object({ targets: z.array(targetSchema) }).strict();


export interface TargetConfig extends Omit<z.infer<typeof targetSchema>, 'retrySchedule'> {
  /** Delays in ms, one per retry. */
  retrySchedule: number[];
}

/** Every target's configured group mappings, in file order, for the store to resolve at commit (link-rules.ts). */
export function groupLinkRules(targets: readonly TargetConfig[]): GroupLinkRule[] {
  return targets.flatMap((t) => t.groups.map((g) => ({ target: t.name, tenant: t.tenant, match: g.match, remoteId: g.remoteId })));
}

function fieldPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** `${NAME}` anywhere in the credential is replaced by that environment variable, which must be set. */
function expandCredential(raw: string, env: Record<string, string | undefined>, where: string): string {
  return raw.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') throw new ConfigError('TARGETS_FILE', `${where}.credential: environment variable ${name} is not set`);
    return v;
  });
}

export function parseTargets(json: unknown, env: Record<string, string | undefined> = process.env,
  defaultSchedule: string[] = DEFAULT_SCHEDULE): TargetConfig[] {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError('TARGETS_FILE', `${fieldPath(issue.path) || '(file)'}: ${issue.message}`);
  }
  const names = new Set<string>();
  return parsed.data.targets.map((t, i) => {
    const where = `targets[${i}]`;
    if (names.has(t.name)) throw new ConfigError('TARGETS_FILE', `${where}.name: "${t.name}" is used by another target`);
    names.add(t.name);
    let retrySchedule: number[];
    try {
      retrySchedule = parseSchedule(t.retrySchedule ?? defaultSchedule);
    } catch (e) {
      throw new ConfigError('TARGETS_FILE', `${where}.retrySchedule: ${(e as Error).message}`);
    }
    if (t.kind === 'selfcommunity' && t.options.privacy !== undefined && !['public', 'private'].includes(String(t.options.privacy))) {
      throw new ConfigError('TARGETS_FILE', `${where}.options.privacy: must be "public" or "private"`);
    }
    if (t.kind === 'scim' && t.options.dialect !== undefined && !['rfc7644', 'dronahq'].includes(String(t.options.dialect))) {
      throw new ConfigError('TARGETS_FILE', `${where}.options.dialect: must be "rfc7644" or "dronahq"`);
    }
    return { ...t, baseUrl: t.baseUrl.replace(/\/+$/, ''), credential: expandCredential(t.credential, env, where), retrySchedule };
  });
}

export function loadTargetsFile(file: string, env: Record<string, string | undefined> = process.env,
  defaultSchedule?: string[]): TargetConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('TARGETS_FILE', `cannot read "${file}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('TARGETS_FILE', `"${file}" is not valid JSON (${(e as Error).message})`);
  }
  return parseTargets(json, env, defaultSchedule);
}
