/**
 * The one catalogue of error codes. Engines throw `BulwarkError(code, …)`; the API
 * maps the code to its HTTP status once, the CLI prints the message and exits with
 * the code's exit status. `docs/errors.md` documents every code (a test holds them
 * in step).
 */
export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, exit: 2, description: 'The request or its arguments are malformed.' },
  INVALID_SELECTOR: { status: 400, exit: 2, description: 'A label selector could not be parsed.' },
  INVALID_LABEL: { status: 400, exit: 2, description: 'A label key or value is not allowed.' },
  INVALID_ROLE: { status: 400, exit: 2, description: 'A role definition is not valid.' },
  INVALID_CSR: { status: 400, exit: 2, description: 'A certificate signing request is malformed or its signature does not verify.' },
  INVALID_POLICY: { status: 400, exit: 2, description: 'An audit policy (Wazuh SCA or native YAML) is malformed.' },
  INVALID_ADVISORIES: { status: 400, exit: 2, description: 'An advisory data set (OSV or Debian security tracker JSON) is malformed.' },
  INVALID_SCHEDULE: { status: 400, exit: 2, description: 'A schedule is not a valid cron expression.' },
  INVALID_TARGET: { status: 400, exit: 2, description: 'A TLS scan target is not of the form host:port.' },
  INVALID_SHARE: { status: 400, exit: 2, description: 'An unseal key share is malformed, mistyped, from another set, repeated, or too few were given.' },
  INVALID_SSH_KEY: { status: 400, exit: 2, description: 'An SSH public key or certificate is malformed or of a kind Bulwark does not accept.' },
  UNAUTHENTICATED: { status: 401, exit: 3, description: 'No valid credential was presented.' },
  FORBIDDEN: { status: 403, exit: 3, description: 'The caller is authenticated but not allowed to do this.' },
  MFA_REQUIRED: { status: 401, exit: 3, description: 'This account needs a one-time code from its authenticator.' },
  MFA_ENROLLMENT_REQUIRED: { status: 403, exit: 3, description: 'A role of this account requires MFA, which is not enrolled yet.' },
  ACCOUNT_LOCKED: { status: 403, exit: 3, description: 'The account is locked.' },
  TOKEN_INVALID: { status: 401, exit: 3, description: 'The join token is unknown, malformed or revoked.' },
  TOKEN_EXPIRED: { status: 401, exit: 3, description: 'The join token has expired.' },
  TOKEN_USED_UP: { status: 401, exit: 3, description: 'The join token has no uses left.' },
  CERT_REVOKED: { status: 403, exit: 3, description: 'The client certificate has been revoked.' },
  CERT_UNKNOWN: { status: 403, exit: 3, description: 'The client certificate was not issued by this cluster.' },
  NODE_REMOVED: { status: 403, exit: 3, description: 'The node has been removed from the fleet.' },
  NOT_FOUND: { status: 404, exit: 4, description: 'The named object does not exist.' },
  NODE_NOT_FOUND: { status: 404, exit: 4, description: 'No node has that id or name.' },
  AMBIGUOUS_NAME: { status: 409, exit: 5, description: 'A name matches more than one object; use the id.' },
  CONFLICT: { status: 409, exit: 5, description: 'The object is in a state that does not allow this.' },
  PAYLOAD_TOO_LARGE: { status: 413, exit: 2, description: 'The request body is larger than the limit.' },
  RATE_LIMITED: { status: 429, exit: 6, description: 'Too many requests or failed attempts; retry later.' },
  PROTOCOL_UNSUPPORTED: { status: 400, exit: 2, description: 'Agent and server share no protocol version.' },
  CA_PIN_MISMATCH: { status: 400, exit: 7, description: "The server's CA does not match the pin given to the agent." },
  INVALID_PIN: { status: 400, exit: 2, description: 'A CA pin is not of the form sha256:<64 hex digits>.' },
  UNREACHABLE: { status: 502, exit: 8, description: 'The server could not be reached.' },
  NOT_INITIALISED: { status: 503, exit: 9, description: 'The data directory holds no cluster or agent identity yet.' },
  KEY_FILE_INVALID: { status: 500, exit: 9, description: 'A key file is missing, unreadable, too open or corrupted.' },
  SEALED: { status: 503, exit: 11, description: 'The server is sealed: its keys are locked until enough of the passphrase or key shares are given.' },
  UNSEAL_FAILED: { status: 401, exit: 3, description: 'The passphrase or key shares given do not unlock the master key.' },
  DECRYPT_FAILED: { status: 500, exit: 9, description: 'A ciphertext could not be authenticated under the keyring.' },
  CONFIG_INVALID: { status: 400, exit: 2, description: 'A configuration value is not valid.' },
  UNAVAILABLE: { status: 503, exit: 8, description: 'The service is not ready.' },
  AUDIT_UNAVAILABLE: { status: 503, exit: 8, description: 'The audit log cannot be written, so the request was refused.' },
  AUDIT_TAMPERED: { status: 500, exit: 10, description: 'The audit log failed verification: an entry or checkpoint was changed, removed or added.' },
  EXEC_DISABLED: { status: 403, exit: 3, description: "Remote commands are disabled in the node agent's own configuration." },
  EXEC_NOT_ALLOWED: { status: 403, exit: 3, description: "The command is not on the node agent's exec allow-list." },
  EXEC_BUSY: { status: 429, exit: 6, description: 'The node already runs as many remote commands as it allows at once.' },
  EXEC_START_FAILED: { status: 400, exit: 2, description: 'The command could not be started on the node: not found on its PATH, or not executable.' },
  NOT_CONNECTED: { status: 503, exit: 8, description: "The node's agent is not connected to this server." },
  DISCONNECTED: { status: 502, exit: 8, description: "The node's agent disconnected before the operation finished." },
  TIMEOUT: { status: 504, exit: 8, description: 'The operation did not finish in time.' },
  REPOSITORY_NOT_FOUND: { status: 404, exit: 4, description: 'No backup repository exists at that location.' },
  REPOSITORY_LOCKED: { status: 409, exit: 5, description: 'Another process holds a lock on the backup repository that this operation cannot share.' },
  REPOSITORY_DAMAGED: { status: 500, exit: 10, description: 'An object of the backup repository is missing, failed authentication or is malformed: damaged or tampered with.' },
  BACKUP_KEY_WRONG: { status: 401, exit: 3, description: 'No key of the backup repository opens with the password or key file given.' },
  UNSAFE_PATH: { status: 400, exit: 2, description: 'A snapshot names a path that would leave the restore target (.., an absolute path, or a symbolic link on the way).' },
  STORAGE_FAILED: { status: 502, exit: 8, description: 'The storage holding the backup repository (a directory or an S3 bucket) failed or could not be reached.' },
  INTERNAL: { status: 500, exit: 1, description: 'An unexpected failure; the server log has the detail.' },
} as const satisfies Record<string, { status: number; exit: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'BulwarkError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exit;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}

export function isBulwarkError(err: unknown): err is BulwarkError {
  return err instanceof BulwarkError;
}

/** The wire shape of every error the API returns. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(err: BulwarkError): ErrorBody {
  return { error: { code: err.code, message: err.message } };
}
