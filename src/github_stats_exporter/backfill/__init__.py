"""Backfill: re-collecting missed windows through a job queue (in-process or RabbitMQ).

Importing this package imports no broker client; `rabbitmq` is imported only when AMQP is configured.
"""
