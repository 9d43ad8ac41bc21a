"""The domain's one door to the Celery worker: queue a task by its name.

`subscribers.tasks` (the thin edge) imports the domain; the domain never imports it back, so it
names the tasks here. A task registered in this process (a worker, or tests running tasks
eagerly) runs through its own object; anywhere else the message goes to the broker by name.
"""

from __future__ import annotations

from celery import signature

SEND_DELIVERIES = "subscribers.tasks.send_deliveries"
PROCESS_REPLY = "subscribers.tasks.process_reply"
SEND_REPLY_CONFIRMATION = "subscribers.tasks.send_reply_confirmation"
SEND_THREAD_MESSAGE = "subscribers.tasks.send_thread_message"


def queue(task: str, *args, countdown: float | None = None) -> None:
    signature(task, args=args).apply_async(countdown=countdown)
