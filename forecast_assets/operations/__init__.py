"""Operations: the weekly schedule and the alerts on failed checks and runs."""
