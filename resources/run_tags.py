"""Names shared by the pipeline, the sensors, the CLI and the API (which imports no pipeline code).

Run tags tie a Dagster run to its source and sync job; the per-source concurrency limit in
`dagster.yaml` keys on `SOURCE_TAG`.
"""

SOURCE_TAG = "headwater/source"
JOB_TAG = "headwater/job"
SYNC_TYPE_TAG = "headwater/sync-type"
TRIGGER_TAG = "headwater/trigger"
SOURCES_PARTITIONS = "sources"
