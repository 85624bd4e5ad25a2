// series(): several middleware as one router layer, with Express 5's contract for each step.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { series } from '../../src/http/series';

function run(handler: RequestHandler): Promise<{ calls: string[]; nextArg: unknown; nextCalled: boolean }> {
  return new Promise((resolve) => {
    const calls: string[] = [];
    const req = { calls } as unknown as Request;
    const res = {} as Response;
    let done = false;
    const finish = (nextCalled: boolean, nextArg?: unknown) => {
      if (!done) { done = true; resolve({ calls, nextArg, nextCalled }); }
    };
    handler(req, res, ((err?: unknown) => finish(true, err)) as NextFunction);
    setTimeout(() => finish(false), 50);
  });
}
const step = (name: string): RequestHandler => (req, _res, next) => { (req as unknown as { calls: string[] }).calls.push(name); next(); };

test('steps run in order, then the router\'s next without an error', async () => {
  expect(await run(series(step('a'), step('b'), step('c')))).toEqual({ calls: ['a', 'b', 'c'], nextArg: undefined, nextCalled: true });
});

test('a step that answers stops the series; next(err), a throw and a rejection reach the router\'s next', async () => {
  const answers: RequestHandler = (req) => { (req as unknown as { calls: string[] }).calls.push('answered'); };
  expect(await run(series(step('a'), answers, step('never')))).toEqual({ calls: ['a', 'answered'], nextArg: undefined, nextCalled: false });
  const boom = new Error('boom');
  expect((await run(series(step('a'), (_q, _s, next) => next(boom), step('never')))).nextArg).toBe(boom);
  expect((await run(series(() => { throw boom; }, step('never')))).nextArg).toBe(boom);
  const rejects = (async () => { throw boom; }) as unknown as RequestHandler;
  expect((await run(series(rejects, step('never')))).nextArg).toBe(boom);
  // An async step that calls next later continues the series.
  const later: RequestHandler = async (req, _res, next) => { await new Promise((r) => setTimeout(r, 5)); step('later')(req, _res, next); };
  expect((await run(series(later, step('b')))).calls).toEqual(['later', 'b']);
});
