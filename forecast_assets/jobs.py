"""Jobs: the whole weather lineage over a range of days."""

import dagster as dg

weather_pipeline_job = dg.define_asset_job(
    name="weather_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every source's raw days, through to the data scientists' dataset.",
    # Partitioned by the assets' shared daily_partitions (Dagster infers it from the selection).
)
