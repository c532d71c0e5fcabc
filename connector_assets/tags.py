"""Run tags that tie a Dagster run to its source and sync job."""

SOURCE_TAG = "headwater/source"
JOB_TAG = "headwater/job"
SYNC_TYPE_TAG = "headwater/sync-type"
TRIGGER_TAG = "headwater/trigger"
