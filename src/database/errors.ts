/**
 * True for an error PostgreSQL raised because of the data a statement carried — SQLSTATE class 22
 * (data exception: invalid text or JSON, out of range, untranslatable character) or 54 (program
 * limit exceeded: too deeply nested, too large). Running the same statement again cannot succeed,
 * unlike a lost connection or a deadlock.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}
