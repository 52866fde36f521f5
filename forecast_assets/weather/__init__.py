"""weather_data: the unified, converted, UTC-timestamped, de-duplicated dataset and its checks."""
