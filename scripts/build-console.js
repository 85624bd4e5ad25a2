#!/usr/bin/env node
// Builds the operator console (console/) into dist/console: one bundled, minified app.js (Preact included, no CDN),
// app.css and index.html. Part of `npm run build`, so `npm ci` (prepare) and `npm start` (prestart) run it.
'use strict';
const { cpSync, mkdirSync } = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'console');

async function main() {
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(root, 'console', 'src', 'main.tsx')],
    outfile: path.join(out, 'app.js'),
    bundle: true, minify: true, format: 'esm', target: ['es2022'], jsx: 'automatic', jsxImportSource: 'preact',
    legalComments: 'none', logLevel: 'warning',
  });
  for (const f of ['index.html', 'app.css']) cpSync(path.join(root, 'console', f), path.join(out, f));
}

main().catch((e) => {
  process.stderr.write(`console build failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
