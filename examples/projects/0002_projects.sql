-- Projects and their tasks: an example application set. Start your own
-- from a copy of this folder (tenantapi dev --migrations examples/projects).
--
-- Every table whose primary key is one column id of type uuid is served
-- as a resource at /<table>; version, created_at and updated_at are
-- managed by tenantapi when a table has them.

CREATE TYPE task_status AS ENUM ('todo', 'doing', 'done');

CREATE TABLE projects (
    id          uuid PRIMARY KEY,
    code        varchar(12) NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9]*$'),
    title       text NOT NULL CHECK (title <> ''),
    budget      numeric(12, 2) CHECK (budget >= 0),
    starts_on   date,
    tags        text[] NOT NULL DEFAULT '{}',
    settings    jsonb NOT NULL DEFAULT '{}',
    archived    boolean NOT NULL DEFAULT false,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
    title       text NOT NULL CHECK (title <> ''),
    status      task_status NOT NULL DEFAULT 'todo',
    priority    smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
    estimate    double precision,
    due_on      date,
    assignee    uuid,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (due_on IS NULL OR status <> 'done' OR estimate IS NOT NULL)
);

-- Filters work on columns that lead an index.
CREATE INDEX tasks_project_id_idx ON tasks (project_id);
CREATE INDEX tasks_status_idx ON tasks (status);

-- Not resources: no id uuid primary key, or a name starting with _.
CREATE TABLE task_counters (
    project_id  uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    next_number integer NOT NULL DEFAULT 1
);

CREATE TABLE _audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    note    text NOT NULL
);
