"""Jobs: the whole weather lineage over a range of days."""

import dagster as dg

from forecast_assets.partitions import daily_partitions

weather_pipeline_job = dg.define_asset_job(
    name="weather_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Every source's raw days, through to the data scientists' dataset.",
)
