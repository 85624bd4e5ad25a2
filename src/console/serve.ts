// The operator console at /console: the page and its two assets, built into dist/console by scripts/build-console.js.
// Only those three files are served; the page talks to /admin with the token the operator pastes. Its CSP allows
// scripts, styles and requests to this gateway only (no inline script or style), framing by nobody.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Request, type Response, type Router } from 'express';
import { sendScimError } from '../http/scim-error';

export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** dist/console beside the package.json this module belongs to (from dist/src/console or, under ts-jest, src/console). */
export function consoleAssetsDir(from = __dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist', 'console');
}

export function consoleRouter(dir = consoleAssetsDir()): Router {
  const r = express.Router();
  // Read once: three small files, fixed for the life of the process.
  const cache = new Map<string, Buffer>();
  const file = (name: string): Buffer | undefined => {
    if (!cache.has(name)) {
      const p = path.join(dir, name);
      if (!existsSync(p)) return undefined;
      cache.set(name, readFileSync(p));
    }
    return cache.get(name);
  };
  const send = (name: string) => (_req: Request, res: Response) => {
    const body = file(name);
    if (!body) {
      sendScimError(res, 404, undefined, 'The console is not built: run npm run build');
      return;
    }
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.type(FILES[name]).send(body);
  };
  r.get('/', (req, res) => {
    // /console → /console/ so that the page's relative world is the console's own.
    if (!req.originalUrl.split('?')[0].endsWith('/')) {
      res.redirect(308, `${req.baseUrl}/`);
      return;
    }
    send('index.html')(req, res);
  });
  r.get('/app.js', send('app.js'));
  r.get('/app.css', send('app.css'));
  r.use((_req, res) => sendScimError(res, 404, undefined, 'No such console file'));
  return r;
}
