/**
 * A vectorize request we cannot honour. The message is one line a user can act on; `code` lets the
 * HTTP layer pick a status (all are 400-class: the input or the options are wrong).
 */
export type VectorizeErrorCode = 'not-a-mask' | 'unknown-class' | 'bad-option' | 'bad-output';

export class VectorizeError extends Error {
  readonly code: VectorizeErrorCode;
  constructor(code: VectorizeErrorCode, message: string) {
    super(message);
    this.name = 'VectorizeError';
    this.code = code;
  }
}
