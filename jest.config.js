/** jose 6 ships only ES modules: jest's CommonJS runtime gets it transpiled by ts-jest (allowJs). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json', diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(jose)/)'],
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/reporters/summary.js'],
};
