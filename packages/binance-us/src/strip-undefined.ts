/**
 * A copy of `value` without its `undefined` fields, so results, `_meta` and error data
 * list only what is known (and `toEqual`/JSON views stay free of empty keys).
 */
export function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
