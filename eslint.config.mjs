// Lint: type-aware TypeScript rules plus the dependency direction of docs/architecture.md.
// Engine and protocol libraries (xdr, oncrpc, nfs, pool, fs) never import Nest, TypeORM,
// queues or HTTP; lower layers never import higher ones.
import tseslint from 'typescript-eslint';

const frameworks = ['@nestjs/*', 'typeorm', 'pg', 'bullmq', 'ioredis', 'express', '@ferry/platform', '@ferry/control'];
const restrict = (files, extra) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: [{ group: [...frameworks, ...extra], message: 'dependency direction: see docs/architecture.md' }] },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', '**/*.mjs', '**/*.js'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  restrict(['libs/xdr/**/*.ts'], ['@ferry/*']),
  restrict(['libs/oncrpc/**/*.ts'], ['@ferry/nfs', '@ferry/fs', '@ferry/pool']),
  restrict(['libs/pool/**/*.ts'], ['@ferry/xdr', '@ferry/oncrpc', '@ferry/nfs', '@ferry/fs']),
  restrict(['libs/fs/**/*.ts'], ['@ferry/xdr', '@ferry/oncrpc', '@ferry/nfs']),
  restrict(['libs/nfs/**/*.ts'], []),
);
