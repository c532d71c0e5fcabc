"""One partition per source: its id. Never one per document, so thousands of sources stay fast."""

from dagster import DynamicPartitionsDefinition

sources_partitions = DynamicPartitionsDefinition(name="sources")
