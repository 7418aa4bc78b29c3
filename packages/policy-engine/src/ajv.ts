import { Ajv, type ValidateFunction } from "ajv";
import * as formatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export; under NodeNext the plugin sits on
// `.default` at runtime while the types describe it as the module's default.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats: FormatsPlugin = ((formatsModule as unknown as { default: unknown }).default ??
  formatsModule) as unknown as FormatsPlugin;

/**
 * A fresh Ajv instance with formats. One per compiled policy, so a reload drops the
 * old policy's compiled validators together with the policy instead of growing a
 * process-wide cache.
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

let checker: Ajv | undefined;

/**
 * Compiles a JSON Schema only to find out whether it is valid; returns the error text
 * or `undefined`. The compiled function is dropped so the checker does not grow.
 */
export function checkJsonSchema(schema: unknown): string | undefined {
  checker ??= createAjv();
  try {
    checker.compile(schema as object);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    try {
      checker.removeSchema(schema as object);
    } catch {
      // A schema that failed to compile may not be cached; nothing to remove.
    }
  }
}

/** Compiles a JSON Schema that already passed {@link checkJsonSchema}. */
export function compileJsonSchema(ajv: Ajv, schema: unknown): ValidateFunction {
  return ajv.compile(schema as object);
}
