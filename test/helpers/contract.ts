import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = Record<string, any>;

/** What the check needs of a response (TestApp.request's answer). */
export interface ObservedResponse {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  body: unknown;
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  parameters: number;
  operation: Json;
}

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/;

/**
 * The OpenAPI document as a checker of real responses: the operation is found by method and path
 * template; the status, the content type, the required headers and a JSON body must be the ones
 * the document gives for it. Schemas are checked with Ajv's JSON Schema 2020-12 (OpenAPI 3.1's
 * dialect), `$ref`s resolved against the document's components.
 */
export class Contract {
  private readonly routes: Route[] = [];
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
  private readonly validators = new Map<object, ValidateFunction>();

  constructor(private readonly document: Json) {
    addFormats(this.ajv);
    for (const [name, schema] of Object.entries<Json>(document.components?.schemas ?? {})) {
      this.ajv.addSchema(localRefs(schema), refId(name));
    }
    for (const [template, methods] of Object.entries<Json>(document.paths)) {
      for (const [method, operation] of Object.entries<Json>(methods)) {
        const source = template
          .split('/')
          .map((segment) => (/^\{.+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('/');
        this.routes.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${source}/?$`),
          parameters: (template.match(/\{/g) ?? []).length,
          operation,
        });
      }
    }
    // Static segments win over parameters (GET /webhooks/event-types before /webhooks/{id}), as in the router.
    this.routes.sort((a, b) => a.parameters - b.parameters);
    // Compiled up front (see startTestApp): compiling blocks the event loop.
    for (const route of this.routes) {
      for (const response of Object.values<Json>(route.operation.responses ?? {})) {
        for (const media of Object.values<Json>(response.content ?? {})) if (media.schema) this.validator(media.schema);
      }
    }
  }

  /** The documented operation a request reaches, if any. */
  route(method: string, url: string): Route | undefined {
    const path = url.split('?')[0];
    return this.routes.find((r) => r.method === method && r.pattern.test(path));
  }

  /** Every way the response departs from the document; empty when it conforms or no operation is documented. */
  violations(method: string, url: string, response: ObservedResponse): string[] {
    // A HEAD is its GET's answer without the body.
    const route = this.route(method === 'HEAD' ? 'GET' : method, url);
    if (!route) return [];
    const where = `${method} ${route.template} → ${response.status}`;
    const responses: Json = route.operation.responses ?? {};
    const documented: Json | undefined =
      responses[String(response.status)] ?? responses[`${String(response.status)[0]}XX`] ?? responses.default;
    if (!documented) {
      return [`${where}: status not documented (documented: ${Object.keys(responses).join(', ')})`];
    }
    const problems: string[] = [];
    for (const [name, header] of Object.entries<Json>(documented.headers ?? {})) {
      const resolved = header.$ref ? this.pointer(header.$ref) : header;
      if (resolved?.required && response.headers[name.toLowerCase()] === undefined) {
        problems.push(`${where}: required header ${name} missing`);
      }
    }
    const content: Json | undefined = documented.content;
    if (response.text === '') {
      if (content && response.status !== 204 && method !== 'HEAD') {
        problems.push(`${where}: empty body, documented ${Object.keys(content).join(', ')}`);
      }
      return problems;
    }
    if (!content) return [...problems, `${where}: a body where the document says none`];
    const type = String(response.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    const media: Json | undefined = content[type];
    if (!media) {
      return [...problems, `${where}: content type "${type}" not documented (${Object.keys(content).join(', ')})`];
    }
    if (!media.schema) return problems;
    let value: unknown = response.text;
    if (JSON_MEDIA.test(type)) {
      if (response.body === undefined) return [...problems, `${where}: ${type} body is not JSON`];
      value = response.body;
    }
    const validate = this.validator(media.schema);
    if (!validate(value)) {
      const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
      problems.push(`${where}: body does not match the schema: ${errors.join('; ')}`);
    }
    return problems;
  }

  /** A validator of any schema of the document (media types and examples alike). */
  validator(schema: Json): ValidateFunction {
    let validate = this.validators.get(schema);
    if (!validate) {
      validate = this.ajv.compile(localRefs(schema));
      this.validators.set(schema, validate);
    }
    return validate;
  }

  private pointer(ref: string): Json | undefined {
    return ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<Json | undefined>((node, key) => node?.[key], this.document);
  }
}

const refId = (name: string): string => `urn:conveyor:schema:${name}`;

/** `#/components/schemas/X` → the id the schema was added under (a schema is compiled on its own). */
function localRefs(schema: unknown): any {
  return JSON.parse(
    JSON.stringify(schema, (key, value) =>
      key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')
        ? refId(value.slice('#/components/schemas/'.length))
        : value,
    ),
  );
}

/** A response that departs from the OpenAPI document. */
export class ContractViolation extends Error {
  constructor(method: string, url: string, violations: string[]) {
    super(`The response of ${method} ${url} violates the OpenAPI document:\n- ${violations.join('\n- ')}`);
    this.name = 'ContractViolation';
  }
}
