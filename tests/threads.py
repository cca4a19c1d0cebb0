"""Running jobs at the same moment, each on its own thread and so its own database connection."""

import threading

from django.db import connection


def run_together(jobs) -> list:
    """Start every job at the same moment; return what each returned or raised.

    Django opens one connection per thread, so on PostgreSQL these are concurrent transactions; SQLite
    serialises writers (BEGIN IMMEDIATE), and the same assertions hold.
    """
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def worker(n, job):
        try:
            barrier.wait()
            results[n] = job()
        except Exception as exc:  # the assertions look at what each job ended with
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n, job)) for n, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
