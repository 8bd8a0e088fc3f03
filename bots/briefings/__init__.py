"""Daily team briefings: composed from the store for each manager's team, posted to Slack or written to files,
and the scheduler (APScheduler) that sends them and runs the periodic housekeeping jobs."""
