import 'reflect-metadata';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { JobTypeRegistry } from './job-type.registry.js';

const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-registry-'));
function file(name: string, content: unknown): string {
  const target = path.join(dir, name);
  writeFileSync(target, typeof content === 'string' ? content : JSON.stringify(content));
  return target;
}
const registryWith = (env: Record<string, string> = {}): JobTypeRegistry => new JobTypeRegistry(loadConfig(env));
const remoteEntry = { url: 'http://processor.internal/run', inputSchema: { type: 'object' }, cost: 1, timeoutMs: 1000 };

describe('JobTypeRegistry', () => {
  const registry = registryWith();

  it('lists the built-in types with their costs', () => {
    expect(registry.list().map((t) => [t.name, t.cost])).toEqual([
      ['echo', 1],
      ['sleep', 1],
      ['hash', 1],
      ['text.stats', 2],
      ['http.request', 5],
    ]);
    expect(registry.get('hash')?.maxAttempts).toBe(3);
    expect(registry.get('nope')).toBeUndefined();
  });

  it('accepts every built-in example', () => {
    for (const type of registry.list()) expect(registry.validateInput(type.name, type.example)).toEqual([]);
  });

  it('reports each violation on the field it concerns', () => {
    expect(registry.validateInput('sleep', {})).toEqual([{ field: 'input.ms', message: 'is required' }]);
    expect(registry.validateInput('sleep', { ms: 60_001, extra: true })).toEqual([
      { field: 'input.extra', message: 'is not allowed' },
      { field: 'input.ms', message: 'must be <= 60000' },
    ]);
    expect(registry.validateInput('sleep', { ms: 1.5 })).toEqual([{ field: 'input.ms', message: 'must be integer' }]);
    expect(registry.validateInput('hash', { text: 1, algorithm: 'crc32' })).toEqual([
      { field: 'input.text', message: 'must be string' },
      { field: 'input.algorithm', message: 'must be one of: "md5", "sha1", "sha256", "sha512"' },
    ]);
    expect(registry.validateInput('text.stats', { text: 'x', top: 0 })).toEqual([
      { field: 'input.top', message: 'must be >= 1' },
    ]);
    expect(registry.validateInput('echo', [1])).toEqual([{ field: 'input', message: 'must be object' }]);
  });

  it('refuses connection headers and header injection in http.request', () => {
    const errors = registry.validateInput('http.request', {
      method: 'TRACE',
      url: 'file:///etc/passwd',
      headers: { HOST: 'internal', 'Content-Length': '0', 'x-ok': 'fine', 'x-bad': 'a\r\nInjected: 1' },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'input.method', message: expect.stringContaining('must be one of') },
        { field: 'input.url', message: expect.stringContaining('must match pattern') },
        { field: 'input.headers.HOST', message: 'is not an allowed property name' },
        { field: 'input.headers["Content-Length"]', message: 'is not an allowed property name' },
        { field: 'input.headers["x-bad"]', message: expect.stringContaining('must match pattern') },
      ]),
    );
    expect(errors).toHaveLength(5);
  });

  it('reports an unknown type on the type field', () => {
    expect(registry.validateInput('nope', {})).toEqual([{ field: 'type', message: 'unknown job type "nope"' }]);
  });

  it('checks outputs against the output schema', () => {
    expect(registry.validateOutput('hash', { algorithm: 'sha256', hex: 'abc123' })).toBeUndefined();
    expect(registry.validateOutput('hash', { algorithm: 'sha256', hex: 'XYZ' })).toBe(
      'The output does not match the schema of "hash": output.hex must match pattern "^[0-9a-f]+$"',
    );
    expect(registry.validateOutput('nope', {})).toMatch(/unknown job type/);
  });

  it('loads remote types from a JSON or YAML file after the built-ins, with their own schemas', () => {
    const json = file('types.json', [
      { ...remoteEntry, name: 'image.resize', cost: 7, inputSchema: { type: 'object', required: ['width'] } },
    ]);
    const fromJson = registryWith({ JOB_TYPES_FILE: json });
    expect(fromJson.list().map((t) => t.name)).toEqual([
      'echo',
      'sleep',
      'hash',
      'text.stats',
      'http.request',
      'image.resize',
    ]);
    expect(fromJson.get('image.resize')).toMatchObject({ cost: 7, maxAttempts: 3 });
    expect(fromJson.validateInput('image.resize', {})).toEqual([{ field: 'input.width', message: 'is required' }]);
    // No outputSchema: any output is accepted.
    expect(fromJson.validateOutput('image.resize', 'anything')).toBeUndefined();

    const yaml = file(
      'types.yml',
      [
        '- name: pdf.render',
        '  url: http://renderer:8080/render',
        '  inputSchema: {type: object, properties: {html: {type: string}}}',
        '  outputSchema: {type: object, required: [pages]}',
        '  cost: 4',
        '  timeoutMs: 120000',
        '  maxAttempts: 5',
      ].join('\n'),
    );
    const fromYaml = registryWith({ JOB_TYPES_FILE: yaml });
    expect(fromYaml.get('pdf.render')).toMatchObject({ cost: 4, timeoutMs: 121_000, maxAttempts: 5 });
    expect(fromYaml.validateInput('pdf.render', { html: 3 })).toEqual([
      { field: 'input.html', message: 'must be string' },
    ]);
    expect(fromYaml.validateOutput('pdf.render', {})).toMatch(/output.pages is required/);
  });

  it('checks pipeline params against the input schema without its required list, in the same dialect', () => {
    const types = file('dialect.json', [
      {
        ...remoteEntry,
        name: 'thumbs',
        inputSchema: {
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          type: 'object',
          required: ['url', 'size'],
          properties: { url: { type: 'string' }, size: { type: 'integer', minimum: 16 } },
          additionalProperties: false,
        },
      },
    ]);
    const withTypes = registryWith({ JOB_TYPES_FILE: types });
    expect(withTypes.validateParams('thumbs', { size: 64 })).toEqual([]); // url comes from the previous step
    expect(withTypes.validateParams('thumbs', { size: 2 })).toEqual([
      { field: 'params.size', message: 'must be >= 16' },
    ]);
    expect(withTypes.validateParams('thumbs', { colour: 'red' })).toHaveLength(1);
    expect(withTypes.validateInput('thumbs', { size: 64 })).toEqual([{ field: 'input.url', message: 'is required' }]);
  });

  it('asserts JSON Schema formats in remote schemas (ajv-formats)', () => {
    const types = file('formats.json', [
      {
        ...remoteEntry,
        name: 'notify.email',
        inputSchema: {
          type: 'object',
          required: ['to', 'at'],
          properties: { to: { type: 'string', format: 'email' }, at: { type: 'string', format: 'date-time' } },
        },
      },
    ]);
    const withTypes = registryWith({ JOB_TYPES_FILE: types });
    expect(withTypes.validateInput('notify.email', { to: 'ada@example.com', at: '2026-11-28T12:00:00Z' })).toEqual([]);
    expect(withTypes.validateInput('notify.email', { to: 'not an address', at: 'tomorrow' })).toEqual([
      { field: 'input.to', message: 'must match format "email"' },
      { field: 'input.at', message: 'must match format "date-time"' },
    ]);
  });

  it('stops start-up on duplicate names, within the file or against a built-in', () => {
    const twice = file('twice.json', [
      { ...remoteEntry, name: 'dup' },
      { ...remoteEntry, name: 'dup' },
    ]);
    expect(() => registryWith({ JOB_TYPES_FILE: twice })).toThrow('Duplicate job type name "dup"');
    const shadow = file('shadow.json', [{ ...remoteEntry, name: 'echo' }]);
    expect(() => registryWith({ JOB_TYPES_FILE: shadow })).toThrow('Duplicate job type name "echo"');
  });

  it('stops start-up on an invalid schema, naming the type', () => {
    const typo = file('typo.json', [
      { ...remoteEntry, name: 'typo', inputSchema: { type: 'object', requried: ['a'] } },
    ]);
    expect(() => registryWith({ JOB_TYPES_FILE: typo })).toThrow(
      /Job type "typo" has an invalid inputSchema: strict mode: unknown keyword: "requried"/,
    );
    const sameId = { type: 'object', $id: 'https://example.test/shared' };
    const shared = file('shared.json', [
      { ...remoteEntry, name: 'one', inputSchema: sameId },
      { ...remoteEntry, name: 'two', inputSchema: sameId },
    ]);
    expect(registryWith({ JOB_TYPES_FILE: shared }).list()).toHaveLength(7);
  });

  it('stops start-up on a bad allowed CIDR for http.request', () => {
    expect(() => registryWith({ HTTP_JOB_ALLOWED_CIDRS: '10.0.0.0/99' })).toThrow('Invalid CIDR "10.0.0.0/99"');
  });
});
