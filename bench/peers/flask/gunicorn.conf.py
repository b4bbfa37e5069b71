"""gunicorn settings of the Flask peer: 2 x cores + 1 sync workers, each with
one database connection opened after the fork."""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8082")
workers = 2 * multiprocessing.cpu_count() + 1
worker_class = "sync"
loglevel = "warning"
accesslog = None


def post_fork(server, worker):
    import app

    app.connect()
