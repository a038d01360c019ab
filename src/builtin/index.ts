import { join } from 'node:path';
import { packageRoot } from '../engine/native.js';

export {
  BUILTIN_FORESIGHT,
  BUILTIN_DIFFICULTY,
  BUILTIN_EVAL_MAX_TOKENS,
  TINY_RECIPE,
  TINY_RECIPE_NOTES,
  buildTinyModel,
  recipeFingerprint,
  kernelCpu,
  FINGERPRINT_STEPS,
  sftSequence,
  recipeProblems,
  evaluateBuiltin,
  manifestPath,
  tinyManifestOf,
  type TinyRecipe,
  type BuildTinyModelOptions,
  type TinyModelManifest,
} from './recipe.js';

/** The committed built-in model (`npm run build:tiny-model` regenerates it from TINY_RECIPE). */
export const BUILTIN_MODEL_PATH = join(packageRoot, 'models', 'genius-tiny.gguf');

/** Its manifest: recipe, sha256 of the GGUF, measured validation and test accuracy, machine. */
export const BUILTIN_MANIFEST_PATH = join(packageRoot, 'models', 'genius-tiny.json');
