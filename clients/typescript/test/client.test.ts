// Tests of the client against a running `tenantapi serve --migrations
// examples/projects` with two tenants, each with an API key:
//
//   TENANTAPI_URL=http://127.0.0.1:8080 \
//   TENANTAPI_TENANT_A=alpha TENANTAPI_KEY_A=tak_… \
//   TENANTAPI_TENANT_B=beta TENANTAPI_KEY_B=tak_… npm test
//
// `go test ./cmd/tenantapi -run TestTypeScriptClient` starts such a server
// on a fresh database and runs them.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { createTenantClient, getHealth, listTasks, TenantApiError, type Task } from '../src/index.js';

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: these tests run against a tenantapi server (see the top of this file)`);
  }
  return v;
}

const baseUrl = env('TENANTAPI_URL');
const tenantA = env('TENANTAPI_TENANT_A');
const keyA = env('TENANTAPI_KEY_A');
const tenantB = env('TENANTAPI_TENANT_B');
const keyB = env('TENANTAPI_KEY_B');

const alpha = createTenantClient({ baseUrl, tenantId: tenantA, token: keyA });
const beta = createTenantClient({ baseUrl, tenantId: tenantB, token: () => Promise.resolve(keyB) });

/** Asserts that fn rejects with a TenantApiError of status and code. */
async function rejectsWith(fn: () => Promise<unknown>, status: number, code: string): Promise<TenantApiError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TenantApiError, `expected a TenantApiError, got ${String(caught)}`);
  assert.equal(caught.status, status, caught.message);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.type, `https://tenantapi.dev/problems/${code}`);
  assert.ok(caught.title.length > 0);
  assert.match(caught.requestId ?? '', /^[A-Za-z0-9._:-]+$/);
  return caught;
}

/** A project code no other test run uses: [A-Z][A-Z0-9]*, at most 12. */
function projectCode(): string {
  return 'P' + randomUUID().replace(/-/g, '').slice(0, 11).toUpperCase();
}

describe('items', () => {
  const items = alpha.resource('items');

  test('create, read, replace, patch, list and delete', async () => {
    const created = await items.create({ name: 'Widget', attributes: { color: 'red' } });
    assert.equal(created.etag, '"1"');
    assert.equal(created.version, 1);
    assert.equal(created.replayed, false);
    assert.equal(created.location, `/items/${created.data.id}`);
    assert.deepEqual(created.data.attributes, { color: 'red' });
    assert.equal(created.data.description, '');
    assert.match(created.data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const id = created.data.id;

    const read = await items.get(id);
    assert.deepEqual(read.data, created.data);
    assert.equal(read.etag, '"1"');

    const replaced = await items.replace(id, { name: 'Gadget', description: 'shiny' }, { ifMatch: read.etag });
    assert.equal(replaced.version, 2);
    assert.equal(replaced.data.name, 'Gadget');
    assert.deepEqual(replaced.data.attributes, {}, 'an omitted field goes back to its default');

    const patched = await items.patch(id, { description: null, attributes: { size: 3 } }, { ifMatch: replaced.version });
    assert.equal(patched.etag, '"3"');
    assert.equal(patched.data.description, '');
    assert.deepEqual(patched.data.attributes, { size: 3 });

    const page = await items.list({ id });
    assert.deepEqual(page.rows, [patched.data]);
    assert.equal(page.nextCursor, null);

    await items.delete(id, { ifMatch: '*' });
    await rejectsWith(() => items.get(id), 404, 'item-not-found');
    await rejectsWith(() => items.delete(id), 404, 'item-not-found');
  });

  test('a stale If-Match is 412 precondition-failed', async () => {
    const { data, etag } = await items.create({ name: 'contended' });
    const second = await items.patch(data.id, { name: 'first writer' }, { ifMatch: etag });
    assert.equal(second.version, 2);
    await rejectsWith(() => items.patch(data.id, { name: 'second writer' }, { ifMatch: etag }), 412, 'precondition-failed');
    await rejectsWith(() => items.replace(data.id, { name: 'second writer' }, { ifMatch: 1 }), 412, 'precondition-failed');
    await rejectsWith(() => items.delete(data.id, { ifMatch: etag }), 412, 'precondition-failed');
    assert.equal((await items.get(data.id)).data.name, 'first writer');
    await items.delete(data.id, { ifMatch: second.etag });
  });

  test('an Idempotency-Key replays the create; reused with another body it is 409', async () => {
    const idempotencyKey = `order-${randomUUID()}`;
    const first = await items.create({ name: 'once' }, { idempotencyKey });
    const again = await items.create({ name: 'once' }, { idempotencyKey });
    assert.equal(first.replayed, false);
    assert.equal(again.replayed, true);
    assert.deepEqual(again.data, first.data);
    assert.equal(again.location, first.location);
    await rejectsWith(() => items.create({ name: 'twice' }, { idempotencyKey }), 409, 'idempotency-key-reused');
    assert.equal((await items.list({ id: first.data.id })).rows.length, 1);
  });

  test('a validation error lists its fields', async () => {
    const err = await rejectsWith(() => items.create({ name: '' }), 422, 'validation-failed');
    assert.ok(err.errors.some((e) => e.field === '/name'), JSON.stringify(err.errors));
  });
});

describe('projects and tasks', () => {
  const projects = alpha.resource('projects');
  const tasks = alpha.resource('tasks');

  test('create, read, replace, patch, filter and delete', async () => {
    const code = projectCode();
    const project = await projects.create({ code, title: 'Launch', budget: 1250.5, starts_on: '2026-12-01', tags: ['q4'] });
    assert.equal(project.version, 1);
    assert.equal(project.data.code, code);
    assert.equal(project.data.budget, 1250.5);
    assert.equal(project.data.archived, false);
    assert.deepEqual(project.data.tags, ['q4']);

    const task = await tasks.create({ project_id: project.data.id, title: 'Write the plan', priority: 2 });
    assert.equal(task.data.status, 'todo');
    assert.equal(task.data.estimate, null);

    const doing = await tasks.patch(task.data.id, { status: 'doing', estimate: 1.5 }, { ifMatch: task.etag });
    assert.equal(doing.version, 2);
    assert.equal(doing.data.status, 'doing');

    const replaced = await projects.replace(project.data.id, { code, title: 'Launch v2', archived: true }, { ifMatch: project.etag });
    assert.equal(replaced.data.title, 'Launch v2');
    assert.equal(replaced.data.budget, null, 'an omitted nullable field goes back to null');
    assert.deepEqual(replaced.data.tags, []);

    const filtered = await tasks.list({ project_id: project.data.id, status: 'doing' });
    assert.deepEqual(filtered.rows.map((t) => t.id), [task.data.id]);
    assert.equal((await tasks.list({ project_id: project.data.id, status: 'done' })).rows.length, 0);

    // The generated functions work with the configured client too.
    const generated = await listTasks({ client: alpha.client, headers: { 'X-Tenant-ID': tenantA }, query: { project_id: project.data.id } });
    assert.equal(generated.error, undefined);
    assert.deepEqual(generated.data?.tasks.map((t: Task) => t.id), [task.data.id]);

    await rejectsWith(() => projects.delete(project.data.id), 409, 'conflict');
    await tasks.delete(task.data.id, { ifMatch: doing.etag });
    await projects.delete(project.data.id, { ifMatch: replaced.version });
    await rejectsWith(() => projects.get(project.data.id), 404, 'item-not-found');
  });

  test('a broken CHECK or a duplicate unique value is an error with its field', async () => {
    const err = await rejectsWith(() => projects.create({ code: 'lower', title: 'bad code' }), 422, 'validation-failed');
    assert.ok(err.errors.some((e) => e.field === '/code'), JSON.stringify(err.errors));
    const code = projectCode();
    const first = await projects.create({ code, title: 'one' });
    await rejectsWith(() => projects.create({ code, title: 'two' }), 409, 'conflict');
    await projects.delete(first.data.id);
  });

  test('pagination follows next_cursor to the end', async () => {
    const project = await projects.create({ code: projectCode(), title: 'Many tasks' });
    const total = 55; // more than the default page size of 50
    const made = new Set<string>();
    for (let i = 0; i < total; i += 11) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(11, total - i) }, (_, j) => tasks.create({ project_id: project.data.id, title: `task ${i + j}` })),
      );
      for (const t of batch) made.add(t.data.id);
    }
    assert.equal(made.size, total);

    // Page by page, with a small limit.
    const seen: string[] = [];
    let pages = 0;
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof tasks.list>> = await tasks.list(
        cursor === null ? { project_id: project.data.id, limit: 20 } : { project_id: project.data.id, limit: 20, cursor },
      );
      pages++;
      assert.ok(page.rows.length <= 20);
      seen.push(...page.rows.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.equal(pages, 3);
    assert.equal(seen.length, total);
    assert.deepEqual(new Set(seen), made);
    assert.deepEqual(seen, [...seen].sort(), 'ordered by id');

    // listAll with the default page size.
    let count = 0;
    for await (const t of tasks.listAll({ project_id: project.data.id })) {
      assert.ok(made.has(t.id));
      count++;
    }
    assert.equal(count, total);

    await rejectsWith(() => tasks.list({ project_id: project.data.id, cursor: 'not-a-cursor' }), 400, 'invalid-cursor');
    await rejectsWith(() => tasks.list({ limit: 501 }), 400, 'invalid-query');
  });
});

describe('tenants and credentials', () => {
  test("one tenant's key with another tenant's id is 403 forbidden", async () => {
    const crossed = createTenantClient({ baseUrl, tenantId: tenantB, token: keyA });
    await rejectsWith(() => crossed.resource('items').list(), 403, 'forbidden');
    await rejectsWith(() => crossed.resource('projects').create({ code: projectCode(), title: 'x' }), 403, 'forbidden');
  });

  test('a tenant sees only its own rows', async () => {
    const mine = await alpha.resource('items').create({ name: 'private to alpha' });
    await rejectsWith(() => beta.resource('items').get(mine.data.id), 404, 'item-not-found');
    assert.equal((await beta.resource('items').list({ id: mine.data.id })).rows.length, 0);
    await alpha.resource('items').delete(mine.data.id);
  });

  test('an unknown key is 401 unauthorized', async () => {
    const stranger = createTenantClient({ baseUrl, tenantId: tenantA, token: 'tak_not_a_key' });
    await rejectsWith(() => stranger.resource('items').list(), 401, 'unauthorized');
  });

  test('an unknown resource is 404 not-found', async () => {
    await rejectsWith(() => alpha.resource('nothing_here').list(), 404, 'not-found');
  });

  test('the generated functions reach the unauthenticated routes', async () => {
    const health = await getHealth({ client: alpha.client });
    assert.equal(health.response.status, 200);
  });
});
