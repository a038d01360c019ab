import { z } from 'zod';
import { GeniusError } from './errors.js';

// Helpers shared by the settings schemas (foresight, pairs, training, evaluation, the loop config):
// each concept's defaults live in its one zod schema, and these derive the other views of it.

/** An object schema's fields with their defaults stripped, every field optional (descriptions kept). */
export type WithoutDefaults<S extends z.ZodRawShape> = z.ZodObject<
  { [K in keyof S]: z.ZodOptional<z.ZodType<z.output<S[K]>>> },
  z.core.$strict
>;

function inner(field: z.ZodType): z.ZodType {
  return field instanceof z.ZodDefault || field instanceof z.ZodOptional ? inner(field.unwrap() as z.ZodType) : field;
}

/**
 * The same fields, all optional and without defaults: for a layer (a config file's block, CLI
 * flags) whose unset fields fall through to a lower layer instead of to the schema's defaults.
 */
export function withoutDefaults<S extends z.ZodRawShape>(schema: z.ZodObject<S>): WithoutDefaults<S> {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([k, f]) => {
      const field = f as z.ZodType;
      const stripped = inner(field).optional();
      return [k, field.description ? stripped.describe(field.description) : stripped];
    }),
  );
  return z.object(shape).strict() as unknown as WithoutDefaults<S>;
}

/** One field's documentation: its description and default (undefined where it has none). */
export function fieldDoc<S extends z.ZodRawShape>(
  schema: z.ZodObject<S>,
  key: keyof S & string,
): { description: string; default: unknown } {
  const field = schema.shape[key] as unknown as z.ZodType | undefined;
  if (!field) throw new GeniusError(`no setting '${key}'`);
  const description = field.description ?? inner(field).description;
  if (!description) throw new GeniusError(`setting '${key}' has no description`);
  const parsed = field.safeParse(undefined);
  return { description, default: parsed.success ? parsed.data : undefined };
}

/** Validates `input` against `schema`; the error names every bad field by its path. */
export function parseSettings<T extends z.ZodType>(schema: T, input: unknown, source: string): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new GeniusError(`invalid ${source}: ${issues.join('; ')}`);
}
