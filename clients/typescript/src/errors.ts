import type { Problem } from './generated/types.gen.js';

/** A problem code of the API (SPEC §4), or another string from a proxy. */
export type ProblemCode = Problem['code'] | (string & {});

/** One offending field of a `validation-failed` error. */
export interface FieldError {
  /** A JSON Pointer into the request body (`/name`, `/attributes/x`). */
  field: string;
  message: string;
}

/**
 * An error answer of the API: its `application/problem+json` body
 * (RFC 9457) with the response's status and headers. An answer that is not
 * a problem document (a proxy's HTML page, say) gets code `unknown`.
 */
export class TenantApiError extends Error {
  override readonly name = 'TenantApiError';
  /** The HTTP status. */
  readonly status: number;
  /** The machine-readable error class, such as `precondition-failed`. */
  readonly code: ProblemCode;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  /** With `validation-failed`: every offending field; otherwise empty. */
  readonly errors: readonly FieldError[];
  /** The response's `X-Request-ID`, to quote to the operator. */
  readonly requestId: string | null;
  /** `Retry-After` in seconds, with 409 `conflict`, 429 and 503. */
  readonly retryAfter: number | null;
  /** The response, its body already read. */
  readonly response: Response;

  constructor(response: Response, body: unknown) {
    const p = isProblem(body) ? body : undefined;
    const title = p?.title ?? (response.statusText || `HTTP ${response.status}`);
    const detail = p?.detail ?? (typeof body === 'string' ? body.slice(0, 500) : '');
    super(`${response.status} ${p?.code ?? 'unknown'}: ${detail || title}`);
    this.status = p?.status ?? response.status;
    this.code = p?.code ?? 'unknown';
    this.title = title;
    this.detail = detail;
    this.type = p?.type ?? 'about:blank';
    this.errors = Array.isArray(p?.errors) ? p.errors : [];
    this.requestId = response.headers.get('X-Request-ID');
    const retry = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    this.retryAfter = Number.isNaN(retry) ? null : retry;
    this.response = response;
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string';
}
