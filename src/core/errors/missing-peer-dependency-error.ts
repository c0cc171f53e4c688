import { UpkeepError } from './upkeep-error';

/** An optional peer dependency needed by a subpath entry is not installed; the message says what to install. */
export class MissingPeerDependencyError extends UpkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MISSING_PEER_DEPENDENCY', message, options);
    this.name = 'MissingPeerDependencyError';
  }
}
