import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.demo/**', '.fleet/**', '.rollgate/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The engine knows nothing about GitHub (rule 3): only src/actions may import @actions/*,
    // and only src/actions and src/github (the page's read-only REST adapter) @octokit/*.
    files: ['src/**/*.ts'],
    ignores: ['src/actions/**', 'src/github/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@actions/*', '@octokit/*'],
              message: 'Only src/actions/* may talk to GitHub.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/github/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@actions/*'],
              message: 'Only src/actions/* may import @actions/*: src/github uses @octokit/rest.',
            },
          ],
        },
      ],
    },
  },
  {
    // The engine takes its clock and environment as ports.
    files: ['src/engine/**/*.ts', 'src/plan/**/*.ts', 'src/model/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'The engine reads no environment: pass it in.',
        },
        { object: 'Date', property: 'now', message: 'Use the Clock port.' },
      ],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'Use the Clock port.' }],
    },
  },
);
