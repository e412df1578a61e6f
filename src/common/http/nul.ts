/**
 * Where a value holds a string with the NUL character, as a field path (`input.text`,
 * `items[3].customId`), or undefined. PostgreSQL cannot store NUL in `text` or `jsonb`, so such a
 * request would otherwise reach the database and fail there as a 500.
 */
export function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path || 'body' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = findNul(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const here = path ? `${path}.${key}` : key;
      if (key.includes('\0')) return here;
      const found = findNul(item, here);
      if (found) return found;
    }
  }
  return undefined;
}
