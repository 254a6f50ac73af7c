// An ESLint rule that holds the dependency direction of DESIGN.md:
// core ← protocol ← engines ← store ← server / agent ← client ← cli.
// Each folder of src/ lists the folders it may import from; anything else is an error.
import { dirname, resolve, relative, sep } from 'node:path';

const ENGINES = ['host', 'pki', 'keyring', 'access', 'auditlog', 'checks', 'backup', 'secrets'];
const BASE = ['core', 'protocol'];

export const ALLOWED = {
  core: ['core'],
  protocol: ['core', 'protocol'],
  ...Object.fromEntries(ENGINES.map((e) => [e, [...BASE, ...ENGINES]])),
  store: [...BASE, ...ENGINES, 'store'],
  server: [...BASE, ...ENGINES, 'store', 'server'],
  agent: [...BASE, ...ENGINES, 'agent'],
  client: [...BASE, 'client'],
  cli: [...BASE, ...ENGINES, 'store', 'server', 'agent', 'client', 'cli'],
};

function layerOf(file, srcRoot) {
  const rel = relative(srcRoot, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'hold the import direction between the folders of src/' },
    schema: [],
    messages: {
      forbidden: '{{from}}/ must not import from {{to}}/ (allowed: {{allowed}}); see DESIGN.md, "Code layout"',
      unknown: 'src/{{from}}/ is not a known layer: add it to scripts/eslint/layers.mjs',
    },
  },
  create(context) {
    const file = context.filename;
    const srcRoot = resolve(context.cwd, 'src');
    const from = layerOf(file, srcRoot);
    if (from === undefined || !file.includes(`${sep}src${sep}`)) return {};
    const allowed = ALLOWED[from];
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      if (!allowed) {
        context.report({ node, messageId: 'unknown', data: { from } });
        return;
      }
      const to = layerOf(resolve(dirname(file), source), srcRoot);
      if (to === undefined || allowed.includes(to)) return;
      context.report({ node, messageId: 'forbidden', data: { from, to, allowed: allowed.join(', ') } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};
