import { GeniusError, messageOf } from '../errors.js';
import { native, type NativeModel, type NativeModelInfo } from './native.js';
import { tokenIds } from './tokens.js';

/** A chat message as chat templates take it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

/** How to load a model file. */
export interface LoadModelOptions {
  /** Layers to offload to the GPU; -1 = all. Ignored by CPU builds. Default 0 (CUDA builds: -1). */
  gpuLayers?: number;
  /** Load only the tokenizer (vocab GGUF files have no weights). */
  vocabOnly?: boolean;
  /** Memory-map the weights (default true). */
  mmap?: boolean;
}

/** What a model is: shape, vocabulary, template and special tokens. */
export type ModelInfo = NativeModelInfo;

/**
 * A loaded GGUF model (weights and tokenizer). Cheap methods (tokenize, templates) are
 * synchronous; loading is asynchronous. Call `dispose()` when done; contexts that use the model
 * keep its weights alive until they are disposed too.
 */
export class Model {
  #native: NativeModel | undefined;
  #info: ModelInfo | undefined;

  private constructor(handle: NativeModel) {
    this.#native = handle;
  }

  /**
   * Loads a GGUF file. The file is validated first (exists, GGUF magic, intact header and tensor
   * table, data within the file), so a bad file rejects with an error naming the cause instead of
   * aborting the process.
   */
  static async load(path: string, options: LoadModelOptions = {}): Promise<Model> {
    if (typeof path !== 'string' || path.length === 0) throw new GeniusError('model path is required');
    const addon = native();
    const gpuLayers = options.gpuLayers ?? (addon.systemInfo().gpuOffload ? -1 : 0);
    try {
      const handle = await addon.loadModel(path, { gpuLayers, vocabOnly: options.vocabOnly ?? false, mmap: options.mmap ?? true });
      return new Model(handle);
    } catch (err) {
      // Re-thrown here so the error carries a JS stack (native rejections have none).
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /** @internal The native handle, for the engine's own classes. Throws once disposed. */
  get handle(): NativeModel {
    if (!this.#native || this.#native.disposed) throw new GeniusError('model is disposed', { code: 'DISPOSED' });
    return this.#native;
  }

  /** Shape, vocabulary and special tokens (read once, then cached). */
  get info(): ModelInfo {
    this.#info ??= this.handle.info();
    return this.#info;
  }

  /**
   * Text -> token ids. `addSpecial` adds BOS/EOS as the model's tokenizer config says;
   * `parseSpecial` turns special-token text (e.g. `<|im_start|>`) into those tokens.
   */
  tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return Array.from(this.handle.tokenize(text, options.addSpecial ?? false, options.parseSpecial ?? false));
  }

  /** Token ids -> text. `special` renders special tokens as their text. */
  detokenize(tokens: readonly number[], options: { special?: boolean } = {}): string {
    return this.handle.detokenize(tokenIds(tokens), options.special ?? false);
  }

  /** The text piece of one token (bytes of a partial UTF-8 character come out as U+FFFD). */
  tokenPiece(token: number, options: { special?: boolean } = {}): string {
    return this.handle.tokenPiece(token, options.special ?? false);
  }

  /**
   * Formats a conversation with the model's chat template (or `template`: a built-in name such
   * as `chatml`, `llama3`, or a template string llama.cpp recognises). `addAssistant` opens the
   * assistant turn, as a prompt for generation needs.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: { addAssistant?: boolean; template?: string } = {}): string {
    return this.handle.applyChatTemplate(messages, options.addAssistant ?? true, options.template);
  }

  /** Frees the handle. Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** Whether `dispose()` has run. */
  get disposed(): boolean {
    return !this.#native || this.#native.disposed;
  }

  /** Same as `dispose()` (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
