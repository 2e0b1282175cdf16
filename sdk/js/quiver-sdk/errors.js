/** Errors a transform raises for the whole call, by the contract's kinds. */

/** A failed call: `kind` is one of the contract's error kinds. */
export class PluginError extends Error {
  constructor(message, kind = 'failed') {
    super(message);
    this.name = 'PluginError';
    this.kind = kind;
  }
}

/** `open` got a configuration it cannot use. */
export const configError = (message) => new PluginError(message, 'invalid-config');

/** `bind` got a schema the transform cannot accept. */
export const schemaError = (message) => new PluginError(message, 'schema-mismatch');

/** The host called in the wrong order. */
export const invalidCall = (message) => new PluginError(message, 'invalid-call');
