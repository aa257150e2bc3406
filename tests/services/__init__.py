"""Local test services (Kafka 0.9, librdkafka mock cluster, kinesalite, moto).

Import from the submodules: ``tests.services.kafka.KafkaBroker``,
``tests.services.kinesis.Kinesalite`` / ``MotoServer``,
``tests.services.mock_kafka.MockKafkaCluster``. CLI: ``python -m tests.services``.
"""
