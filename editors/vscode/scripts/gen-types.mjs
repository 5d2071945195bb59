// Generates src/protocol.ts from the sidecar's JSON Schema (protocol/schema.json).
//
//   node scripts/gen-types.mjs           write src/protocol.ts
//   node scripts/gen-types.mjs --check   exit 1 when src/protocol.ts is not what the schema gives
//
// The schema's `methods`, `notifications` and `tools` maps become the `WireContract`
// interface, so method names and their params/result types come from the schema too.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const here = dirname(fileURLToPath(import.meta.url));
const SCHEMA = resolve(here, '../../../protocol/schema.json');
const TARGET = resolve(here, '../src/protocol.ts');

/**
 * Property-level titles ("Sessionid") would each become a named alias, and a `$ref` with
 * sibling keywords (`default`) a second copy of its type; only definitions keep their titles.
 */
function withoutTitles(node) {
  if (Array.isArray(node)) return node.map(withoutTitles);
  if (node === null || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') return { $ref: node.$ref };
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== 'title')
      .map(([key, value]) => [
        key,
        key === 'properties'
          ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, withoutTitles(sub)]))
          : withoutTitles(value),
      ]),
  );
}

function closedObject(properties) {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties).sort(), properties };
}

function contractSchema(schema) {
  const $defs = Object.fromEntries(
    Object.entries(schema.$defs).map(([name, def]) => [name, { ...withoutTitles(def), title: name }]),
  );
  const methods = Object.fromEntries(
    Object.entries(schema.methods).map(([name, m]) => [name, closedObject({ params: m.params, result: m.result })]),
  );
  return {
    title: 'WireContract',
    description: 'Every request (params and result), notification and tool of the wire protocol, by name.',
    ...closedObject({
      methods: closedObject(methods),
      notifications: closedObject(
        Object.fromEntries(Object.entries(schema.notifications).map(([name, n]) => [name, n.params])),
      ),
      tools: closedObject(schema.tools),
    }),
    $defs,
  };
}

function constants(schema) {
  const codes = Object.entries(schema.errorCodes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, code]) => `  ${name}: ${code},`)
    .join('\n');
  return [
    `export const PROTOCOL_VERSION = ${JSON.stringify(schema.protocolVersion)};`,
    '',
    'export const ERROR_CODES = {',
    codes,
    '} as const;',
    '',
  ].join('\n');
}

export async function render() {
  const schema = JSON.parse(readFileSync(SCHEMA, 'utf8'));
  const types = await compile(contractSchema(schema), 'WireContract', {
    bannerComment:
      '/* Generated from protocol/schema.json by scripts/gen-types.mjs (npm run gen:types). Do not edit. */',
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
    enableConstEnums: false,
    format: true,
    style: { singleQuote: true, printWidth: 120 },
  });
  return `${types}\n${constants(schema)}`;
}

const text = await render();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(TARGET, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error(
      'src/protocol.ts is stale: protocol/schema.json changed. Run `npm run gen:types` and commit the result.',
    );
    process.exit(1);
  }
  console.log('src/protocol.ts matches protocol/schema.json');
} else {
  writeFileSync(TARGET, text);
  console.log(`wrote ${TARGET}`);
}
