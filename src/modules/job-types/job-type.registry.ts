import { Injectable, Logger } from '@nestjs/common';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { type FieldError } from '../../common/errors/domain-error.js';
import { AppConfig } from '../../config/config.js';
import { echoJobType } from './builtin/echo.job-type.js';
import { hashJobType } from './builtin/hash.job-type.js';
import { createHttpRequestJobType } from './builtin/http-request.job-type.js';
import { sleepJobType } from './builtin/sleep.job-type.js';
import { textStatsJobType } from './builtin/text-stats.job-type.js';
import { type JobType } from './job-type.js';
import { loadRemoteJobTypes } from './remote-job-types.js';
import { formatPath, toSchemaIssues } from './schema-errors.js';

interface RegisteredType {
  type: JobType;
  validateInput: ValidateFunction;
  /** The input schema without its top-level `required`: for a pipeline step's partial params. */
  validateParams: ValidateFunction;
  validateOutput?: ValidateFunction;
}

function withoutRequired(schema: Record<string, unknown>): Record<string, unknown> {
  const { required: _required, ...rest } = schema;
  return rest;
}

/** The built-in job types, configured (http.request needs the SSRF policy). */
export function builtinJobTypes(config: AppConfig): JobType[] {
  return [
    echoJobType,
    sleepJobType,
    hashJobType,
    textStatsJobType,
    createHttpRequestJobType({
      allowedCidrs: config.jobTypes.httpAllowedCidrs,
      allowHttp: config.jobTypes.httpAllowHttp,
    }),
  ];
}

/**
 * Every job type this process knows: the built-ins plus JOB_TYPES_FILE. Everything is loaded and
 * every schema compiled in the constructor, so a bad file, schema or duplicate name stops start-up
 * with a message naming it, instead of failing the first job of that type.
 */
@Injectable()
export class JobTypeRegistry {
  private readonly logger = new Logger(JobTypeRegistry.name);
  private readonly types = new Map<string, RegisteredType>();

  constructor(config: AppConfig) {
    const ajv = new Ajv2020({
      allErrors: true,
      // Operators' schemas may share an $id; each type's schema stands alone.
      addUsedSchema: false,
      // Unknown keywords (typos) are errors; missing `type` next to `properties` is not.
      strictTypes: false,
      strictTuples: false,
      logger: {
        log: (...args: unknown[]) => this.logger.log(args.join(' ')),
        warn: (...args: unknown[]) => this.logger.warn(args.join(' ')),
        error: (...args: unknown[]) => this.logger.error(args.join(' ')),
      },
    });
    // `format` (email, uri, date-time, uuid, …) is asserted, as operators writing remote schemas expect.
    addFormats.default(ajv);
    for (const type of [...builtinJobTypes(config), ...loadRemoteJobTypes(config.jobTypes.file)]) {
      if (this.types.has(type.name)) {
        throw new Error(`Duplicate job type name "${type.name}" (JOB_TYPES_FILE may not redefine a type)`);
      }
      const compile = (schema: Record<string, unknown>, which: string): ValidateFunction => {
        try {
          return ajv.compile(schema);
        } catch (error) {
          throw new Error(`Job type "${type.name}" has an invalid ${which}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      };
      this.types.set(type.name, {
        type,
        validateInput: compile(type.inputSchema, 'inputSchema'),
        validateParams: compile(withoutRequired(type.inputSchema), 'inputSchema'),
        validateOutput: type.outputSchema && compile(type.outputSchema, 'outputSchema'),
      });
    }
  }

  /** All types, in registration order (built-ins first). */
  list(): JobType[] {
    return [...this.types.values()].map((entry) => entry.type);
  }

  get(name: string): JobType | undefined {
    return this.types.get(name)?.type;
  }

  /** Input violations as `{field: "input.ms", message}`; empty when the input is valid. */
  validateInput(name: string, input: unknown): FieldError[] {
    const entry = this.types.get(name);
    if (!entry) return [{ field: 'type', message: `unknown job type "${name}"` }];
    if (entry.validateInput(input)) return [];
    return toSchemaIssues(entry.validateInput.errors).map(({ path, message }) => ({
      field: formatPath('input', path),
      message,
    }));
  }

  /**
   * A pipeline step's params against the type's input schema as far as they go: each property
   * given is checked, but the top-level `required` ones are not demanded (the previous step's
   * output supplies them). Violations as `{field: "params.algorithm", message}`.
   */
  validateParams(name: string, params: unknown): FieldError[] {
    const entry = this.types.get(name);
    if (!entry) return [{ field: 'type', message: `unknown job type "${name}"` }];
    if (entry.validateParams(params)) return [];
    return toSchemaIssues(entry.validateParams.errors).map(({ path, message }) => ({
      field: formatPath('params', path),
      message,
    }));
  }

  /** Why `output` does not match the type's outputSchema, or undefined when it does (or has none). */
  validateOutput(name: string, output: unknown): string | undefined {
    const entry = this.types.get(name);
    if (!entry) return `unknown job type "${name}"`;
    if (!entry.validateOutput || entry.validateOutput(output)) return undefined;
    const issues = toSchemaIssues(entry.validateOutput.errors).map(
      ({ path, message }) => `${formatPath('output', path)} ${message}`,
    );
    return `The output does not match the schema of "${name}": ${issues.join('; ')}`;
  }
}
