import { LineCounter, isScalar, parseDocument } from 'yaml';
import type { Policy } from './model.js';
import { NATIVE_FORMAT, parseNativePolicy } from './parse-native.js';
import { parseScaPolicy } from './parse-sca.js';
import { PolicySource, policyError } from './yaml-source.js';

/**
 * Parses a policy file: the native format when `policy.format` is
 * `bulwark/v1`, a Wazuh SCA policy when there is no `format`. A malformed
 * policy is refused with `INVALID_POLICY` and one line,
 * `<file>:<line>:<col>: <what is wrong> (<what to do>)`.
 */
export function parsePolicy(text: string, file: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const { line, col } = lines.linePos(yamlError.pos[0]);
    throw policyError(file, line, col, `invalid YAML: ${yamlError.message.split('\n')[0]}`, 'fix the YAML syntax');
  }
  const src = new PolicySource(file, doc, lines);
  if (doc.contents === null) src.fail(null, 'the policy file is empty', 'start with policy: and checks:');
  const root = src.map(doc.contents, 'the policy file');
  const policyField = src.required(root, 'policy', doc.contents, 'policy file');
  const info = src.map(policyField.value, 'policy');
  const format = info.get('format');
  if (format === undefined) return parseScaPolicy(src, root, doc.contents);
  const value = src.resolve(format.value);
  if (!isScalar(value) || value.value !== NATIVE_FORMAT) {
    src.fail(format.value ?? format.key, `unknown policy format ${JSON.stringify(isScalar(value) ? value.value : null)}`, `write format: ${NATIVE_FORMAT}, or leave it out for a Wazuh SCA policy`);
  }
  return parseNativePolicy(src, root, doc.contents);
}
