"""Celery workers: the app, its queues and its tasks."""
