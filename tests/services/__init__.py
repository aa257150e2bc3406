"""Local test services (Kafka 0.9, noida-db, librdkafka mock cluster, kinesalite, moto).

Import from the submodules: ``tests.services.kafka.KafkaBroker``,
``tests.services.kinesis.Kinesalite`` / ``MotoServer``,
``tests.services.mock_kafka.MockKafkaCluster``,
``tests.services.noida.NoidaBroker``. CLI: ``python -m tests.services``.
"""
