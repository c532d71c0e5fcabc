"""One partition per source: its id. Never one per document, so thousands of sources stay fast."""

from dagster import DynamicPartitionsDefinition

from resources.run_tags import SOURCES_PARTITIONS

sources_partitions = DynamicPartitionsDefinition(name=SOURCES_PARTITIONS)
