// Regenerates src/generated from the tenantapi OpenAPI document.
//
//   npm run generate                        # from the checked-in openapi.json
//   OPENAPI_URL=http://127.0.0.1:8080/openapi.json npm run generate
//   OPENAPI_URL=./other.json npm run generate
//
// OPENAPI_OUTPUT overrides the output folder (default src/generated).
// When OPENAPI_URL is a URL and the output is src/generated, the document
// fetched is also written to openapi.json, so that the snapshot and the
// code stay together.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@hey-api/openapi-ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = process.env.OPENAPI_URL || path.join(root, 'openapi.json');
const defaultOutput = path.join(root, 'src', 'generated');
const output = path.resolve(root, process.env.OPENAPI_OUTPUT || defaultOutput);

let input = source;
if (/^https?:\/\//.test(source)) {
  const resp = await fetch(source);
  if (!resp.ok) {
    throw new Error(`GET ${source}: ${resp.status} ${resp.statusText}`);
  }
  const text = await resp.text();
  JSON.parse(text); // fail early on anything that is not JSON
  input = output === defaultOutput
    ? path.join(root, 'openapi.json')
    : path.join(await mkdtemp(path.join(os.tmpdir(), 'tenantapi-openapi-')), 'openapi.json');
  await writeFile(input, text);
} else {
  input = path.resolve(process.cwd(), source);
}

await createClient({
  input,
  output: { path: output, tsConfigPath: path.join(root, 'tsconfig.json') },
  logs: { level: 'warn' },
  plugins: [
    '@hey-api/client-fetch',
    '@hey-api/typescript',
    { name: '@hey-api/sdk' },
  ],
});
