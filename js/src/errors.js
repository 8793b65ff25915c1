// The errors this package throws (beside TypeError for a wrong argument type), as the Python runtime's
// src/edge_sentiment/errors.py names them: each message says what was wrong and what to do.

/** A bundle that is missing, changed, or not one this package reads. */
export class BundleError extends Error {
  constructor(message) {
    super(message);
    this.name = "BundleError";
  }
}

/** A text or an option the model cannot take (a lone surrogate, a text too long with nowhere to cut it, a bad count). */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = "InputError";
  }
}
