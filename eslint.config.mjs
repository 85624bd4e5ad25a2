// Lint (part of `npm test`): typescript-eslint's recommended rules without type information (fast), plus no import
// cycles between modules. Dead exports are knip's job (knip.json).
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
      // Dependencies are parsed to follow cycles: with the TypeScript parser for .ts files.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The store and connectors read loosely typed JSON and driver rows; `any` is kept to a few marked places.
      '@typescript-eslint/no-explicit-any': 'off',
      // A closure may read a `let` that is assigned once, later (main.ts: the worker starts after listen).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // On Node 20 an AsyncLocalStorage, once run, hooks every promise the process creates afterwards: one Bulk made
    // every later request of a PostgreSQL replica slower. Context is passed explicitly (actors, together()'s view).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['node:async_hooks', 'async_hooks'].map((name) => ({
        name, importNames: ['AsyncLocalStorage', 'createHook'], message: 'Pass context explicitly: an async hook slows every promise of the process.',
      })) }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly', fetch: 'readonly', performance: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['eslint.config.mjs'], languageOptions: { sourceType: 'module' } },
);
