/**
 * A comparison we cannot make. The message is one line a user can act on; `code` lets the HTTP
 * layer pick a status (all are 4xx: the inputs do not fit together, or an option is wrong).
 */
export type ChangeErrorCode =
  /** The masks (or the area and a mask) share no ground. */
  | 'no-overlap'
  /** The masks come from different models or list different classes. */
  | 'class-mismatch'
  /** More classes than a uint8 transition code can hold. */
  | 'too-many-classes'
  /** An input is not a class mask satseg can compare (bands, type, no class list). */
  | 'not-a-mask'
  | 'bad-option';

export class ChangeError extends Error {
  readonly code: ChangeErrorCode;
  constructor(code: ChangeErrorCode, message: string) {
    super(message);
    this.name = 'ChangeError';
    this.code = code;
  }
}
