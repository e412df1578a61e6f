import { Injectable, type PipeTransform } from '@nestjs/common';
import { DomainError } from '../../common/errors/domain-error.js';
import { CACHE_KEY_PATTERN } from './cache-keys.js';
import { KEY_RULE } from './dto/cache.dto.js';

/** A cache key in the path: a malformed one is a 400 naming the parameter, like a malformed id. */
@Injectable()
export class CacheKeyParam implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!CACHE_KEY_PATTERN.test(value)) {
      throw new DomainError('BAD_REQUEST', `Path parameter "key" ${KEY_RULE.message}`, {
        errors: [{ field: 'key', message: `key ${KEY_RULE.message}` }],
      });
    }
    return value;
  }
}
