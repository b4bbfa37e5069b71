// A small typed client of the tenant API over the generated one: it sends
// X-Tenant-ID and the bearer credential on every request, takes
// Idempotency-Key on creates and If-Match on writes, returns each row with
// its ETag and version, and throws TenantApiError for problem answers.
// Every resource goes through the same code; the Resources map below is the
// only place a resource is named.

import { type Client, createClient, createConfig } from './generated/client/index.js';
import type {
  CreateItemData,
  CreateProjectData,
  CreateTaskData,
  Item,
  ListItemsData,
  ListProjectsData,
  ListTasksData,
  PatchItemData,
  PatchProjectData,
  PatchTaskData,
  Project,
  ReplaceItemData,
  ReplaceProjectData,
  ReplaceTaskData,
  Task,
} from './generated/types.gen.js';
import { TenantApiError } from './errors.js';

export * from './generated/index.js';
export { TenantApiError, type FieldError, type ProblemCode } from './errors.js';

/** The generated types of one resource: its row, bodies and list query. */
export interface ResourceTypes<Row = unknown, Create = unknown, Replace = unknown, Patch = unknown, Query = unknown> {
  row: Row;
  create: Create;
  replace: Replace;
  patch: Patch;
  query: Query;
}

/** ResourceTypes from the generated operations of a resource. */
type FromOperations<
  Row,
  C extends { body?: unknown },
  R extends { body?: unknown },
  P extends { body?: unknown },
  L extends { query?: unknown },
> = ResourceTypes<Row, NonNullable<C['body']>, NonNullable<R['body']>, NonNullable<P['body']>, NonNullable<L['query']>>;

/**
 * The resources of the application set the client was generated from,
 * by path. After regenerating for a set of your own, add a line per table.
 */
export interface Resources {
  items: FromOperations<Item, CreateItemData, ReplaceItemData, PatchItemData, ListItemsData>;
  projects: FromOperations<Project, CreateProjectData, ReplaceProjectData, PatchProjectData, ListProjectsData>;
  tasks: FromOperations<Task, CreateTaskData, ReplaceTaskData, PatchTaskData, ListTasksData>;
}

/** A resource without generated types: rows are plain JSON objects. */
export type UntypedResource = ResourceTypes<
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, string | number | boolean>
>;

/** A row with what the response said of its version. */
export interface Versioned<T> {
  data: T;
  /** The `ETag`, e.g. `"3"`: pass it (or `version`) as `ifMatch`. */
  etag: string;
  version: number;
  requestId: string | null;
}

/** The answer to a create. */
export interface Created<T> extends Versioned<T> {
  /** The `Location` of the new row. */
  location: string;
  /** True when an `Idempotency-Key` repeat returned the stored answer. */
  replayed: boolean;
}

/** One page of a list. */
export interface Page<T> {
  rows: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** `If-Match`: an ETag as read (`"3"`), a version number (3), a list or `*`. */
export type IfMatch = string | number;

export interface WriteOptions {
  /** Write only if the row is still at this ETag or version (412 otherwise). */
  ifMatch?: IfMatch;
}

export interface CreateOptions {
  /** Makes the create safe to retry (SPEC §3: 24 hours, scoped to the tenant). */
  idempotencyKey?: string;
}

export type ListQuery<R extends ResourceTypes> = R['query'] & { limit?: number; cursor?: string };

/** The calls of one resource. */
export interface ResourceClient<R extends ResourceTypes> {
  readonly name: string;
  /** One page; `cursor` from the previous page's `nextCursor`. */
  list(query?: ListQuery<R>): Promise<Page<R['row']>>;
  /** Every row matching query, page after page until `next_cursor` is null. */
  listAll(query?: Omit<ListQuery<R>, 'cursor'>): AsyncGenerator<R['row'], void, undefined>;
  get(id: string): Promise<Versioned<R['row']>>;
  create(body: R['create'], options?: CreateOptions): Promise<Created<R['row']>>;
  /** PUT: replaces every writable field; an omitted one takes its default. */
  replace(id: string, body: R['replace'], options?: WriteOptions): Promise<Versioned<R['row']>>;
  /** PATCH as a JSON Merge Patch (RFC 7396): `null` resets a field. */
  patch(id: string, patch: R['patch'], options?: WriteOptions): Promise<Versioned<R['row']>>;
  delete(id: string, options?: WriteOptions): Promise<void>;
}

export interface TenantClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8080` or an API Gateway stage URL. */
  baseUrl: string;
  /** The tenant every request acts on (`X-Tenant-ID`). */
  tenantId: string;
  /**
   * The tenant's API key or JWT, sent as `Authorization: Bearer …`; a
   * function is called before every request (to refresh a JWT). Omit it
   * only for a server running with `AUTH_MODE=none`.
   */
  token?: string | (() => string | Promise<string>);
  /** Headers for every request, such as `X-Request-ID`. */
  headers?: Record<string, string>;
  /** A fetch of your own (tests, proxies); the global one otherwise. */
  fetch?: typeof fetch;
}

export interface TenantClient {
  readonly tenantId: string;
  /**
   * The generated client, configured with the tenant header and the
   * credential, for the generated functions: `listTasks({ client,
   * headers: { 'X-Tenant-ID': tenantId }, query })`.
   */
  readonly client: Client;
  /** The calls of a resource, typed when it is one of Resources. */
  resource<N extends keyof Resources>(name: N): ResourceClient<Resources[N]>;
  resource(name: string): ResourceClient<UntypedResource>;
}

const bearer = [{ scheme: 'bearer', type: 'http' }] as const;

/** A client of one tenant of the API. */
export function createTenantClient(options: TenantClientOptions): TenantClient {
  const { token } = options;
  const client = createClient(
    createConfig({
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      headers: { ...options.headers, 'X-Tenant-ID': options.tenantId },
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(token === undefined ? {} : { auth: typeof token === 'function' ? () => token() : token }),
    }),
  );

  async function send(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    init: { body?: unknown; query?: object | undefined; headers?: Record<string, string> } = {},
  ): Promise<{ data: unknown; response: Response }> {
    const result = await client.request({
      method,
      url,
      security: bearer,
      headers: init.headers ?? {},
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(init.query === undefined ? {} : { query: init.query as Record<string, unknown> }),
    });
    if (result.error !== undefined || !result.response.ok) {
      throw new TenantApiError(result.response, result.error);
    }
    return { data: result.data, response: result.response };
  }

  function resource(name: string): ResourceClient<UntypedResource> {
    const collection = `/${encodeURIComponent(name)}`;
    const one = (id: string) => `${collection}/${encodeURIComponent(id)}`;
    type Row = UntypedResource['row'];

    const list = async (query?: object): Promise<Page<Row>> => {
      const { data } = await send('GET', collection, { query });
      const page = data as Record<string, unknown>;
      const rows = page[name];
      if (!Array.isArray(rows)) {
        throw new TypeError(`GET ${collection}: the page has no "${name}" array`);
      }
      return { rows: rows as Row[], nextCursor: typeof page['next_cursor'] === 'string' ? page['next_cursor'] : null };
    };

    return {
      name,
      list,
      async *listAll(query?: object) {
        let cursor: string | null = null;
        do {
          const page: Page<Row> = await list(cursor === null ? query : { ...query, cursor });
          yield* page.rows;
          cursor = page.nextCursor;
        } while (cursor !== null);
      },
      async get(id) {
        return versioned(await send('GET', one(id)));
      },
      async create(body, options) {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (options?.idempotencyKey !== undefined) {
          headers['Idempotency-Key'] = options.idempotencyKey;
        }
        const answer = await send('POST', collection, { body, headers });
        return {
          ...versioned(answer),
          location: answer.response.headers.get('Location') ?? '',
          replayed: answer.response.headers.get('Idempotent-Replayed') === 'true',
        };
      },
      async replace(id, body, options) {
        return versioned(await send('PUT', one(id), { body, headers: writeHeaders('application/json', options) }));
      },
      async patch(id, patch, options) {
        return versioned(await send('PATCH', one(id), { body: patch, headers: writeHeaders('application/merge-patch+json', options) }));
      },
      async delete(id, options) {
        await send('DELETE', one(id), { headers: writeHeaders(undefined, options) });
      },
    };
  }

  return {
    tenantId: options.tenantId,
    client,
    // The typed overload is the same calls: the types come from Resources.
    resource: resource as TenantClient['resource'],
  };
}

function writeHeaders(contentType: string | undefined, options: WriteOptions | undefined): Record<string, string> {
  const headers: Record<string, string> = contentType === undefined ? {} : { 'Content-Type': contentType };
  if (options?.ifMatch !== undefined) {
    headers['If-Match'] = typeof options.ifMatch === 'number' ? `"${options.ifMatch}"` : options.ifMatch;
  }
  return headers;
}

function versioned<T>(answer: { data: unknown; response: Response }): Versioned<T> {
  const etag = answer.response.headers.get('ETag') ?? '';
  const fromTag = /^"(\d+)"$/.exec(etag)?.[1];
  const fromBody = (answer.data as { version?: unknown } | null)?.version;
  return {
    data: answer.data as T,
    etag,
    version: fromTag !== undefined ? Number(fromTag) : typeof fromBody === 'number' ? fromBody : 0,
    requestId: answer.response.headers.get('X-Request-ID'),
  };
}
